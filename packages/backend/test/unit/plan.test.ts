import {
  IpBinaryNotFoundError,
  IpCommandError,
  applyDataPlane,
  makeState,
  planDataPlane,
} from '@flannel-ts/backend';
import type { DataPlaneOp, FdbEntry, NeighbourEntry, RouteEntry } from '@flannel-ts/backend';
import { FakeIpRunner } from '@flannel-ts/backend/testing';
import { lanesOf, opLine } from '../../src/apply';

const MAC1 = 'aa:bb:cc:dd:ee:01';
const MAC2 = 'aa:bb:cc:dd:ee:02';

function route(dst: string, gateway: string, dev = 'flannel.1', onlink = true): RouteEntry {
  return { dst, gateway, dev, onlink };
}
function neigh(ip: string, mac: string): NeighbourEntry {
  return { ip, mac, dev: 'flannel.1' };
}
function fdb(mac: string, dst: string): FdbEntry {
  return { mac, dst, dev: 'flannel.1' };
}

/** The vxlan entries of one peer: subnet 10.5.<n>.0/24, public IP 192.0.2.<10+n>. */
function peer(n: number, mac: string) {
  const gw = `10.5.${n}.0`;
  return {
    route: route(`${gw}/24`, gw),
    neigh: neigh(gw, mac),
    fdb: fdb(mac, `192.0.2.${10 + n}`),
  };
}

function stateOf(...peers: ReturnType<typeof peer>[]) {
  return makeState(
    peers.map((p) => p.route),
    peers.map((p) => p.neigh),
    peers.map((p) => p.fdb),
  );
}

const kinds = (ops: readonly DataPlaneOp[]): string[] => ops.map((o) => o.op);

describe('planDataPlane', () => {
  it('programs an empty kernel with FDB entries first, then neighbours, then routes', () => {
    const a = peer(2, MAC1);
    const b = peer(3, MAC2);
    const ops = planDataPlane(stateOf(a, b), makeState());
    expect(ops).toEqual([
      { op: 'replace-fdb', entry: a.fdb },
      { op: 'replace-fdb', entry: b.fdb },
      { op: 'replace-neighbour', entry: a.neigh },
      { op: 'replace-neighbour', entry: b.neigh },
      { op: 'replace-route', entry: a.route },
      { op: 'replace-route', entry: b.route },
    ]);
  });

  it('plans nothing when the kernel already matches', () => {
    const desired = stateOf(peer(2, MAC1), peer(3, MAC2));
    // Equal by value, not the same objects: as when the actual state was parsed from `ip -json`.
    const actual = stateOf(peer(2, MAC1), peer(3, MAC2));
    expect(planDataPlane(desired, actual)).toEqual([]);
  });

  it('replaces only the route whose gateway changed', () => {
    const desired = makeState([route('10.5.3.0/24', '192.0.2.13', 'eth0', false)]);
    const actual = makeState([route('10.5.3.0/24', '192.0.2.99', 'eth0', false)]);
    expect(planDataPlane(desired, actual)).toEqual([
      { op: 'replace-route', entry: route('10.5.3.0/24', '192.0.2.13', 'eth0', false) },
    ]);
  });

  it('replaces a route that lost its onlink flag', () => {
    const desired = makeState([route('10.5.2.0/24', '10.5.2.0')]);
    const actual = makeState([route('10.5.2.0/24', '10.5.2.0', 'flannel.1', false)]);
    expect(planDataPlane(desired, actual)).toEqual([
      { op: 'replace-route', entry: route('10.5.2.0/24', '10.5.2.0') },
    ]);
  });

  it('moves a peer whose VTEP MAC changed to the new MAC and deletes the old FDB entry (D8)', () => {
    const before = peer(2, MAC1);
    const after = peer(2, MAC2);
    const ops = planDataPlane(stateOf(after), stateOf(before));
    expect(ops).toEqual([
      { op: 'replace-fdb', entry: after.fdb },
      { op: 'replace-neighbour', entry: after.neigh },
      { op: 'delete-fdb', entry: before.fdb },
    ]);
  });

  it('repoints an FDB entry whose peer moved to another public IP', () => {
    const desired = makeState([], [], [fdb(MAC1, '192.0.2.50')]);
    const actual = makeState([], [], [fdb(MAC1, '192.0.2.12')]);
    expect(planDataPlane(desired, actual)).toEqual([
      { op: 'replace-fdb', entry: fdb(MAC1, '192.0.2.50') },
    ]);
  });

  it('deletes stale entries routes first, then neighbours, then FDB entries', () => {
    const kept = peer(2, MAC1);
    const gone = peer(3, MAC2);
    const ops = planDataPlane(stateOf(kept), stateOf(kept, gone));
    expect(ops).toEqual([
      { op: 'delete-route', entry: gone.route },
      { op: 'delete-neighbour', entry: gone.neigh },
      { op: 'delete-fdb', entry: gone.fdb },
    ]);
  });

  it('adds before it deletes when both are needed', () => {
    const ops = planDataPlane(stateOf(peer(4, MAC2)), stateOf(peer(3, MAC1)));
    expect(kinds(ops)).toEqual([
      'replace-fdb',
      'replace-neighbour',
      'replace-route',
      'delete-route',
      'delete-neighbour',
      'delete-fdb',
    ]);
  });

  it('removes everything it owns when no peer is left', () => {
    const ops = planDataPlane(makeState(), stateOf(peer(2, MAC1)));
    expect(kinds(ops)).toEqual(['delete-route', 'delete-neighbour', 'delete-fdb']);
  });
});

describe('opLine', () => {
  const p = peer(2, MAC1);
  const cases: [string, DataPlaneOp, { tool: 'ip' | 'bridge'; line: string }][] = [
    [
      'replace-route (onlink)',
      { op: 'replace-route', entry: p.route },
      { tool: 'ip', line: 'route replace 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink' },
    ],
    [
      'replace-route (plain, host-gw / DirectRouting)',
      { op: 'replace-route', entry: route('10.5.3.0/24', '192.0.2.13', 'eth0', false) },
      { tool: 'ip', line: 'route replace 10.5.3.0/24 via 192.0.2.13 dev eth0' },
    ],
    [
      'delete-route',
      { op: 'delete-route', entry: p.route },
      { tool: 'ip', line: 'route del 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink' },
    ],
    [
      'replace-neighbour',
      { op: 'replace-neighbour', entry: p.neigh },
      {
        tool: 'ip',
        line: 'neigh replace 10.5.2.0 lladdr aa:bb:cc:dd:ee:01 dev flannel.1 nud permanent',
      },
    ],
    [
      'delete-neighbour',
      { op: 'delete-neighbour', entry: p.neigh },
      { tool: 'ip', line: 'neigh del 10.5.2.0 dev flannel.1' },
    ],
    [
      'replace-fdb',
      { op: 'replace-fdb', entry: fdb(MAC1, '192.0.2.11') },
      {
        tool: 'bridge',
        line: 'fdb replace aa:bb:cc:dd:ee:01 dev flannel.1 dst 192.0.2.11 self permanent',
      },
    ],
    [
      'delete-fdb',
      { op: 'delete-fdb', entry: fdb(MAC1, '192.0.2.11') },
      { tool: 'bridge', line: 'fdb del aa:bb:cc:dd:ee:01 dev flannel.1 dst 192.0.2.11 self' },
    ],
  ];

  it.each(cases)('renders %s as the exact iproute2 batch line', (_name, op, expected) => {
    expect(opLine(op)).toEqual(expected);
  });
});

describe('applyDataPlane', () => {
  it('sends all FDB lines in one bridge batch, then all other lines in one ip batch', async () => {
    const order: string[] = [];
    const ip = new FakeIpRunner({ onBatch: () => void order.push('ip') });
    const bridge = new FakeIpRunner({ onBatch: () => void order.push('bridge') });
    const ops = planDataPlane(stateOf(peer(2, MAC1), peer(3, MAC2)), stateOf(peer(4, MAC1)));

    await applyDataPlane(ops, { ip, bridge });

    expect(order).toEqual(['bridge', 'ip']);
    expect(bridge.batches).toEqual([
      [
        'fdb replace aa:bb:cc:dd:ee:01 dev flannel.1 dst 192.0.2.12 self permanent',
        'fdb replace aa:bb:cc:dd:ee:02 dev flannel.1 dst 192.0.2.13 self permanent',
      ],
    ]);
    expect(ip.batches).toEqual([
      [
        'neigh replace 10.5.2.0 lladdr aa:bb:cc:dd:ee:01 dev flannel.1 nud permanent',
        'neigh replace 10.5.3.0 lladdr aa:bb:cc:dd:ee:02 dev flannel.1 nud permanent',
        'route replace 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink',
        'route replace 10.5.3.0/24 via 10.5.3.0 dev flannel.1 onlink',
        'route del 10.5.4.0/24 via 10.5.4.0 dev flannel.1 onlink',
        'neigh del 10.5.4.0 dev flannel.1',
      ],
    ]);
    expect(ip.calls).toEqual([]);
    expect(bridge.calls).toEqual([]);
  });

  it('starts no process for a tool that has nothing to do', async () => {
    const ip = new FakeIpRunner();
    const bridge = new FakeIpRunner();
    await applyDataPlane([{ op: 'replace-route', entry: peer(2, MAC1).route }], { ip, bridge });
    await applyDataPlane([], { ip, bridge });
    expect(bridge.batches).toEqual([]);
    expect(ip.batches).toEqual([['route replace 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink']]);
  });

  it('still runs the ip batch when the bridge batch fails, and names each refused op', async () => {
    const failure = new IpCommandError({
      binary: 'bridge',
      args: ['-force', '-batch', '-'],
      exitCode: undefined,
      stderr: 'RTNETLINK answers: No such device',
      failedLines: [
        { lineNumber: 1, line: 'fdb replace …', message: 'RTNETLINK answers: No such device' },
      ],
    });
    const bridge = new FakeIpRunner({
      onBatch: () => {
        throw failure;
      },
    });
    const ip = new FakeIpRunner();
    const ops = planDataPlane(stateOf(peer(2, MAC1)), makeState());

    const failures = await applyDataPlane(ops, { ip, bridge });

    expect(failures).toEqual([
      { op: ops.find((o) => o.op === 'replace-fdb'), message: 'RTNETLINK answers: No such device' },
    ]);
    expect(ip.batches).toHaveLength(1);
  });

  it('counts every op of a batch that stopped without naming a line as refused', async () => {
    const failure = new IpCommandError({
      binary: 'ip',
      args: ['-force', '-batch', '-'],
      exitCode: 255,
      stderr: 'Cannot open network namespace "gone": No such file or directory',
    });
    const ip = new FakeIpRunner({
      onBatch: () => {
        throw failure;
      },
    });
    const ops = planDataPlane(stateOf(peer(2, MAC1)), makeState());

    const failures = await applyDataPlane(ops, { ip, bridge: new FakeIpRunner() });

    expect(failures.map((f) => f.op.op)).toEqual(['replace-neighbour', 'replace-route']);
    expect(failures[0]!.message).toContain('Cannot open network namespace');
  });

  it('rejects when a batch could not run at all (iproute2 missing)', async () => {
    const missing = new IpBinaryNotFoundError('bridge');
    const bridge = new FakeIpRunner({
      onBatch: () => {
        throw missing;
      },
    });
    const ops = planDataPlane(stateOf(peer(2, MAC1)), makeState());

    await expect(applyDataPlane(ops, { ip: new FakeIpRunner(), bridge })).rejects.toBe(missing);
  });
});

describe('lanesOf', () => {
  const macOf = (n: number): string =>
    `aa:bb:cc:dd:${(n >> 8).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`;

  it('sends an event’s ip lines as one batch, neighbour before route', () => {
    const ops = planDataPlane(stateOf(peer(2, MAC1)), makeState());
    expect(lanesOf(ops).map((l) => [l.tool, l.ops.map((o) => o.op)])).toEqual([
      ['bridge', ['replace-fdb']],
      ['ip', ['replace-neighbour', 'replace-route']],
    ]);
  });

  it('gives a bulk pass’s routes a batch of their own, beside the neighbours', () => {
    const peers = Array.from({ length: 600 }, (_, i) => peer(i + 2, macOf(i + 2)));
    const lanes = lanesOf(planDataPlane(stateOf(...peers), makeState()));
    expect(lanes.map((l) => [l.tool, l.ops.length, new Set(l.ops.map((o) => o.op))])).toEqual([
      ['bridge', 600, new Set(['replace-fdb'])],
      ['ip', 600, new Set(['replace-neighbour'])],
      ['ip', 600, new Set(['replace-route'])],
    ]);
  });
});
