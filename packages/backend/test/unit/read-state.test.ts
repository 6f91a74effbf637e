import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCidr } from '@flannel-ts/core';
import type { Cidr } from '@flannel-ts/core';
import { readDataPlaneState } from '@flannel-ts/backend';
import { FakeIpRunner } from '@flannel-ts/backend/testing';
import { parseFdb, parseNeighbours, parseOwnedRoutes } from '../../src/read-state';

/** Real iproute2 6.1 output; see ../fixtures/README.md for how each file was recorded. */
function fixture(name: string): string {
  return readFileSync(join(__dirname, '..', 'fixtures', name), 'utf8');
}

const network = parseCidr('10.5.0.0/16') as Cidr;

describe('parseOwnedRoutes', () => {
  it('owns the onlink route to a peer subnet on flannel.1', () => {
    expect(parseOwnedRoutes(fixture('route-show-flannel1.json'), 'flannel.1', [network])).toEqual([
      { dst: '10.5.2.0/24', gateway: '10.5.2.0', dev: 'flannel.1', onlink: true },
    ]);
  });

  it('owns a route via a peer on the external device but not the kernel route of its LAN', () => {
    expect(parseOwnedRoutes(fixture('route-show-v0.json'), 'v0', [network])).toEqual([
      { dst: '10.5.3.0/24', gateway: '192.0.2.11', dev: 'v0', onlink: false },
    ]);
  });

  it('leaves routes without a gateway, routes with a metric and routes outside the network alone', () => {
    // The fixture holds 10.5.0.0/16 (no gateway), 10.5.2.0/24, the host route 10.5.7.5 (printed
    // without a prefix length), 10.5.8.0/24 (proto static, metric 5) and 172.16.0.0/24.
    expect(
      parseOwnedRoutes(fixture('route-show-flannel1-mixed.json'), 'flannel.1', [network]),
    ).toEqual([
      { dst: '10.5.2.0/24', gateway: '10.5.2.0', dev: 'flannel.1', onlink: true },
      { dst: '10.5.7.5/32', gateway: '10.5.7.0', dev: 'flannel.1', onlink: true },
    ]);
  });

  it('leaves the default route, proto kernel routes and foreign networks on the external device alone', () => {
    expect(parseOwnedRoutes(fixture('route-show-v0-mixed.json'), 'v0', [network])).toEqual([
      { dst: '10.5.3.0/24', gateway: '192.0.2.11', dev: 'v0', onlink: false },
    ]);
  });

  it('does not own a proto kernel route even with a gateway inside the network', () => {
    // Hand-written: the kernel does not make such routes, but the rule must hold if one appears.
    const stdout = '[{"dst":"10.5.9.0/24","gateway":"10.5.9.1","protocol":"kernel","flags":[]}]';
    expect(parseOwnedRoutes(stdout, 'v0', [network])).toEqual([]);
  });

  it('owns nothing when the network does not contain the routes', () => {
    const other = parseCidr('10.6.0.0/16') as Cidr;
    expect(
      parseOwnedRoutes(fixture('route-show-flannel1-mixed.json'), 'flannel.1', [other]),
    ).toEqual([]);
  });

  it('reads an empty table, printed as [] or as nothing at all', () => {
    expect(parseOwnedRoutes(fixture('route-show-empty.json'), 'flannel.1', [network])).toEqual([]);
    expect(parseOwnedRoutes('', 'flannel.1', [network])).toEqual([]);
    expect(parseOwnedRoutes('\n', 'flannel.1', [network])).toEqual([]);
  });
});

describe('parseNeighbours', () => {
  it('reads a permanent neighbour with its MAC', () => {
    expect(parseNeighbours(fixture('neigh-show-flannel1.json'), 'flannel.1')).toEqual([
      { ip: '10.5.2.0', mac: 'aa:bb:cc:dd:ee:01', dev: 'flannel.1' },
    ]);
  });

  it('keeps only PERMANENT neighbours, not STALE or REACHABLE ones', () => {
    expect(parseNeighbours(fixture('neigh-show-flannel1-mixed.json'), 'flannel.1')).toEqual([
      { ip: '10.5.9.0', mac: 'aa:bb:cc:dd:ee:09', dev: 'flannel.1' },
      { ip: '10.5.2.0', mac: 'aa:bb:cc:dd:ee:01', dev: 'flannel.1' },
    ]);
  });

  it('reads an empty neighbour table', () => {
    expect(parseNeighbours('[]\n', 'flannel.1')).toEqual([]);
    expect(parseNeighbours('', 'flannel.1')).toEqual([]);
  });
});

describe('parseFdb', () => {
  it('reads a permanent FDB entry with its remote destination', () => {
    expect(parseFdb(fixture('fdb-show-flannel1.json'), 'flannel.1')).toEqual([
      { mac: 'aa:bb:cc:dd:ee:01', dst: '192.0.2.11', dev: 'flannel.1' },
    ]);
  });

  it('skips a non-permanent entry and the all-zero default destination, keeping the rest', () => {
    // aa:bb:cc:dd:ee:0c was added `dynamic` and is printed with state "". The all-zero default
    // destination is an admin's flooding entry, never one of ours.
    expect(parseFdb(fixture('fdb-show-flannel1-mixed.json'), 'flannel.1')).toEqual([
      { mac: 'aa:bb:cc:dd:ee:01', dst: '192.0.2.11', dev: 'flannel.1' },
      { mac: 'aa:bb:cc:dd:ee:0b', dst: '192.0.2.21', dev: 'flannel.1' },
      { mac: 'aa:bb:cc:dd:ee:09', dst: '192.0.2.19', dev: 'flannel.1' },
    ]);
  });

  it('skips a permanent entry without a destination', () => {
    // Hand-written: what `bridge -json fdb show` prints for the device's own multicast entries.
    const stdout = '[{"mac":"33:33:00:00:00:01","flags":["self"],"state":"permanent"}]';
    expect(parseFdb(stdout, 'flannel.1')).toEqual([]);
  });
});

describe('readDataPlaneState', () => {
  function runners() {
    const ip = new FakeIpRunner({
      answers: {
        '-json route show dev flannel.1': fixture('route-show-flannel1.json'),
        '-json route show dev v0': fixture('route-show-v0.json'),
        '-json neigh show dev flannel.1': fixture('neigh-show-flannel1.json'),
      },
    });
    const bridge = new FakeIpRunner({
      answers: { '-json fdb show dev flannel.1': fixture('fdb-show-flannel1.json') },
    });
    return { ip, bridge };
  }

  it('reads routes of every route device plus neighbours and FDB of the VXLAN device', async () => {
    const r = runners();
    const state = await readDataPlaneState(r, {
      routeDevices: ['flannel.1', 'v0'],
      vxlanDevices: ['flannel.1'],
      networks: [network],
    });
    expect([...state.routes.values()]).toEqual([
      { dst: '10.5.2.0/24', gateway: '10.5.2.0', dev: 'flannel.1', onlink: true },
      { dst: '10.5.3.0/24', gateway: '192.0.2.11', dev: 'v0', onlink: false },
    ]);
    expect([...state.neighbours.values()]).toEqual([
      { ip: '10.5.2.0', mac: 'aa:bb:cc:dd:ee:01', dev: 'flannel.1' },
    ]);
    expect([...state.fdb.values()]).toEqual([
      { mac: 'aa:bb:cc:dd:ee:01', dst: '192.0.2.11', dev: 'flannel.1' },
    ]);
    // One query per table, whatever the number of entries.
    expect(r.ip.calls).toHaveLength(3);
    expect(r.bridge.calls).toEqual([['-json', 'fdb', 'show', 'dev', 'flannel.1']]);
  });

  it('reads only routes when there is no VXLAN device (host-gw)', async () => {
    const r = runners();
    const state = await readDataPlaneState(r, { routeDevices: ['v0'], networks: [network] });
    expect([...state.routes.keys()]).toEqual(['10.5.3.0/24']);
    expect(state.neighbours.size).toBe(0);
    expect(state.fdb.size).toBe(0);
    expect(r.ip.calls).toEqual([['-json', 'route', 'show', 'dev', 'v0']]);
    expect(r.bridge.calls).toEqual([]);
  });
});
