import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRecordingLogger } from '@flannel-ts/core/testing';
import { createIproute2Runner } from '@flannel-ts/backend';
import type { IpRunner } from '@flannel-ts/backend';
import { ensureVxlanDevice } from '../../src/vxlan/vxlan-device';
import type { VxlanDeviceSpec } from '../../src/vxlan/vxlan-device';

// Creating flannel.1 while another process (a second flanneld starting at the same moment) creates
// it too (issue 8): real `ip` in a throwaway namespace, with the other process's `ip link add`
// slipped in between our read of the device and our own add.
const isRoot = process.getuid?.() === 0;
if (!isRoot) {
  process.stderr.write('SKIPPED vxlan device integration tests: they need root (ip netns add)\n');
}
const describeAsRoot = isRoot ? describe : describe.skip;

const spec: VxlanDeviceSpec = {
  name: 'flannel.1',
  vni: 1,
  localIp: '192.0.2.10',
  underlay: 'ul0',
  port: 8472,
  gbp: false,
  learning: false,
  mtu: 1450,
};

describeAsRoot('ensureVxlanDevice racing another process in a throwaway namespace', () => {
  let ns = '';
  const runners: IpRunner[] = [];
  const sh = (...args: string[]): string =>
    execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
  const runner = (): IpRunner => {
    const r = createIproute2Runner({ netns: ns });
    runners.push(r);
    return r;
  };
  /** A runner whose first batch is preceded by someone else's `ip link add flannel.1 … id <vni>`. */
  const racedRunner = (vni: number): IpRunner => {
    const real = runner();
    let raced = false;
    return {
      run: (args, signal) => real.run(args, signal),
      batch: (lines, signal) => {
        if (!raced) {
          raced = true;
          sh(
            ...['link', 'add', 'flannel.1', 'type', 'vxlan', 'id', String(vni)],
            ...['local', '192.0.2.10', 'dev', 'ul0', 'dstport', '8472', 'nolearning'],
          );
          sh('link', 'set', 'flannel.1', 'up');
        }
        return real.batch(lines, signal);
      },
      close: () => real.close(),
    };
  };
  const details = () =>
    JSON.parse(sh('-json', '-d', 'link', 'show', 'flannel.1')) as {
      address: string;
      mtu: number;
      linkinfo: { info_data: { id: number } };
    }[];

  beforeEach(() => {
    ns = `ftv-${randomBytes(3).toString('hex')}`;
    execFileSync('ip', ['netns', 'add', ns]);
    sh('link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'ul1');
    sh('addr', 'add', '192.0.2.10/24', 'dev', 'ul0');
    sh('link', 'set', 'ul0', 'up');
  });
  afterEach(() => {
    runners.splice(0).forEach((r) => r.close());
    execFileSync('ip', ['netns', 'del', ns]);
  });

  it('adopts a compatible device that appeared between its read and its add (File exists)', async () => {
    const logger = createRecordingLogger();
    const r = await ensureVxlanDevice(racedRunner(1), spec, logger);
    const [link] = details();
    expect(r).toMatchObject({ created: false, link: { mac: link!.address, up: true, mtu: 1450 } });
    expect(link!.mtu).toBe(1450);
    expect(logger.lines).toContainEqual({
      level: 'info',
      message: 'VXLAN device was created by another process meanwhile; adopting it',
    });
  });

  it('replaces an incompatible device that appeared meanwhile, as it replaces one found at start', async () => {
    const r = await ensureVxlanDevice(racedRunner(7), spec, createRecordingLogger());
    const [link] = details();
    expect(link!.linkinfo.info_data.id).toBe(1);
    expect(r).toMatchObject({ created: true, link: { mac: link!.address, up: true } });
  });

  it('lets 8 callers with their own ip children create the device at once: one device, one MAC', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () => ensureVxlanDevice(runner(), spec, createRecordingLogger())),
    );
    expect(results.filter((x) => x.status === 'rejected')).toEqual([]);
    const macs = results.map((x) => (x.status === 'fulfilled' ? x.value.link.mac : ''));
    expect(new Set(macs)).toEqual(new Set([details()[0]!.address]));
  });
});
