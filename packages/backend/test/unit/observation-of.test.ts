import { observationOf, parseFdbMonitorLine, parseIpMonitorLine } from '@flannel-ts/backend';
import type { MonitorEvent, Observation, OwnedScope } from '@flannel-ts/backend';
import { parseCidr } from '@flannel-ts/core';
import type { Cidr } from '@flannel-ts/core';

const network = parseCidr('10.5.0.0/16') as Cidr;
/** vxlan with DirectRouting: routes on flannel.1 and on the external device. */
const vxlan: OwnedScope = {
  routeDevices: ['flannel.1', 'v0'],
  vxlanDevices: ['flannel.1'],
  networks: [network],
};
/** host-gw: routes on the external device only, no VXLAN device. */
const hostGw: OwnedScope = { routeDevices: ['v0'], networks: [network] };

function ip(line: string): MonitorEvent {
  const e = parseIpMonitorLine(line);
  if (!e) throw new Error(`the fixture line does not parse: ${line}`);
  return e;
}
function fdb(line: string): MonitorEvent {
  const e = parseFdbMonitorLine(line);
  if (!e) throw new Error(`the fixture line does not parse: ${line}`);
  return e;
}

const vxlanRoute = { dst: '10.5.2.0/24', gateway: '10.5.2.0', dev: 'flannel.1', onlink: true };

describe('observationOf', () => {
  const ours: [string, MonitorEvent, OwnedScope, Observation][] = [
    [
      'our vxlan route as present',
      ip('[ROUTE]10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink '),
      vxlan,
      { kind: 'routes', key: '10.5.2.0/24', state: 'present', entry: vxlanRoute },
    ],
    [
      'the deletion of our vxlan route as absent, with what was deleted',
      ip('[ROUTE]Deleted 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink '),
      vxlan,
      { kind: 'routes', key: '10.5.2.0/24', state: 'absent', entry: vxlanRoute },
    ],
    [
      'a host-gw route via a peer as present',
      ip('[ROUTE]10.5.2.0/24 via 192.0.2.11 dev v0 '),
      hostGw,
      {
        kind: 'routes',
        key: '10.5.2.0/24',
        state: 'present',
        entry: { dst: '10.5.2.0/24', gateway: '192.0.2.11', dev: 'v0', onlink: false },
      },
    ],
    [
      'a DirectRouting route on the external device as present',
      ip('[ROUTE]10.5.2.0/24 via 192.0.2.11 dev v0 '),
      vxlan,
      {
        kind: 'routes',
        key: '10.5.2.0/24',
        state: 'present',
        entry: { dst: '10.5.2.0/24', gateway: '192.0.2.11', dev: 'v0', onlink: false },
      },
    ],
    [
      'a gateway-less route under our key as foreign',
      ip('[ROUTE]10.5.2.0/24 dev flannel.1 scope link '),
      vxlan,
      { kind: 'routes', key: '10.5.2.0/24', state: 'foreign' },
    ],
    [
      'the deletion of a gateway-less route under our key as absent, entry unknown',
      ip('[ROUTE]Deleted 10.5.2.0/24 dev flannel.1 scope link '),
      vxlan,
      { kind: 'routes', key: '10.5.2.0/24', state: 'absent', entry: undefined },
    ],
    [
      'our permanent neighbour as present',
      ip('[NEIGH]10.5.2.0 dev flannel.1 lladdr aa:bb:cc:dd:ee:01 PERMANENT '),
      vxlan,
      {
        kind: 'neighbours',
        key: '10.5.2.0',
        state: 'present',
        entry: { ip: '10.5.2.0', mac: 'aa:bb:cc:dd:ee:01', dev: 'flannel.1' },
      },
    ],
    [
      'a failed neighbour under our key as foreign',
      ip('[NEIGH]10.5.2.0 dev flannel.1 FAILED '),
      vxlan,
      { kind: 'neighbours', key: '10.5.2.0', state: 'foreign' },
    ],
    [
      'the deletion of a failed neighbour as absent, entry unknown',
      ip('[NEIGH]Deleted 10.5.2.0 dev flannel.1 FAILED '),
      vxlan,
      { kind: 'neighbours', key: '10.5.2.0', state: 'absent', entry: undefined },
    ],
    [
      'the deletion of a permanent neighbour as absent, with what was deleted',
      ip('[NEIGH]Deleted 10.5.2.0 dev flannel.1 lladdr aa:bb:cc:dd:ee:02 PERMANENT '),
      vxlan,
      {
        kind: 'neighbours',
        key: '10.5.2.0',
        state: 'absent',
        entry: { ip: '10.5.2.0', mac: 'aa:bb:cc:dd:ee:02', dev: 'flannel.1' },
      },
    ],
    [
      'our FDB entry as present',
      fdb('aa:bb:cc:dd:ee:01 dev flannel.1 dst 192.0.2.2 self permanent'),
      vxlan,
      {
        kind: 'fdb',
        key: 'flannel.1 aa:bb:cc:dd:ee:01',
        state: 'present',
        entry: { mac: 'aa:bb:cc:dd:ee:01', dst: '192.0.2.2', dev: 'flannel.1' },
      },
    ],
    [
      'the deletion of our FDB entry as absent, with what was deleted',
      fdb('Deleted aa:bb:cc:dd:ee:01 dev flannel.1 dst 192.0.2.2 self permanent'),
      vxlan,
      {
        kind: 'fdb',
        key: 'flannel.1 aa:bb:cc:dd:ee:01',
        state: 'absent',
        entry: { mac: 'aa:bb:cc:dd:ee:01', dst: '192.0.2.2', dev: 'flannel.1' },
      },
    ],
    [
      'a learned (not permanent) FDB entry under our key as foreign',
      fdb('aa:bb:cc:dd:ee:01 dev flannel.1 dst 192.0.2.2 self'),
      vxlan,
      { kind: 'fdb', key: 'flannel.1 aa:bb:cc:dd:ee:01', state: 'foreign' },
    ],
  ];

  it.each(ours)('sees %s', (_what, event, scope, expected) => {
    expect(observationOf(event, scope)).toEqual(expected);
  });

  const notOurs: [string, MonitorEvent, OwnedScope][] = [
    ['a route with a metric', ip('[ROUTE]10.5.9.0/24 via 192.0.2.1 dev v0 metric 100'), vxlan],
    [
      'a local route of the local table',
      ip('[ROUTE]local 10.5.1.0 dev flannel.1 table local proto kernel scope host src 10.5.1.0'),
      vxlan,
    ],
    [
      'the kernel’s route of the network',
      ip('[ROUTE]10.5.0.0/16 dev flannel.1 proto kernel scope link src 10.5.1.0'),
      vxlan,
    ],
    ['a route outside the network', ip('[ROUTE]172.16.0.0/24 via 192.0.2.1 dev v0 '), vxlan],
    [
      'a route that covers more than the network',
      ip('[ROUTE]10.0.0.0/8 via 192.0.2.1 dev v0 '),
      vxlan,
    ],
    [
      'a route on a device that is not ours',
      ip('[ROUTE]10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink '),
      hostGw,
    ],
    ['a route on another device', ip('[ROUTE]10.5.2.0/24 via 192.0.2.11 dev eth1 '), vxlan],
    [
      'a neighbour on another device',
      ip('[NEIGH]10.5.2.0 dev v0 lladdr aa:bb:cc:dd:ee:01 PERMANENT '),
      vxlan,
    ],
    [
      'a neighbour when the backend has no VXLAN device',
      ip('[NEIGH]10.5.2.0 dev flannel.1 lladdr aa:bb:cc:dd:ee:01 PERMANENT '),
      hostGw,
    ],
    [
      'the all-zero flooding FDB entry',
      fdb('00:00:00:00:00:00 dev flannel.1 dst 192.0.2.9 self permanent'),
      vxlan,
    ],
    ['an FDB entry of another device', fdb('33:33:00:00:00:01 dev v0 self permanent'), vxlan],
    [
      'a link change',
      ip(
        '[LINK]Deleted 5: flannel.1: <BROADCAST,MULTICAST> mtu 1400 qdisc noop state DOWN group default ',
      ),
      vxlan,
    ],
  ];

  it.each(notOurs)('ignores %s', (_what, event, scope) => {
    expect(observationOf(event, scope)).toBeUndefined();
  });
});
