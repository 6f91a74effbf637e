import { parseFdbMonitorLine, parseIpMonitorLine } from '@flannel-ts/backend';
import type { MonitorEvent } from '@flannel-ts/backend';

// Lines as `ip -4 monitor label link route neigh` and `bridge monitor fdb` (iproute2 6.1) print
// them, trailing blanks included.

describe('parseIpMonitorLine', () => {
  const cases: [string, string, MonitorEvent][] = [
    [
      'a permanent neighbour with its MAC',
      '[NEIGH]10.5.2.0 dev flannel.1 lladdr aa:bb:cc:dd:ee:01 PERMANENT ',
      {
        table: 'neigh',
        deleted: false,
        ip: '10.5.2.0',
        dev: 'flannel.1',
        mac: 'aa:bb:cc:dd:ee:01',
        permanent: true,
        noarp: false,
      },
    ],
    [
      'a neighbour the kernel failed to resolve',
      '[NEIGH]10.5.2.0 dev flannel.1 FAILED ',
      {
        table: 'neigh',
        deleted: false,
        ip: '10.5.2.0',
        dev: 'flannel.1',
        mac: undefined,
        permanent: false,
        noarp: false,
      },
    ],
    [
      'the deletion of a failed neighbour',
      '[NEIGH]Deleted 10.5.2.0 dev flannel.1 FAILED ',
      {
        table: 'neigh',
        deleted: true,
        ip: '10.5.2.0',
        dev: 'flannel.1',
        mac: undefined,
        permanent: false,
        noarp: false,
      },
    ],
    [
      'the deletion of a permanent neighbour',
      '[NEIGH]Deleted 10.5.2.0 dev flannel.1 lladdr aa:bb:cc:dd:ee:02 PERMANENT ',
      {
        table: 'neigh',
        deleted: true,
        ip: '10.5.2.0',
        dev: 'flannel.1',
        mac: 'aa:bb:cc:dd:ee:02',
        permanent: true,
        noarp: false,
      },
    ],
    [
      'an onlink vxlan route',
      '[ROUTE]10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink ',
      {
        table: 'route',
        deleted: false,
        type: 'unicast',
        dst: '10.5.2.0/24',
        gateway: '10.5.2.0',
        dev: 'flannel.1',
        onlink: true,
        metric: undefined,
        foreign: false,
      },
    ],
    [
      'the deletion of an onlink vxlan route',
      '[ROUTE]Deleted 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink ',
      {
        table: 'route',
        deleted: true,
        type: 'unicast',
        dst: '10.5.2.0/24',
        gateway: '10.5.2.0',
        dev: 'flannel.1',
        onlink: true,
        metric: undefined,
        foreign: false,
      },
    ],
    [
      'a host-gw route via a peer’s public IP',
      '[ROUTE]10.5.2.0/24 via 192.0.2.11 dev v0 ',
      {
        table: 'route',
        deleted: false,
        type: 'unicast',
        dst: '10.5.2.0/24',
        gateway: '192.0.2.11',
        dev: 'v0',
        onlink: false,
        metric: undefined,
        foreign: false,
      },
    ],
    [
      'a route with its metric',
      '[ROUTE]10.5.9.0/24 via 192.0.2.1 dev v0 metric 100',
      {
        table: 'route',
        deleted: false,
        type: 'unicast',
        dst: '10.5.9.0/24',
        gateway: '192.0.2.1',
        dev: 'v0',
        onlink: false,
        metric: 100,
        foreign: false,
      },
    ],
    [
      'a blackhole route with our metric (no device)',
      '[ROUTE]blackhole 10.5.1.0/24 metric 4294967295 ',
      {
        table: 'route',
        deleted: false,
        type: 'blackhole',
        dst: '10.5.1.0/24',
        gateway: undefined,
        dev: undefined,
        onlink: false,
        metric: 4294967295,
        foreign: false,
      },
    ],
    [
      'the deletion of a blackhole route, with its protocol',
      '[ROUTE]Deleted blackhole 10.5.4.0/24 proto static metric 4294967295 ',
      {
        table: 'route',
        deleted: true,
        type: 'blackhole',
        dst: '10.5.4.0/24',
        gateway: undefined,
        dev: undefined,
        onlink: false,
        metric: 4294967295,
        foreign: false,
      },
    ],
    [
      'a local route of the local table as foreign, with a /32 prefix added',
      '[ROUTE]local 10.5.1.0 dev flannel.1 table local proto kernel scope host src 10.5.1.0',
      {
        table: 'route',
        deleted: false,
        type: 'local',
        dst: '10.5.1.0/32',
        gateway: undefined,
        dev: 'flannel.1',
        onlink: false,
        metric: undefined,
        foreign: true,
      },
    ],
    [
      'the kernel’s own route of the network as foreign',
      '[ROUTE]10.5.0.0/16 dev flannel.1 proto kernel scope link src 10.5.1.0',
      {
        table: 'route',
        deleted: false,
        type: 'unicast',
        dst: '10.5.0.0/16',
        gateway: undefined,
        dev: 'flannel.1',
        onlink: false,
        metric: undefined,
        foreign: true,
      },
    ],
    [
      'a link that is down, with its MTU',
      '[LINK]5: flannel.1: <BROADCAST,MULTICAST> mtu 1450 qdisc noqueue state DOWN group default ',
      { table: 'link', deleted: false, name: 'flannel.1', up: false, mtu: 1450 },
    ],
    [
      'a link that is up',
      '[LINK]5: flannel.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400 qdisc noqueue state UNKNOWN group default ',
      { table: 'link', deleted: false, name: 'flannel.1', up: true, mtu: 1400 },
    ],
    [
      'a veth by its own name, without its peer',
      '[LINK]3: veth0@veth1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default ',
      { table: 'link', deleted: false, name: 'veth0', up: true, mtu: 1500 },
    ],
    [
      'the deletion of a link',
      '[LINK]Deleted 5: flannel.1: <BROADCAST,MULTICAST> mtu 1400 qdisc noop state DOWN group default ',
      { table: 'link', deleted: true, name: 'flannel.1', up: false, mtu: 1400 },
    ],
  ];

  it.each(cases)('parses %s', (_what, line, expected) => {
    expect(parseIpMonitorLine(line)).toEqual(expected);
  });

  it.each([
    ['the continuation line of a link', '    link/ether 9e:a5:d2:9a:52:56 brd ff:ff:ff:ff:ff:ff'],
    ['a default route', '[ROUTE]default via 192.0.2.1 dev v0 '],
    ['an empty line', ''],
    ['a line without a label', '10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink '],
    ['an unknown label', '[ADDR]5: flannel.1    inet 10.5.1.0/32 scope global flannel.1'],
    ['a neighbour miss notification', '[NEIGH]miss 10.5.2.0 dev flannel.1 '],
    ['a link line without an index', '[LINK]flannel.1: <BROADCAST,MULTICAST> mtu 1450'],
  ])('gives undefined for %s', (_what, line) => {
    expect(parseIpMonitorLine(line)).toBeUndefined();
  });
});

describe('parseFdbMonitorLine', () => {
  const cases: [string, string, MonitorEvent][] = [
    [
      'a permanent remote entry',
      'aa:bb:cc:dd:ee:01 dev flannel.1 dst 192.0.2.2 self permanent',
      {
        table: 'fdb',
        deleted: false,
        mac: 'aa:bb:cc:dd:ee:01',
        dev: 'flannel.1',
        dst: '192.0.2.2',
        permanent: true,
      },
    ],
    [
      'the deletion of a remote entry',
      'Deleted aa:bb:cc:dd:ee:01 dev flannel.1 dst 192.0.2.2 self permanent',
      {
        table: 'fdb',
        deleted: true,
        mac: 'aa:bb:cc:dd:ee:01',
        dev: 'flannel.1',
        dst: '192.0.2.2',
        permanent: true,
      },
    ],
    [
      'the all-zero flooding entry (telling it apart is the caller’s job)',
      '00:00:00:00:00:00 dev flannel.1 dst 192.0.2.9 self permanent',
      {
        table: 'fdb',
        deleted: false,
        mac: '00:00:00:00:00:00',
        dev: 'flannel.1',
        dst: '192.0.2.9',
        permanent: true,
      },
    ],
    [
      'a multicast entry of another device, without a destination',
      '33:33:00:00:00:01 dev v0 self permanent',
      {
        table: 'fdb',
        deleted: false,
        mac: '33:33:00:00:00:01',
        dev: 'v0',
        dst: undefined,
        permanent: true,
      },
    ],
    [
      'a learned entry as not permanent, with its MAC in lower case',
      'AA:BB:CC:DD:EE:03 dev flannel.1 dst 192.0.2.3 self',
      {
        table: 'fdb',
        deleted: false,
        mac: 'aa:bb:cc:dd:ee:03',
        dev: 'flannel.1',
        dst: '192.0.2.3',
        permanent: false,
      },
    ],
  ];

  it.each(cases)('parses %s', (_what, line, expected) => {
    expect(parseFdbMonitorLine(line)).toEqual(expected);
  });

  it.each([
    ['an empty line', ''],
    ['a line that is not an entry', 'Deleted'],
    ['a line with a malformed MAC', 'aa:bb:cc:dd:ee dev flannel.1 dst 192.0.2.2 self permanent'],
  ])('gives undefined for %s', (_what, line) => {
    expect(parseFdbMonitorLine(line)).toBeUndefined();
  });
});
