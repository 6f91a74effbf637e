import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeLeaseAttrs, noopLogger, parseCidr } from '@flannel-ts/core';
import type { Cidr, Lease } from '@flannel-ts/core';
import {
  IpCommandError,
  KernelTable,
  createVxlanBackend,
  hostGwPeerEntries,
  joinFamilies,
  makeState,
  observationOf,
  parseFdbMonitorLine,
  parseIpMonitorLine,
  planDataPlane,
  vxlanPeerEntries,
} from '@flannel-ts/backend';
import type {
  ExternalInterface,
  MonitorEvent,
  OwnedScope,
  VxlanTopology,
} from '@flannel-ts/backend';
import { FakeIpRunner } from '@flannel-ts/backend/testing';
import { opLine } from '../../src/apply';
import { describePeer } from '../../src/peers';
import {
  parseFdb,
  parseNeighbours,
  parseOwnedBlackholes,
  parseOwnedRoutes,
} from '../../src/read-state';

/** Real iproute2 6.1 output; see ../fixtures/README.md ("Dual stack"). */
function fixture(name: string): string {
  return readFileSync(join(__dirname, '..', 'fixtures', name), 'utf8');
}

const cidr = (text: string): Cidr => parseCidr(text)!;
const NET4 = cidr('10.5.0.0/16');
const NET6 = cidr('fd00:5::/32');

/** A dual-stack vxlan peer lease as upstream writes it (IPv6 parts optional). */
function peer(
  n: number,
  v6: { subnet?: boolean; publicIpv6?: boolean; data?: unknown } = {},
): Lease {
  const { subnet = true, publicIpv6 = true } = v6;
  const data = 'data' in v6 ? v6.data : { VNI: 1, VtepMAC: `aa:bb:cc:dd:ee:6${n}` };
  return {
    subnets: { ipv4: cidr(`10.5.${n}.0/24`), ipv6: subnet ? cidr(`fd00:5:${n}::/64`) : undefined },
    attrs: {
      publicIp: `192.168.77.${n}`,
      publicIpv6: publicIpv6 ? `fc00:77::${n}` : null,
      backendType: 'vxlan',
      backendData: { VNI: 1, VtepMAC: `aa:bb:cc:dd:ee:4${n}` },
      backendV6Data: data,
    },
    ttlLeaseId: '7',
  };
}

const topo4: VxlanTopology = {
  family: 4,
  device: 'flannel.1',
  externalDevice: 'v0',
  connected: [],
  directRouting: false,
  vni: 1,
};
const topo6: VxlanTopology = { ...topo4, family: 6, device: 'flannel-v6.1' };
const dualStack = (p: Lease) =>
  joinFamilies([
    [4, vxlanPeerEntries(p, topo4)],
    [6, vxlanPeerEntries(p, topo6)],
  ]);

describe('vxlan lease data of a dual-stack host (SPEC 1.3)', () => {
  it('publishes BackendV6Data with flannel-v6.1 VNI and MAC; the value is byte-identical to upstream', async () => {
    // Both devices exist and are compatible (recorded from a namespace), so register() reuses them.
    const ip = new FakeIpRunner({
      answers: {
        '-json -d addr show dev flannel.1': fixture('addr-show-flannel1.json'),
        '-json -d addr show dev flannel-v6.1': fixture('addr-show-flannel-v6-1.json'),
      },
    });
    const iface: ExternalInterface = {
      name: 'v0',
      index: 3,
      mtu: 1500,
      ipv4: { address: '192.0.2.10', publicIp: '192.0.2.10' },
      ipv6: { address: 'fc00:77::1', publicIp: 'fc00:77::1' },
    };
    const backend = createVxlanBackend({
      iface,
      options: {},
      logger: noopLogger,
      runners: { ip, bridge: new FakeIpRunner() },
    });
    const data = await backend.register(new AbortController().signal);
    expect(ip.batchLines).toEqual([]);
    const value = encodeLeaseAttrs({ publicIp: '192.0.2.10', publicIpv6: 'fc00:77::1', ...data });
    // SPEC 1.3's vxlan form with its dual-stack additions, keys in upstream's order.
    expect(value).toBe(
      '{"PublicIP":"192.0.2.10","PublicIPv6":"fc00:77::1","BackendType":"vxlan",' +
        '"BackendData":{"VNI":1,"VtepMAC":"9e:68:27:71:51:f1"},' +
        '"BackendV6Data":{"VNI":1,"VtepMAC":"f2:5d:62:74:ba:8a"}}',
    );
    // FLANNEL_MTU stays IPv4's rule (underlay − 50), as upstream's.
    expect(backend.mtu).toBe(1450);
  });

  it('an IPv6-only host creates flannel-v6.1 only (underlay − 70) and publishes no BackendData', async () => {
    const [link] = JSON.parse(fixture('addr-show-flannel-v6-1.json')) as Record<string, unknown>[];
    let exists = false;
    const ip = new FakeIpRunner({
      answers: {
        '-json -d addr show dev flannel-v6.1': (args) => {
          if (exists) return JSON.stringify([{ ...link, addr_info: [] }]);
          throw new IpCommandError({
            binary: 'ip',
            args,
            exitCode: 1,
            stderr: 'Device "flannel-v6.1" does not exist.',
          });
        },
      },
      onBatch: () => {
        exists = true;
      },
    });
    const backend = createVxlanBackend({
      iface: {
        name: 'v0',
        index: 3,
        mtu: 1500,
        ipv6: { address: 'fc00:77::1', publicIp: 'fc00:77::1' },
      },
      options: {},
      logger: noopLogger,
      runners: { ip, bridge: new FakeIpRunner() },
    });
    const data = await backend.register(new AbortController().signal);
    expect(ip.batchLines).toEqual([
      'link add flannel-v6.1 type vxlan id 1 local fc00:77::1 dev v0 dstport 8472 nolearning',
      'link set dev flannel-v6.1 mtu 1430 up',
    ]);
    expect(data).toEqual({
      backendType: 'vxlan',
      backendV6Data: { VNI: 1, VtepMAC: 'f2:5d:62:74:ba:8a' },
    });
    expect(encodeLeaseAttrs({ publicIp: '0.0.0.0', publicIpv6: 'fc00:77::1', ...data })).toBe(
      '{"PublicIP":"0.0.0.0","PublicIPv6":"fc00:77::1","BackendType":"vxlan","BackendV6Data":{"VNI":1,"VtepMAC":"f2:5d:62:74:ba:8a"}}',
    );
    expect(backend.mtu).toBe(1430);
  });
});

describe('IPv6 peer entries', () => {
  it('vxlan: an IPv6 neighbour, an FDB entry to the PublicIPv6 and an onlink route, beside IPv4', () => {
    const e = dualStack(peer(2));
    expect(e).toEqual({
      fdb: [
        { mac: 'aa:bb:cc:dd:ee:42', dst: '192.168.77.2', dev: 'flannel.1' },
        { mac: 'aa:bb:cc:dd:ee:62', dst: 'fc00:77::2', dev: 'flannel-v6.1' },
      ],
      neighbours: [
        { ip: '10.5.2.0', mac: 'aa:bb:cc:dd:ee:42', dev: 'flannel.1' },
        { ip: 'fd00:5:2::', mac: 'aa:bb:cc:dd:ee:62', dev: 'flannel-v6.1' },
      ],
      routes: [
        { dst: '10.5.2.0/24', gateway: '10.5.2.0', dev: 'flannel.1', onlink: true },
        { dst: 'fd00:5:2::/64', gateway: 'fd00:5:2::', dev: 'flannel-v6.1', onlink: true },
      ],
    });
  });

  it.each([
    ['no PublicIPv6', { publicIpv6: false }, 'IPv6: its lease has no PublicIPv6'],
    ['no IPv6 subnet', { subnet: false }, 'IPv6: its lease has no IPv6 subnet'],
    ['no BackendV6Data', { data: undefined }, 'IPv6: its lease has no BackendV6Data'],
    [
      'a BackendV6Data without VtepMAC',
      { data: { VNI: 1 } },
      'IPv6: its lease has no valid BackendV6Data.VtepMAC',
    ],
    [
      'another VNI in BackendV6Data',
      { data: { VNI: 2, VtepMAC: 'aa:bb:cc:dd:ee:62' } },
      'IPv6: its BackendV6Data.VNI 2 is not ours (1)',
    ],
  ])(
    'vxlan: a peer with %s keeps its IPv4 entries and says why IPv6 is left out',
    (_w, v6, why) => {
      const e = dualStack(peer(3, v6));
      expect('skip' in e).toBe(false);
      if ('skip' in e) return;
      expect(e.partial).toBe(why);
      expect(e.routes).toEqual([
        { dst: '10.5.3.0/24', gateway: '10.5.3.0', dev: 'flannel.1', onlink: true },
      ]);
      expect(e.fdb!.map((f) => f.dev)).toEqual(['flannel.1']);
    },
  );

  it('vxlan DirectRouting: an on-link peer gets its IPv6 subnet via its PublicIPv6 on the external device', () => {
    const direct: VxlanTopology = {
      ...topo6,
      directRouting: true,
      connected: [cidr('fc00:77::/64')],
    };
    expect(vxlanPeerEntries(peer(2), direct)).toEqual({
      routes: [{ dst: 'fd00:5:2::/64', gateway: 'fc00:77::2', dev: 'v0', onlink: false }],
    });
    // Off-link: through flannel-v6.1 as usual.
    const far = vxlanPeerEntries(peer(2), { ...direct, connected: [cidr('fc00:99::/64')] });
    expect('skip' in far ? [] : far.routes.map((r) => r.dev)).toEqual(['flannel-v6.1']);
  });

  it('IPv6-only: a peer without IPv6 data is skipped with the reason', () => {
    const e = vxlanPeerEntries(peer(3, { publicIpv6: false }), topo6);
    expect(e).toEqual({ skip: 'its lease has no PublicIPv6' });
    expect(joinFamilies([[6, e]])).toEqual({ skip: 'its lease has no PublicIPv6' });
  });

  it('host-gw: the IPv6 subnet via the PublicIPv6 when it is on a connected IPv6 network', () => {
    const connected6 = [cidr('fc00:77::/64')];
    expect(hostGwPeerEntries(peer(2), 'v0', connected6, 6)).toEqual({
      routes: [{ dst: 'fd00:5:2::/64', gateway: 'fc00:77::2', dev: 'v0', onlink: false }],
    });
    expect(hostGwPeerEntries(peer(2), 'v0', [cidr('fc00:99::/64')], 6)).toEqual({
      skip: 'its public IP is not on a network directly connected to v0; host-gw needs all hosts on one L2 segment (use vxlan)',
    });
    expect(hostGwPeerEntries(peer(2, { publicIpv6: false }), 'v0', connected6, 6)).toEqual({
      skip: 'its lease has no PublicIPv6',
    });
  });
});

describe('planning both families in one table', () => {
  it('keys never collide across families and IPv6 ops become iproute2 batch lines', () => {
    const want = dualStack(peer(2));
    if ('skip' in want) throw new Error('unexpected skip');
    // The same MAC advertised for both devices: two FDB entries, one per device.
    const sameMac = [
      { mac: 'aa:bb:cc:dd:ee:01', dst: '192.168.77.9', dev: 'flannel.1' },
      { mac: 'aa:bb:cc:dd:ee:01', dst: 'fc00:77::9', dev: 'flannel-v6.1' },
    ];
    const desired = makeState(
      want.routes,
      want.neighbours,
      [...want.fdb!, ...sameMac],
      [{ dst: '10.5.1.0/24' }, { dst: 'fd00:5:1::/64' }],
    );
    expect(desired.fdb.size).toBe(4);
    const ops = planDataPlane(desired, makeState());
    expect(ops.map((o) => opLine(o).line)).toEqual([
      'route replace blackhole 10.5.1.0/24 metric 4294967295',
      'route replace blackhole fd00:5:1::/64 metric 4294967295',
      'fdb replace aa:bb:cc:dd:ee:42 dev flannel.1 dst 192.168.77.2 self permanent',
      'fdb replace aa:bb:cc:dd:ee:62 dev flannel-v6.1 dst fc00:77::2 self permanent',
      'fdb replace aa:bb:cc:dd:ee:01 dev flannel.1 dst 192.168.77.9 self permanent',
      'fdb replace aa:bb:cc:dd:ee:01 dev flannel-v6.1 dst fc00:77::9 self permanent',
      'neigh replace 10.5.2.0 lladdr aa:bb:cc:dd:ee:42 dev flannel.1 nud permanent',
      'neigh replace fd00:5:2:: lladdr aa:bb:cc:dd:ee:62 dev flannel-v6.1 nud permanent',
      'route replace 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink',
      'route replace fd00:5:2::/64 via fd00:5:2:: dev flannel-v6.1 onlink',
    ]);
  });

  it('reports a peer programmed in IPv4 only with the IPv6 reason', async () => {
    const table = new KernelTable({
      entriesFor: dualStack,
      applyOps: () => Promise.resolve([]),
      readKernel: () => Promise.resolve(makeState()),
      logger: noopLogger,
    });
    table.update([
      ['a', peer(2)],
      ['b', peer(3, { publicIpv6: false })],
    ]);
    await table.apply();
    expect(table.peerStates()).toEqual([
      { key: 'a', state: 'programmed' },
      { key: 'b', state: 'programmed', reason: 'IPv6: its lease has no PublicIPv6' },
    ]);
  });
});

describe('reading IPv6 kernel state (recorded output)', () => {
  it('owns the onlink route at the kernel default metric 1024, not the kernel routes', () => {
    expect(
      parseOwnedRoutes(fixture('route-show-v6-flannel-v6-1.json'), 'flannel-v6.1', [NET4, NET6]),
    ).toEqual([{ dst: 'fd00:5:2::/64', gateway: 'fd00:5:2::', dev: 'flannel-v6.1', onlink: true }]);
    // Outside the IPv6 network (only IPv4's given): not ours.
    expect(
      parseOwnedRoutes(fixture('route-show-v6-flannel-v6-1.json'), 'flannel-v6.1', [NET4]),
    ).toEqual([]);
  });

  it('owns the IPv6 blackhole route the kernel shows on lo', () => {
    expect(
      parseOwnedBlackholes(fixture('route-show-v6-blackhole.json'), ['fd00:5:1::/64']),
    ).toEqual([{ dst: 'fd00:5:1::/64' }]);
  });

  it('reads the IPv6 neighbour and FDB entry', () => {
    expect(parseNeighbours(fixture('neigh-show-flannel-v6-1.json'), 'flannel-v6.1')).toEqual([
      { ip: 'fd00:5:2::', mac: 'aa:bb:cc:dd:ee:02', dev: 'flannel-v6.1' },
    ]);
    expect(parseFdb(fixture('fdb-show-flannel-v6-1.json'), 'flannel-v6.1')).toEqual([
      { mac: 'aa:bb:cc:dd:ee:02', dst: 'fc00:77::2', dev: 'flannel-v6.1' },
    ]);
  });
});

describe('monitoring both families (recorded `ip monitor` without -4)', () => {
  const scope: OwnedScope = {
    routeDevices: ['flannel.1', 'flannel-v6.1'],
    vxlanDevices: ['flannel.1', 'flannel-v6.1'],
    networks: [cidr('10.5.0.0/16'), cidr('fd00:5::/32')],
    blackholes: ['fd00:5:1::/64'],
  };
  const ipEvents = fixture('monitor-ip-dual-stack.txt')
    .split('\n')
    .map((l) => [l, parseIpMonitorLine(l)] as const);
  const line = (start: string): MonitorEvent => {
    const hit = ipEvents.find(([l]) => l.startsWith(start));
    if (!hit?.[1]) throw new Error(`no event for ${start}`);
    return hit[1];
  };

  it('parses IPv6 routes, neighbours and the blackhole route, and sees them as ours', () => {
    expect(observationOf(line('[ROUTE]fd00:5:2::/64'), scope)).toEqual({
      kind: 'routes',
      key: 'fd00:5:2::/64',
      state: 'present',
      entry: { dst: 'fd00:5:2::/64', gateway: 'fd00:5:2::', dev: 'flannel-v6.1', onlink: true },
    });
    expect(observationOf(line('[ROUTE]Deleted fd00:5:2::/64'), scope)).toMatchObject({
      kind: 'routes',
      key: 'fd00:5:2::/64',
      state: 'absent',
    });
    expect(observationOf(line('[NEIGH]fd00:5:2:: dev flannel-v6.1 lladdr'), scope)).toEqual({
      kind: 'neighbours',
      key: 'fd00:5:2::',
      state: 'present',
      entry: { ip: 'fd00:5:2::', mac: 'aa:bb:cc:dd:ee:02', dev: 'flannel-v6.1' },
    });
    expect(observationOf(line('[ROUTE]Deleted blackhole fd00:5:1::/64'), scope)).toEqual({
      kind: 'blackholes',
      key: 'fd00:5:1::/64',
      state: 'absent',
      entry: { dst: 'fd00:5:1::/64' },
    });
  });

  it('ignores the FDB entries `ip monitor neigh` echoes as NOARP neighbours, and kernel routes', () => {
    const echoes = ipEvents.filter(([l]) => l.includes('NOARP'));
    expect(echoes.length).toBe(4);
    for (const [, e] of echoes) {
      expect(e).toMatchObject({ table: 'neigh', noarp: true });
      expect(observationOf(e!, scope)).toBeUndefined();
    }
    const kernel = ipEvents.filter(([l]) => l.includes('proto kernel'));
    expect(kernel.length).toBeGreaterThan(5);
    for (const [, e] of kernel) if (e) expect(observationOf(e, scope)).toBeUndefined();
  });

  it('parses IPv6 FDB events of `bridge monitor fdb` under the device-and-MAC key', () => {
    const events = fixture('monitor-bridge-dual-stack.txt')
      .split('\n')
      .map((l) => parseFdbMonitorLine(l))
      .filter((e) => e !== undefined);
    expect(events.map((e) => observationOf(e, scope))).toEqual([
      {
        kind: 'fdb',
        key: 'flannel-v6.1 aa:bb:cc:dd:ee:02',
        state: 'present',
        entry: { mac: 'aa:bb:cc:dd:ee:02', dst: 'fc00:77::2', dev: 'flannel-v6.1' },
      },
      {
        kind: 'fdb',
        key: 'flannel.1 aa:bb:cc:dd:ee:03',
        state: 'present',
        entry: { mac: 'aa:bb:cc:dd:ee:03', dst: '192.168.77.2', dev: 'flannel.1' },
      },
      {
        kind: 'fdb',
        key: 'flannel-v6.1 aa:bb:cc:dd:ee:02',
        state: 'absent',
        entry: { mac: 'aa:bb:cc:dd:ee:02', dst: 'fc00:77::2', dev: 'flannel-v6.1' },
      },
      {
        kind: 'fdb',
        key: 'flannel-v6.1 aa:bb:cc:dd:ee:02',
        state: 'present',
        entry: { mac: 'aa:bb:cc:dd:ee:02', dst: 'fc00:77::2', dev: 'flannel-v6.1' },
      },
    ]);
  });
});

describe('describing peers', () => {
  it('names an IPv6-only peer by its IPv6 subnet and PublicIPv6, others as before', () => {
    const only6: Lease = {
      subnets: { ipv4: cidr('0.0.0.0/0'), ipv6: cidr('fd00:5:3::/64') },
      attrs: { publicIp: '0.0.0.0', publicIpv6: 'fc00:77::3' },
      ttlLeaseId: '1',
    };
    expect(describePeer(only6)).toBe('fd00:5:3::/64 (fc00:77::3)');
    expect(describePeer(peer(2))).toBe('10.5.2.0/24 (192.168.77.2)');
  });
});
