import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BLACKHOLE_METRIC,
  makeState,
  observationOf,
  parseIpMonitorLine,
  planDataPlane,
} from '@flannel-ts/backend';
import { opLine } from '../../src/apply';
import { parseOwnedBlackholes } from '../../src/read-state';
import { joined, lease, onlyPeers, scope, seen, setup } from './kernel-table-fixtures';

// Our subnet is 10.5.1.0/24 (see the fixtures' scope): its blackhole route is an entry of the
// kernel table owned by the host, kept like every peer's entries.
const OURS = { dst: '10.5.1.0/24' };
const REPLACE = `route replace blackhole 10.5.1.0/24 metric ${BLACKHOLE_METRIC}`;
const DELETE = `route del blackhole 10.5.1.0/24 metric ${BLACKHOLE_METRIC}`;

describe('blackhole route: planning and the batch lines', () => {
  it('adds a missing one first and removes a stale one last, each in our metric’s slot', () => {
    const ops = planDataPlane(
      makeState(onlyPeers(2).routes, onlyPeers(2).neighbours, onlyPeers(2).fdb, [OURS]),
      makeState([], [], [], [{ dst: '10.5.9.0/24' }]),
    );

    expect(ops.map((o) => opLine(o).line)).toEqual([
      REPLACE,
      'fdb replace aa:bb:cc:dd:ee:02 dev flannel.1 dst 192.0.2.12 self permanent',
      'neigh replace 10.5.2.0 lladdr aa:bb:cc:dd:ee:02 dev flannel.1 nud permanent',
      'route replace 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink',
      `route del blackhole 10.5.9.0/24 metric ${BLACKHOLE_METRIC}`,
    ]);
    expect(opLine(ops[0]!).tool).toBe('ip');
  });

  it('plans nothing when the kernel holds it already', () => {
    expect(planDataPlane(makeState([], [], [], [OURS]), makeState([], [], [], [OURS]))).toEqual([]);
  });
});

describe('blackhole route: what is ours', () => {
  const fixture = readFileSync(
    join(__dirname, '..', 'fixtures', 'route-show-blackhole.json'),
    'utf8',
  );

  it('reads only blackhole routes with our metric for an owned destination', () => {
    const owned = ['10.5.1.0/24', '10.5.4.0/24', '10.5.7.0/24', '10.5.8.0/24'];

    // 10.5.4.0/24 has metric 0 (upstream's shape, or an admin's), 10.5.8.0/24 metric 100, and
    // 198.51.100.0/24 is not a subnet of ours; 10.5.7.0/24 (proto static) sits in our slot.
    expect(parseOwnedBlackholes(fixture, owned)).toEqual([
      { dst: '10.5.1.0/24' },
      { dst: '10.5.7.0/24' },
    ]);
    expect(parseOwnedBlackholes(fixture, [])).toEqual([]);
  });

  it.each([
    ['a metric-0 blackhole for our subnet', '[ROUTE]blackhole 10.5.1.0/24 '],
    ['ours for a subnet not ours', `[ROUTE]blackhole 10.5.9.0/24 metric ${BLACKHOLE_METRIC}`],
    ['one in another table', `[ROUTE]blackhole 10.5.1.0/24 table 100 metric ${BLACKHOLE_METRIC}`],
    [
      'Docker’s bridge route',
      '[ROUTE]10.5.1.0/24 dev docker0 proto kernel scope link src 10.5.1.1',
    ],
  ])('sees nothing of ours in %s', (_what, line) => {
    expect(observationOf(parseIpMonitorLine(line)!, scope)).toBeUndefined();
  });

  it('sees ours present, deleted, or its slot taken by a route of another shape', () => {
    expect(seen(`[ROUTE]blackhole 10.5.1.0/24 metric ${BLACKHOLE_METRIC} `)).toEqual({
      kind: 'blackholes',
      key: '10.5.1.0/24',
      state: 'present',
      entry: OURS,
    });
    expect(seen(`[ROUTE]Deleted blackhole 10.5.1.0/24 metric ${BLACKHOLE_METRIC} `)).toEqual({
      kind: 'blackholes',
      key: '10.5.1.0/24',
      state: 'absent',
      entry: OURS,
    });
    expect(seen(`[ROUTE]10.5.1.0/24 dev lo metric ${BLACKHOLE_METRIC} `)).toEqual({
      kind: 'blackholes',
      key: '10.5.1.0/24',
      state: 'foreign',
    });
  });
});

describe('blackhole route: kept by the kernel table', () => {
  it('is created by the first pass, whatever the peers', async () => {
    const { kernel, table } = setup();
    table.setLocal({ blackholes: [OURS] });
    table.update(joined(lease(2)));

    const r = await table.resync();

    expect(r).toEqual({ changes: 4, repairs: 0, failures: [] });
    expect(kernel.lines[0]![0]).toBe(REPLACE);
    expect(kernel.snapshot.blackholes).toEqual([OURS]);
  });

  it('is put back at once when the monitor reports it deleted, as a repair', async () => {
    const { kernel, table } = setup();
    table.setLocal({ blackholes: [OURS] });
    await table.apply();
    kernel.state.blackholes.clear(); // `ip route del blackhole 10.5.1.0/24 metric …`

    expect(
      table.observe(seen(`[ROUTE]Deleted blackhole 10.5.1.0/24 metric ${BLACKHOLE_METRIC}`)),
    ).toBe(true);
    const r = await table.apply();

    expect(r).toEqual({ changes: 1, repairs: 1, failures: [] });
    expect(kernel.lines.at(-1)).toEqual([REPLACE]);
    expect(kernel.snapshot.blackholes).toEqual([OURS]);
  });

  it('takes its slot back from a route of another shape', async () => {
    const { kernel, table } = setup();
    table.setLocal({ blackholes: [OURS] });
    await table.apply();

    expect(table.observe(seen(`[ROUTE]10.5.1.0/24 dev lo metric ${BLACKHOLE_METRIC}`))).toBe(true);
    await table.apply();

    expect(kernel.lines.at(-1)).toEqual([REPLACE]);
  });

  it('is put back by a full pass when the monitor missed its deletion', async () => {
    const { kernel, table } = setup();
    table.setLocal({ blackholes: [OURS] });
    await table.resync();
    kernel.state.blackholes.clear();

    const r = await table.resync();

    expect(r).toEqual({ changes: 1, repairs: 1, failures: [] });
    expect(kernel.snapshot.blackholes).toEqual([OURS]);
  });

  it('is left alone by a full pass when the kernel holds it', async () => {
    const { kernel, table } = setup();
    table.setLocal({ blackholes: [OURS] });
    await table.resync();

    await expect(table.resync()).resolves.toEqual({ changes: 0, repairs: 0, failures: [] });
    expect(kernel.calls).toHaveLength(1);
  });

  it('goes when no longer wanted, and a stale one of ours read by a full pass goes too', async () => {
    const { kernel, table } = setup();
    table.setLocal({ blackholes: [OURS] });
    await table.apply();
    kernel.state.blackholes.set('10.5.9.0/24', { dst: '10.5.9.0/24' });

    table.setLocal({});
    await table.resync();

    expect(kernel.lines.at(-1)).toEqual([
      DELETE,
      `route del blackhole 10.5.9.0/24 metric ${BLACKHOLE_METRIC}`,
    ]);
    expect(kernel.snapshot.blackholes).toEqual([]);
  });

  it('does not count as a peer', async () => {
    const { table } = setup();
    table.setLocal({ blackholes: [OURS] });
    await table.apply();

    expect(table.peerStates()).toEqual([]);
    expect(table.peerCounts).toEqual({ programmed: 0, skipped: [] });
  });
});
