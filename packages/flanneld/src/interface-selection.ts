import type { ExternalInterface } from '@flannel-ts/backend';
import { ipEquals, parseIp } from '@flannel-ts/core';
import type { Config } from './config';
import {
  IPV4_STACK,
  PREFERENCE,
  familyOf,
  isUsableIpv4,
  isUsableIpv6,
  pickIpv4Address,
  pickIpv6Address,
} from './interface-addresses';
import type { IpStack } from './interface-addresses';
import type { IpLink, IpRoute, NetworkInventory } from './network-inventory';

export { pickIpv4Address, pickIpv6Address } from './interface-addresses';
export type { IpStack } from './interface-addresses';

/** The flags that steer the choice. A {@link Config} is one. */
export type SelectionCriteria = Pick<
  Config,
  'iface' | 'ifaceRegex' | 'ifaceCanReach' | 'publicIp' | 'publicIpv6'
>;

/** The external interface: what backends bind to and what peers reach us at. */
export interface InterfaceChoice extends ExternalInterface {
  /** Why this interface (and, with IPv6, which IPv6 address) won, for the startup log. */
  readonly reason: string;
}

/** Outcome of {@link selectInterface}; failures name everything that was tried. */
export type InterfaceSelection =
  | { readonly ok: true; readonly choice: InterfaceChoice }
  | { readonly ok: false; readonly message: string };

/** A candidate interface before its addresses and MTU are checked. */
interface Candidate {
  readonly link: IpLink;
  /** An IPv4 address the flag itself named (else the link's preferred one is taken). */
  readonly address?: string;
  /** Likewise for IPv6. */
  readonly address6?: string;
  readonly reason: string;
}
type Attempt = InterfaceSelection;
type Finder = [string, () => Candidate | string];

const ADVICE = 'pass --iface or --iface-can-reach to choose one';

/**
 * Picks the external interface (port of flannel main.go's interface lookup and pkg/ipmatch
 * LookupExtIface, SPEC 3 step 8): `--iface` entries in order, then `--iface-regex`, then
 * `--iface-can-reach`; with none of them, the default-route interface. With IPv6 enabled the same
 * interface must also have a usable IPv6 address (and for dual stack the IPv4 and IPv6 default
 * routes must leave through one interface, as upstream requires); IPv6-only needs no IPv4 at all.
 * One deliberate change: with `--public-ip` and no `--iface*`, an interface owning that IP wins,
 * but when none owns it (NAT, or several agents on one test host) we fall back to the default-route
 * interface instead of failing.
 */
export function selectInterface(
  inventory: NetworkInventory,
  criteria: SelectionCriteria,
  stack: IpStack = IPV4_STACK,
): InterfaceSelection {
  const explicit =
    criteria.iface.length > 0 ||
    criteria.ifaceRegex.length > 0 ||
    criteria.ifaceCanReach !== undefined;
  if (!explicit) return byDefault(inventory, criteria, stack);

  const tried: string[] = [];
  const attempts: Finder[] = [
    ...criteria.iface.map((e): Finder => [`--iface ${e}`, () => byIface(inventory.links, e)]),
    ...criteria.ifaceRegex.map((r): Finder => [
      `--iface-regex ${r}`,
      () => byRegex(inventory.links, r, stack),
    ]),
  ];
  if (criteria.ifaceCanReach !== undefined) {
    const target = criteria.ifaceCanReach;
    attempts.push([`--iface-can-reach ${target}`, () => byRoute(inventory, target)]);
  }
  for (const [what, find] of attempts) {
    const found = find();
    const attempt = typeof found === 'string' ? fail(found) : complete(found, criteria, stack);
    if (attempt.ok) return attempt;
    tried.push(`${what}: ${attempt.message}`);
  }
  return fail(`no usable interface matches the given flags (${tried.join('; ')})`);
}

function byDefault(
  inventory: NetworkInventory,
  criteria: SelectionCriteria,
  stack: IpStack,
): Attempt {
  const fallback = defaultRouteLink(inventory, stack);
  // The public address that may name the interface: IPv4's, or IPv6's on an IPv6-only host.
  const [flag, publicIp] = stack.ipv4
    ? ['--public-ip', criteria.publicIp]
    : ['--public-ipv6', criteria.publicIpv6];
  if (publicIp !== undefined) {
    const owner = ownerOf(inventory.links, publicIp);
    const own = familyOf(publicIp) === 6 ? { address6: publicIp } : { address: publicIp };
    if (owner) {
      return complete({ link: owner, ...own, reason: `owns ${flag} ${publicIp}` }, criteria, stack);
    }
    const nat = `${flag} ${publicIp} is not assigned to any local interface, so it is treated as a NAT address`;
    if (typeof fallback === 'string') return fail(`${nat}, and ${fallback}: ${ADVICE}`);
    return complete({ ...fallback, reason: `${fallback.reason}; ${nat}` }, criteria, stack);
  }
  if (typeof fallback === 'string') return fail(`${fallback}: ${ADVICE}`);
  return complete(fallback, criteria, stack);
}

/** The first default route's interface, per enabled family (GetDefault[V6]GatewayInterface). */
function defaultRouteLink(inventory: NetworkInventory, stack: IpStack): Candidate | string {
  const v4 = stack.ipv4 ? firstRouteLink(inventory.links, inventory.defaultRoutes) : undefined;
  const v6 = stack.ipv6
    ? firstRouteLink(inventory.links, inventory.defaultRoutesV6 ?? [])
    : undefined;
  if (v4 === null) return 'there is no IPv4 default route to pick an interface by';
  if (v6 === null) return 'there is no IPv6 default route to pick an interface by';
  if (v4 && v6 && v4.link.ifname !== v6.link.ifname) {
    return (
      `the IPv6 default route leaves through ${v6.link.ifname} but the IPv4 one through ` +
      `${v4.link.ifname}; dual stack needs one interface for both (as upstream requires)`
    );
  }
  const parts = [v4 && `the default route${v4.via}`, v6 && `the IPv6 default route${v6.via}`];
  const link = (v4 ?? v6)!.link;
  return { link, reason: `carries ${parts.filter(Boolean).join(' and ')}` };
}

function firstRouteLink(
  links: readonly IpLink[],
  routes: readonly IpRoute[],
): { link: IpLink; via: string } | null {
  for (const route of routes) {
    // A multipath default route names its devices per next hop; take the first.
    const dev = route.dev ?? route.nexthops?.find((h) => h.dev !== undefined)?.dev;
    const link = links.find((l) => l.ifname === dev);
    if (link) return { link, via: route.gateway === undefined ? '' : ` via ${route.gateway}` };
  }
  return null;
}

function byIface(links: readonly IpLink[], entry: string): Candidate | string {
  if (parseIp(entry) === undefined) {
    const link = links.find((l) => l.ifname === entry);
    return link ? { link, reason: `matches --iface ${entry}` } : `no interface named ${entry}`;
  }
  const owner = ownerOf(links, entry);
  if (!owner) return `no interface has the address ${entry}`;
  // The named address is used for its family; the other family's is chosen as usual.
  const own = familyOf(entry) === 6 ? { address6: entry } : { address: entry };
  return { link: owner, ...own, reason: `has --iface address ${entry}` };
}

function byRegex(links: readonly IpLink[], pattern: string, stack: IpStack): Candidate | string {
  let regex: RegExp;
  try {
    regex = new RegExp(pattern);
  } catch {
    return 'not a valid regular expression';
  }
  const families = [stack.ipv4 && 'IPv4', stack.ipv6 && 'IPv6'].filter(Boolean).join(' and ');
  // Addresses first, then names, as upstream; only addresses flannel could use are matched.
  for (const link of links) {
    const addrs = link.addr_info ?? [];
    const v4 = stack.ipv4 ? addrs.find((a) => isUsableIpv4(a) && regex.test(a.local)) : undefined;
    const v6 = stack.ipv6 ? addrs.find((a) => isUsableIpv6(a) && regex.test(a.local)) : undefined;
    const hit = v4 ?? v6;
    if (hit)
      return {
        link,
        ...(v4 ? { address: v4.local } : {}),
        ...(v6 ? { address6: v6.local } : {}),
        reason: `its address ${hit.local} matches --iface-regex ${pattern}`,
      };
  }
  // Unlike upstream, a name match without the usable addresses does not end the search.
  const named = links.filter((l) => regex.test(l.ifname));
  const usable = named.find(
    (l) =>
      (!stack.ipv4 || pickIpv4Address(l) !== undefined) &&
      (!stack.ipv6 || pickIpv6Address(l) !== undefined),
  );
  if (usable) return { link: usable, reason: `its name matches --iface-regex ${pattern}` };
  const names = links.map((l) => l.ifname).join(', ');
  return named.length > 0
    ? `matching interfaces (${named.map((l) => l.ifname).join(', ')}) have no usable ${families} address`
    : `matches no ${families} address or name of the interfaces (${names})`;
}

function byRoute(inventory: NetworkInventory, target: string): Candidate | string {
  const lookup = inventory.canReach;
  if (!lookup) return 'the route was not looked up';
  if (!lookup.ok) return `no route: ${lookup.error}`;
  const link = inventory.links.find((l) => l.ifname === lookup.route.dev);
  if (!link)
    return `the route leaves through ${lookup.route.dev ?? 'no device'}, which is not an interface we know`;
  // The route's source address is what peers will see, so it wins over the interface's first one
  // (an IPv6 target gives the IPv6 source address).
  const src = lookup.route.prefsrc;
  const family = familyOf(src);
  return {
    link,
    ...(family === 4 ? { address: src } : family === 6 ? { address6: src } : {}),
    reason: `the route to ${target} leaves through it`,
  };
}

function complete(candidate: Candidate, criteria: SelectionCriteria, stack: IpStack): Attempt {
  const { link } = candidate;
  const address = stack.ipv4 ? (candidate.address ?? pickIpv4Address(link)) : undefined;
  if (stack.ipv4 && address === undefined) {
    return fail(
      `interface ${link.ifname} has no usable IPv4 address (global or link-local, not deprecated)`,
    );
  }
  const address6 = stack.ipv6 ? (candidate.address6 ?? pickIpv6Address(link)) : undefined;
  if (stack.ipv6 && address6 === undefined) {
    return fail(
      `interface ${link.ifname} has no usable IPv6 address (global or link-local, not deprecated), ` +
        'and the network config enables IPv6 (EnableIPv6)',
    );
  }
  const mtu = link.mtu ?? 0;
  if (mtu === 0)
    return fail(`failed to determine the MTU of interface ${link.ifname} (it reports 0)`);
  let reason = candidate.reason;
  if (address6 !== undefined) {
    const why = candidate.address6 !== undefined ? 'named by the flag' : PREFERENCE;
    reason += `; IPv6 address ${address6} (${why})`;
    if (criteria.publicIpv6 !== undefined)
      reason += `, advertising --public-ipv6 ${criteria.publicIpv6}`;
  }
  return {
    ok: true,
    choice: {
      name: link.ifname,
      index: link.ifindex,
      mtu,
      ...(address === undefined
        ? {}
        : { ipv4: { address, publicIp: criteria.publicIp ?? address } }),
      ...(address6 === undefined
        ? {}
        : { ipv6: { address: address6, publicIp: criteria.publicIpv6 ?? address6 } }),
      reason,
    },
  };
}

function ownerOf(links: readonly IpLink[], text: string): IpLink | undefined {
  const wanted = parseIp(text);
  if (!wanted) return undefined;
  return links.find((l) =>
    (l.addr_info ?? []).some((a) => {
      const ip = parseIp(a.local);
      return ip !== undefined && ipEquals(ip, wanted);
    }),
  );
}

function fail(message: string): Attempt {
  return { ok: false, message };
}
