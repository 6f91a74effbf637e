import { parseCidr } from '@flannel-ts/core';
import type { Cidr } from '@flannel-ts/core';
import { IpCommandError, Reconciler, makeState, readDataPlaneState } from '@flannel-ts/backend';
import type { DataPlaneState } from '@flannel-ts/backend';
import { FakeIpRunner } from '@flannel-ts/backend/testing';

const network = parseCidr('10.5.0.0/16') as Cidr;
const scope = { routeDevices: ['flannel.1'], vxlanDevice: 'flannel.1', network };

/** Desired vxlan state for peers 10.5.<n>.0/24 with MAC aa:bb:cc:dd:ee:0<n> at 192.0.2.1<n>. */
function desired(...ns: number[]): DataPlaneState {
  return makeState(
    ns.map((n) => ({
      dst: `10.5.${n}.0/24`,
      gateway: `10.5.${n}.0`,
      dev: 'flannel.1',
      onlink: true,
    })),
    ns.map((n) => ({ ip: `10.5.${n}.0`, mac: `aa:bb:cc:dd:ee:0${n}`, dev: 'flannel.1' })),
    ns.map((n) => ({ mac: `aa:bb:cc:dd:ee:0${n}`, dst: `192.0.2.1${n}`, dev: 'flannel.1' })),
  );
}

/**
 * A kernel that the fakes answer `-json` queries from, as text shaped like real iproute2 output.
 * Tests change it to simulate someone deleting entries behind the agent's back.
 */
function fakeKernel() {
  const kernel = {
    routes: [] as number[],
    neighbours: [] as number[],
    fdb: [] as number[],
  };
  const ip = new FakeIpRunner({
    answers: {
      '-json route show dev flannel.1': () =>
        JSON.stringify(
          kernel.routes.map((n) => ({
            dst: `10.5.${n}.0/24`,
            gateway: `10.5.${n}.0`,
            flags: ['onlink'],
          })),
        ),
      '-json neigh show dev flannel.1': () =>
        JSON.stringify(
          kernel.neighbours.map((n) => ({
            dst: `10.5.${n}.0`,
            lladdr: `aa:bb:cc:dd:ee:0${n}`,
            state: ['PERMANENT'],
          })),
        ),
    },
  });
  const bridge = new FakeIpRunner({
    answers: {
      '-json fdb show dev flannel.1': () =>
        JSON.stringify(
          kernel.fdb.map((n) => ({
            mac: `aa:bb:cc:dd:ee:0${n}`,
            dst: `192.0.2.1${n}`,
            flags: ['self'],
            state: 'permanent',
          })),
        ),
    },
  });
  let reads = 0;
  const readActual = (signal?: AbortSignal): Promise<DataPlaneState> => {
    reads++;
    return readDataPlaneState({ ip, bridge }, scope, signal);
  };
  return { kernel, ip, bridge, readActual, reads: () => reads };
}

describe('Reconciler', () => {
  it('on a full pass reads the kernel and puts back an entry someone deleted', async () => {
    const k = fakeKernel();
    k.kernel.routes = [2, 3];
    k.kernel.neighbours = [2]; // the neighbour of 10.5.3.0 was deleted
    k.kernel.fdb = [2, 3];
    const reconciler = new Reconciler({ ip: k.ip, bridge: k.bridge }, k.readActual);

    const report = await reconciler.reconcile(desired(2, 3), true);

    expect(report.readKernel).toBe(true);
    expect(k.reads()).toBe(1);
    expect(report.ops).toEqual([
      {
        op: 'replace-neighbour',
        entry: { ip: '10.5.3.0', mac: 'aa:bb:cc:dd:ee:03', dev: 'flannel.1' },
      },
    ]);
    expect(k.ip.batches).toEqual([
      ['neigh replace 10.5.3.0 lladdr aa:bb:cc:dd:ee:03 dev flannel.1 nud permanent'],
    ]);
    expect(k.bridge.batches).toEqual([]);
  });

  it('on a full pass removes entries of ours that no peer explains (D9)', async () => {
    const k = fakeKernel();
    k.kernel.routes = [2, 4];
    k.kernel.neighbours = [2, 4];
    k.kernel.fdb = [2, 4];
    const reconciler = new Reconciler({ ip: k.ip, bridge: k.bridge }, k.readActual);

    await reconciler.reconcile(desired(2), true);

    expect(k.ip.batchLines).toEqual([
      'route del 10.5.4.0/24 via 10.5.4.0 dev flannel.1 onlink',
      'neigh del 10.5.4.0 dev flannel.1',
    ]);
    expect(k.bridge.batchLines).toEqual([
      'fdb del aa:bb:cc:dd:ee:04 dev flannel.1 dst 192.0.2.14 self',
    ]);
  });

  it('applies nothing when the kernel already matches', async () => {
    const k = fakeKernel();
    k.kernel.routes = k.kernel.neighbours = k.kernel.fdb = [2];
    const reconciler = new Reconciler({ ip: k.ip, bridge: k.bridge }, k.readActual);

    const report = await reconciler.reconcile(desired(2), true);

    expect(report.ops).toEqual([]);
    expect(k.ip.batches).toEqual([]);
    expect(k.bridge.batches).toEqual([]);
  });

  it('reads the kernel on the first pass even when it is not full', async () => {
    const k = fakeKernel();
    const reconciler = new Reconciler({ ip: k.ip, bridge: k.bridge }, k.readActual);

    const report = await reconciler.reconcile(desired(2), false);

    expect(report.readKernel).toBe(true);
    expect(k.reads()).toBe(1);
  });

  it('on an incremental pass trusts the last applied state and applies only the delta', async () => {
    const k = fakeKernel();
    const reconciler = new Reconciler({ ip: k.ip, bridge: k.bridge }, k.readActual);
    await reconciler.reconcile(desired(2, 3), true);
    k.ip.batches.length = 0;
    k.bridge.batches.length = 0;

    const report = await reconciler.reconcile(desired(2, 4), false);

    expect(report.readKernel).toBe(false);
    expect(k.reads()).toBe(1);
    expect(k.bridge.batches).toEqual([
      [
        'fdb replace aa:bb:cc:dd:ee:04 dev flannel.1 dst 192.0.2.14 self permanent',
        'fdb del aa:bb:cc:dd:ee:03 dev flannel.1 dst 192.0.2.13 self',
      ],
    ]);
    expect(k.ip.batches).toEqual([
      [
        'neigh replace 10.5.4.0 lladdr aa:bb:cc:dd:ee:04 dev flannel.1 nud permanent',
        'route replace 10.5.4.0/24 via 10.5.4.0 dev flannel.1 onlink',
        'route del 10.5.3.0/24 via 10.5.3.0 dev flannel.1 onlink',
        'neigh del 10.5.3.0 dev flannel.1',
      ],
    ]);
  });

  it('does not notice a deleted entry on an incremental pass, and repairs it on the next full one', async () => {
    const k = fakeKernel();
    k.kernel.routes = k.kernel.neighbours = k.kernel.fdb = [2];
    const reconciler = new Reconciler({ ip: k.ip, bridge: k.bridge }, k.readActual);
    await reconciler.reconcile(desired(2), true);
    k.kernel.routes = [];

    expect((await reconciler.reconcile(desired(2), false)).ops).toEqual([]);
    const full = await reconciler.reconcile(desired(2), true);

    expect(full.ops.map((o) => o.op)).toEqual(['replace-route']);
    expect(k.reads()).toBe(2);
  });

  it('reads the kernel on the pass after a failed apply, and programs what is missing', async () => {
    const k = fakeKernel();
    let failIp = true;
    const ip = new FakeIpRunner({
      onBatch: () => {
        if (failIp) {
          throw new IpCommandError({
            binary: 'ip',
            args: ['-force', '-batch', '-'],
            exitCode: 1,
            stderr: 'RTNETLINK answers: Network is unreachable\nCommand failed -:2\n',
          });
        }
      },
    });
    const reconciler = new Reconciler({ ip, bridge: k.bridge }, k.readActual);
    // The bridge batch went through; the ip batch did not.
    await expect(reconciler.reconcile(desired(2), true)).rejects.toBeInstanceOf(IpCommandError);
    k.kernel.fdb = [2];
    failIp = false;

    const retry = await reconciler.reconcile(desired(2), false);

    expect(retry.readKernel).toBe(true);
    expect(k.reads()).toBe(2);
    expect(retry.ops.map((o) => o.op)).toEqual(['replace-neighbour', 'replace-route']);
  });

  it('reads the kernel again after invalidate()', async () => {
    const k = fakeKernel();
    const reconciler = new Reconciler({ ip: k.ip, bridge: k.bridge }, k.readActual);
    await reconciler.reconcile(desired(2), true);
    reconciler.invalidate();

    const report = await reconciler.reconcile(desired(2), false);

    expect(report.readKernel).toBe(true);
    expect(k.reads()).toBe(2);
  });
});
