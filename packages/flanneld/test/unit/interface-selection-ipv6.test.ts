import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeIpRunner } from '@flannel-ts/backend/testing';
import { pickIpv6Address, selectInterface } from '../../src/interface-selection';
import type { InterfaceSelection, IpStack, SelectionCriteria } from '../../src/interface-selection';
import { discoverInterface, parseIpLinks, parseIpRoutes } from '../../src/network-inventory';
import type { NetworkInventory } from '../../src/network-inventory';

const fixture = (name: string): string =>
  readFileSync(join(__dirname, '../fixtures', name), 'utf8');
const links = parseIpLinks(fixture('dual-addr-show.json'));
const link = (name: string) => links.find((l) => l.ifname === name)!;
const dual: NetworkInventory = {
  links,
  defaultRoutes: [{ dst: 'default', gateway: '192.0.2.1', dev: 'eth0' }],
  defaultRoutesV6: parseIpRoutes(fixture('dual-route-default6.json')),
};
const DUAL: IpStack = { ipv4: true, ipv6: true };
const V6ONLY: IpStack = { ipv4: false, ipv6: true };
const none: SelectionCriteria = { iface: [], ifaceRegex: [] };

function chosen(result: InterfaceSelection) {
  if (!result.ok) throw new Error(`expected a choice, got: ${result.message}`);
  return result.choice;
}
function failure(result: InterfaceSelection): string {
  if (result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result.choice)}`);
  return result.message;
}

describe('pickIpv6Address (upstream GetInterfaceIP6Addrs order)', () => {
  it('skips deprecated addresses and prefers a permanent global one over a dynamic one', () => {
    expect(pickIpv6Address(link('eth0'))).toBe('2001:db8:1::2');
  });

  it('takes a ULA (Go counts it as global unicast) before the link-local address', () => {
    expect(pickIpv6Address(link('eth1'))).toBe('fd00:9::9');
  });

  it('settles for link-local when that is all there is, and ignores loopback', () => {
    expect(pickIpv6Address(link('eth0p'))).toMatch(/^fe80::/);
    expect(pickIpv6Address(link('lo'))).toBeUndefined();
  });

  it('prefers non-temporary over temporary addresses', () => {
    const l = {
      ifindex: 9,
      ifname: 'x',
      addr_info: [
        { family: 'inet6', local: '2001:db8::a', prefixlen: 64, temporary: true, dynamic: true },
        { family: 'inet6', local: '2001:db8::b', prefixlen: 64, dynamic: true },
      ],
    };
    expect(pickIpv6Address(l)).toBe('2001:db8::b');
  });
});

describe('selectInterface with IPv6 enabled', () => {
  it('dual stack: the default-route interface with both addresses, and says why', () => {
    expect(chosen(selectInterface(dual, none, DUAL))).toEqual({
      name: 'eth0',
      index: link('eth0').ifindex,
      mtu: 1450,
      ipv4: { address: '192.0.2.2', publicIp: '192.0.2.2' },
      ipv6: { address: '2001:db8:1::2', publicIp: '2001:db8:1::2' },
      reason:
        'carries the default route via 192.0.2.1 and the IPv6 default route via 2001:db8:1::1; ' +
        'IPv6 address 2001:db8:1::2 (global before link-local, permanent before dynamic, non-temporary before temporary)',
    });
  });

  it('IPv6-only: no IPv4 needed, the IPv6 default route decides', () => {
    const choice = chosen(selectInterface({ ...dual, defaultRoutes: [] }, none, V6ONLY));
    expect(choice).toMatchObject({ name: 'eth0', ipv6: { address: '2001:db8:1::2' } });
    expect(choice.ipv4).toBeUndefined();
  });

  it('dual stack refuses default routes leaving through two interfaces, as upstream', () => {
    const split = { ...dual, defaultRoutesV6: [{ dst: 'default', dev: 'eth1' }] };
    expect(failure(selectInterface(split, none, DUAL))).toBe(
      'the IPv6 default route leaves through eth1 but the IPv4 one through eth0; dual stack needs ' +
        'one interface for both (as upstream requires): pass --iface or --iface-can-reach to choose one',
    );
  });

  it('fails clearly without an IPv6 default route', () => {
    expect(failure(selectInterface({ ...dual, defaultRoutesV6: [] }, none, V6ONLY))).toBe(
      'there is no IPv6 default route to pick an interface by: pass --iface or --iface-can-reach to choose one',
    );
  });

  it('fails, naming EnableIPv6, when the chosen interface has no usable IPv6 address', () => {
    const noV6 = {
      ...dual,
      links: dual.links.map((l) =>
        l.ifname === 'eth0'
          ? { ...l, addr_info: l.addr_info?.filter((a) => a.family === 'inet') }
          : l,
      ),
    };
    expect(failure(selectInterface(noV6, { ...none, iface: ['eth0'] }, DUAL))).toBe(
      'no usable interface matches the given flags (--iface eth0: interface eth0 has no usable ' +
        'IPv6 address (global or link-local, not deprecated), and the network config enables IPv6 (EnableIPv6))',
    );
  });

  it('--iface with an IPv6 address uses that address and the interface IPv4 one', () => {
    const choice = chosen(selectInterface(dual, { ...none, iface: ['2001:db8:1::77'] }, DUAL));
    expect(choice).toMatchObject({
      name: 'eth0',
      ipv4: { address: '192.0.2.2' },
      ipv6: { address: '2001:db8:1::77' },
    });
    expect(choice.reason).toContain('IPv6 address 2001:db8:1::77 (named by the flag)');
  });

  it('--iface-regex matches IPv6 addresses too', () => {
    const choice = chosen(selectInterface(dual, { ...none, ifaceRegex: ['^fd00:9:'] }, V6ONLY));
    expect(choice).toMatchObject({ name: 'eth1', ipv6: { address: 'fd00:9::9' } });
  });

  it('--iface-can-reach an IPv6 target takes the route source address', () => {
    const canReach = {
      ok: true as const,
      route: parseIpRoutes(fixture('dual-route-get-2001-db8-1--50.json'))[0]!,
    };
    const criteria = { ...none, ifaceCanReach: '2001:db8:1::50' };
    expect(chosen(selectInterface({ ...dual, canReach }, criteria, V6ONLY))).toMatchObject({
      name: 'eth0',
      ipv6: { address: '2001:db8:1::77', publicIp: '2001:db8:1::77' },
    });
  });

  it('--public-ipv6 overrides what peers see; on IPv6-only it also names the interface', () => {
    const nat = chosen(selectInterface(dual, { ...none, publicIpv6: '2001:db8:99::1' }, DUAL));
    expect(nat.ipv6).toEqual({ address: '2001:db8:1::2', publicIp: '2001:db8:99::1' });
    const owned = chosen(selectInterface(dual, { ...none, publicIpv6: 'fd00:9::9' }, V6ONLY));
    expect(owned).toMatchObject({
      name: 'eth1',
      ipv6: { address: 'fd00:9::9', publicIp: 'fd00:9::9' },
    });
  });
});

describe('discoverInterface with IPv6 enabled', () => {
  it('reads the IPv6 default routes and hands over the IPv6 prefixes on the link', async () => {
    const runner = new FakeIpRunner({
      answers: {
        '-json addr show': fixture('dual-addr-show.json'),
        '-6 -json route show default': fixture('dual-route-default6.json'),
      },
    });
    const choice = chosen(await discoverInterface(none, runner, undefined, V6ONLY));
    expect(runner.calls).toEqual([
      ['-json', 'addr', 'show'],
      ['-6', '-json', 'route', 'show', 'default'],
    ]);
    expect(choice.ipv6?.connected?.map((c) => c.prefixLength)).toEqual([64, 64, 64, 64]);
    expect(choice.ipv4).toBeUndefined();
  });
});
