import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlannelError } from '@flannel-ts/core';
import { IpCommandError } from '@flannel-ts/backend';
import { FakeIpRunner } from '@flannel-ts/backend/testing';
import { pickIpv4Address, selectInterface } from '../../src/interface-selection';
import type { InterfaceSelection, SelectionCriteria } from '../../src/interface-selection';
import { discoverInterface, parseIpLinks, parseIpRoutes } from '../../src/network-inventory';
import type { IpLink, NetworkInventory } from '../../src/network-inventory';

const fixture = (name: string): string =>
  readFileSync(join(__dirname, '../fixtures', name), 'utf8');
const links = (name: string): IpLink[] => parseIpLinks(fixture(name));
const route = (name: string) => ({ ok: true as const, route: parseIpRoutes(fixture(name))[0]! });

const host: NetworkInventory = {
  links: links('host-addr-show.json'),
  defaultRoutes: parseIpRoutes(fixture('host-route-default.json')),
};
const netns: NetworkInventory = {
  links: links('netns-addr-show.json'),
  defaultRoutes: parseIpRoutes(fixture('netns-route-default.json')),
};
const netnsNoDefault: NetworkInventory = { ...netns, defaultRoutes: [] };
const none: SelectionCriteria = { iface: [], ifaceRegex: [] };

function chosen(result: InterfaceSelection) {
  if (!result.ok) throw new Error(`expected a choice, got: ${result.message}`);
  return result.choice;
}
function failure(result: InterfaceSelection): string {
  if (result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result.choice)}`);
  return result.message;
}

describe('selectInterface without --iface flags', () => {
  it('takes the interface of the default route', () => {
    expect(chosen(selectInterface(host, none))).toEqual({
      name: 'eth0',
      index: 4,
      mtu: 1400,
      ipv4: { address: '192.0.2.2', publicIp: '192.0.2.2' },
      reason: 'carries the default route via 192.0.2.1',
    });
  });

  it('takes the first of several default routes and its permanent address over a dynamic one', () => {
    expect(chosen(selectInterface(netns, none))).toMatchObject({
      name: 'ens3',
      ipv4: { address: '10.10.0.6' },
    });
  });

  it('tells the user to pass --iface or --iface-can-reach when there is no default route', () => {
    expect(failure(selectInterface(netnsNoDefault, none))).toBe(
      'there is no IPv4 default route to pick an interface by: pass --iface or --iface-can-reach to choose one',
    );
  });

  it('takes the interface owning --public-ip, with that address', () => {
    const criteria = { ...none, publicIp: '10.20.0.2' };
    expect(chosen(selectInterface(netnsNoDefault, criteria))).toMatchObject({
      name: 'ens4',
      ipv4: { address: '10.20.0.2', publicIp: '10.20.0.2' },
      reason: 'owns --public-ip 10.20.0.2',
    });
  });

  it('treats a --public-ip no interface owns as a NAT address on the default-route interface', () => {
    const choice = chosen(selectInterface(host, { ...none, publicIp: '203.0.113.50' }));
    expect(choice).toMatchObject({
      name: 'eth0',
      ipv4: { address: '192.0.2.2', publicIp: '203.0.113.50' },
    });
    expect(choice.reason).toBe(
      'carries the default route via 192.0.2.1; --public-ip 203.0.113.50 is not assigned to any local interface, so it is treated as a NAT address',
    );
  });

  it('fails for a non-local --public-ip when there is no default route either', () => {
    const message = failure(selectInterface(netnsNoDefault, { ...none, publicIp: '203.0.113.50' }));
    expect(message).toContain('--public-ip 203.0.113.50 is not assigned to any local interface');
    expect(message).toContain('no IPv4 default route');
    expect(message).toContain('pass --iface or --iface-can-reach');
  });
});

describe('selectInterface with --iface', () => {
  it('picks by name, preferring a global address and skipping deprecated ones', () => {
    expect(chosen(selectInterface(netns, { ...none, iface: ['ens4'] }))).toEqual({
      name: 'ens4',
      index: 5,
      mtu: 9000,
      ipv4: { address: '10.20.0.2', publicIp: '10.20.0.2' },
      reason: 'matches --iface ens4',
    });
  });

  it('picks by address, using that address', () => {
    expect(chosen(selectInterface(netns, { ...none, iface: ['10.10.0.5'] }))).toMatchObject({
      name: 'ens3',
      ipv4: { address: '10.10.0.5' },
      reason: 'has --iface address 10.10.0.5',
    });
  });

  it('tries entries in order and settles for a link-local address when that is all there is', () => {
    const criteria = { ...none, iface: ['eth9', 'v6only', 'll0', 'ens3'] };
    expect(chosen(selectInterface(netns, criteria))).toMatchObject({
      name: 'll0',
      ipv4: { address: '169.254.20.1' },
    });
  });

  it('keeps --public-ip as the public address of an explicitly chosen interface', () => {
    const criteria = { ...none, iface: ['ens3'], publicIp: '198.51.100.1' };
    expect(chosen(selectInterface(netns, criteria))).toMatchObject({
      ipv4: { address: '10.10.0.6', publicIp: '198.51.100.1' },
    });
  });

  it('names every attempt when nothing matches', () => {
    const criteria = { ...none, iface: ['eth9', '10.99.0.1', 'v6only'] };
    expect(failure(selectInterface(netns, criteria))).toBe(
      'no usable interface matches the given flags (' +
        '--iface eth9: no interface named eth9; ' +
        '--iface 10.99.0.1: no interface has the address 10.99.0.1; ' +
        '--iface v6only: interface v6only has no usable IPv4 address (global or link-local, not deprecated))',
    );
  });

  it('refuses an interface that reports MTU 0', () => {
    const zero = {
      ...netns,
      links: netns.links.map((l) => (l.ifname === 'ens3' ? { ...l, mtu: 0 } : l)),
    };
    expect(failure(selectInterface(zero, { ...none, iface: ['ens3'] }))).toContain(
      '--iface ens3: failed to determine the MTU of interface ens3',
    );
  });
});

describe('selectInterface with --iface-regex', () => {
  it('matches usable addresses before names', () => {
    expect(chosen(selectInterface(netns, { ...none, ifaceRegex: ['^10\\.20\\.'] }))).toMatchObject({
      name: 'ens4',
      ipv4: { address: '10.20.0.2' },
      reason: 'its address 10.20.0.2 matches --iface-regex ^10\\.20\\.',
    });
  });

  it('falls back to interface names', () => {
    expect(chosen(selectInterface(netns, { ...none, ifaceRegex: ['^ens'] }))).toMatchObject({
      name: 'ens3',
      ipv4: { address: '10.10.0.6' },
      reason: 'its name matches --iface-regex ^ens',
    });
  });

  it('is tried only after every --iface entry failed, one pattern after another', () => {
    const criteria = { ...none, iface: ['eth9'], ifaceRegex: ['^wlan', '^down'] };
    expect(chosen(selectInterface(netns, criteria))).toMatchObject({
      name: 'down0',
      ipv4: { address: '10.60.0.1' },
    });
  });

  it('explains a pattern that matches only interfaces without IPv4, or nothing', () => {
    const message = failure(selectInterface(netns, { ...none, ifaceRegex: ['^v6', '^wlan'] }));
    expect(message).toContain(
      '--iface-regex ^v6: matching interfaces (v6only) have no usable IPv4 address',
    );
    expect(message).toContain(
      '--iface-regex ^wlan: matches no IPv4 address or name of the interfaces (lo, ens3, ens4, ll0, v6only, down0)',
    );
  });
});

describe('selectInterface with --iface-can-reach', () => {
  it("uses the route's device and source address", () => {
    const inventory = { ...netns, canReach: route('netns-route-get-10.20.0.77.json') };
    expect(
      chosen(selectInterface(inventory, { ...none, ifaceCanReach: '10.20.0.77' })),
    ).toMatchObject({
      name: 'ens4',
      ipv4: { address: '10.20.0.1' },
      reason: 'the route to 10.20.0.77 leaves through it',
    });
  });

  it('follows a gateway route too', () => {
    const inventory = { ...netns, canReach: route('netns-route-get-198.51.100.7.json') };
    expect(
      chosen(selectInterface(inventory, { ...none, ifaceCanReach: '198.51.100.7' })),
    ).toMatchObject({
      name: 'ens3',
      ipv4: { address: '10.10.0.5' },
    });
  });

  it('reports an unreachable target with what the kernel said', () => {
    const error = fixture('netns-route-get-unreachable.stderr').trim();
    const inventory = { ...netnsNoDefault, canReach: { ok: false as const, error } };
    expect(failure(selectInterface(inventory, { ...none, ifaceCanReach: '203.0.113.9' }))).toBe(
      'no usable interface matches the given flags (--iface-can-reach 203.0.113.9: no route: RTNETLINK answers: Network is unreachable)',
    );
  });
});

describe('pickIpv4Address', () => {
  const link = (addr_info: IpLink['addr_info']): IpLink => ({
    ifindex: 9,
    ifname: 'x',
    mtu: 1500,
    addr_info,
  });
  const inet = (local: string, flags: object = {}) => ({
    family: 'inet',
    local,
    prefixlen: 24,
    scope: 'global',
    ...flags,
  });

  it('prefers non-temporary over temporary addresses', () => {
    expect(pickIpv4Address(link([inet('10.0.0.1', { temporary: true }), inet('10.0.0.2')]))).toBe(
      '10.0.0.2',
    );
  });

  it('ignores loopback, multicast and deprecated addresses', () => {
    const addrs = [inet('127.0.0.1'), inet('224.0.0.1'), inet('10.0.0.3', { deprecated: true })];
    expect(pickIpv4Address(link(addrs))).toBeUndefined();
  });
});

describe('discoverInterface', () => {
  it('asks ip for addresses and default routes, and feeds the answers to the selection', async () => {
    const runner = new FakeIpRunner({
      answers: {
        '-json addr show': fixture('host-addr-show.json'),
        '-4 -json route show default': fixture('host-route-default.json'),
      },
    });
    await expect(discoverInterface(none, runner)).resolves.toMatchObject({
      ok: true,
      choice: { name: 'eth0' },
    });
    expect(runner.calls).toEqual([
      ['-json', 'addr', 'show'],
      ['-4', '-json', 'route', 'show', 'default'],
    ]);
  });

  it('turns a failing route lookup into a selection failure', async () => {
    const runner = new FakeIpRunner({
      answers: {
        '-json addr show': fixture('netns-addr-show.json'),
        '-4 -json route show default': fixture('netns-route-default-none.json'),
        '-json route get 203.0.113.9': (args) => {
          throw new IpCommandError({
            binary: 'ip',
            args,
            exitCode: 2,
            stderr: fixture('netns-route-get-unreachable.stderr'),
          });
        },
      },
    });
    const result = await discoverInterface({ ...none, ifaceCanReach: '203.0.113.9' }, runner);
    expect(failure(result)).toContain('no route: RTNETLINK answers: Network is unreachable');
  });

  it('rejects output that is not the JSON iproute2 prints', () => {
    expect(() => parseIpLinks('not json')).toThrow(FlannelError);
    expect(() => parseIpRoutes('{"dst":"default"}')).toThrow(/unexpected JSON/);
    expect(parseIpRoutes('')).toEqual([]);
  });
});
