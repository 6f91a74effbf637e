import type { ExternalInterface } from '@flannel-ts/backend';
import { ipEquals, parseIp, parseIpv4 } from '@flannel-ts/core';
import type { Config } from './config';
import type { IpAddrInfo, IpLink, NetworkInventory } from './network-inventory';

/** The flags that steer the choice. A {@link Config} is one. */
export type SelectionCriteria = Pick<Config, 'iface' | 'ifaceRegex' | 'ifaceCanReach' | 'publicIp'>;

/** The external interface: what backends bind to and what peers reach us at. */
export interface InterfaceChoice extends ExternalInterface {
  /** Why this interface won, for the startup log. */
  readonly reason: string;
}

/** Outcome of {@link selectInterface}; failures name everything that was tried. */
export type InterfaceSelection =
  | { readonly ok: true; readonly choice: InterfaceChoice }
  | { readonly ok: false; readonly message: string };

/** A candidate interface before its address and MTU are checked. */
interface Candidate {
  readonly link: IpLink;
  readonly address?: string;
  readonly reason: string;
}
type Attempt = InterfaceSelection;

const ADVICE = 'pass --iface or --iface-can-reach to choose one';

/**
 * Picks the external interface (port of flannel main.go's interface lookup and LookupExtIface,
 * SPEC 3 step 8): `--iface` entries in order, then `--iface-regex`, then `--iface-can-reach`; with
 * none of them, the default-route interface. One deliberate change: with `--public-ip` and no
 * `--iface*`, an interface owning that IP wins, but when none owns it (NAT, or several agents on
 * one test host) we fall back to the default-route interface instead of failing.
 */
export function selectInterface(
  inventory: NetworkInventory,
  criteria: SelectionCriteria,
): InterfaceSelection {
  const explicit =
    criteria.iface.length > 0 ||
    criteria.ifaceRegex.length > 0 ||
    criteria.ifaceCanReach !== undefined;
  if (!explicit) return byDefault(inventory, criteria.publicIp);

  const tried: string[] = [];
  const attempts: [string, () => Candidate | string][] = [
    ...criteria.iface.map((e): [string, () => Candidate | string] => [
      `--iface ${e}`,
      () => byIface(inventory.links, e),
    ]),
    ...criteria.ifaceRegex.map((r): [string, () => Candidate | string] => [
      `--iface-regex ${r}`,
      () => byRegex(inventory.links, r),
    ]),
  ];
  if (criteria.ifaceCanReach !== undefined) {
    const target = criteria.ifaceCanReach;
    attempts.push([`--iface-can-reach ${target}`, () => byRoute(inventory, target)]);
  }
  for (const [what, find] of attempts) {
    const found = find();
    const attempt = typeof found === 'string' ? fail(found) : complete(found, criteria.publicIp);
    if (attempt.ok) return attempt;
    tried.push(`${what}: ${attempt.message}`);
  }
  return fail(`no usable interface matches the given flags (${tried.join('; ')})`);
}

/**
 * The address flannel would use on a link: the first IPv4 address that is global unicast or link
 * local and not deprecated, preferring global over link-local, permanent over dynamic and
 * non-temporary over temporary (flannel pkg/ip GetInterfaceIP4Addr).
 */
export function pickIpv4Address(link: IpLink): string | undefined {
  const rank = (a: IpAddrInfo): number =>
    (isLinkLocal(a.local) ? 4 : 0) + (a.dynamic ? 2 : 0) + (a.temporary ? 1 : 0);
  const usable = (link.addr_info ?? []).filter((a) => isUsableIpv4(a));
  // Array.prototype.sort is stable, so equal ranks keep the kernel's order.
  return [...usable].sort((a, b) => rank(a) - rank(b))[0]?.local;
}

function byDefault(inventory: NetworkInventory, publicIp: string | undefined): Attempt {
  const fallback = defaultRouteLink(inventory);
  if (publicIp !== undefined) {
    const owner = ownerOf(inventory.links, publicIp);
    if (owner)
      return complete(
        { link: owner, address: publicIp, reason: `owns --public-ip ${publicIp}` },
        publicIp,
      );
    const nat = `--public-ip ${publicIp} is not assigned to any local interface, so it is treated as a NAT address`;
    if (typeof fallback === 'string') return fail(`${nat}, and ${fallback}: ${ADVICE}`);
    return complete({ ...fallback, reason: `${fallback.reason}; ${nat}` }, publicIp);
  }
  if (typeof fallback === 'string') return fail(`${fallback}: ${ADVICE}`);
  return complete(fallback, undefined);
}

function defaultRouteLink(inventory: NetworkInventory): Candidate | string {
  for (const route of inventory.defaultRoutes) {
    // A multipath default route names its devices per next hop; take the first.
    const dev = route.dev ?? route.nexthops?.find((h) => h.dev !== undefined)?.dev;
    const link = inventory.links.find((l) => l.ifname === dev);
    if (link) {
      const via = route.gateway === undefined ? '' : ` via ${route.gateway}`;
      return { link, reason: `carries the default route${via}` };
    }
  }
  return 'there is no IPv4 default route to pick an interface by';
}

function byIface(links: readonly IpLink[], entry: string): Candidate | string {
  if (parseIp(entry) === undefined) {
    const link = links.find((l) => l.ifname === entry);
    return link ? { link, reason: `matches --iface ${entry}` } : `no interface named ${entry}`;
  }
  const owner = ownerOf(links, entry);
  if (!owner) return `no interface has the address ${entry}`;
  // An IPv6 entry picks the interface; its IPv4 address is chosen as usual.
  const address = parseIpv4(entry) === undefined ? undefined : entry;
  return {
    link: owner,
    ...(address === undefined ? {} : { address }),
    reason: `has --iface address ${entry}`,
  };
}

function byRegex(links: readonly IpLink[], pattern: string): Candidate | string {
  let regex: RegExp;
  try {
    regex = new RegExp(pattern);
  } catch {
    return 'not a valid regular expression';
  }
  // Addresses first, then names, as upstream; only addresses flannel could use are matched.
  for (const link of links) {
    const hit = (link.addr_info ?? []).find((a) => isUsableIpv4(a) && regex.test(a.local));
    if (hit)
      return {
        link,
        address: hit.local,
        reason: `its address ${hit.local} matches --iface-regex ${pattern}`,
      };
  }
  // Unlike upstream, a name match without a usable IPv4 address does not end the search.
  const named = links.filter((l) => regex.test(l.ifname));
  const usable = named.find((l) => pickIpv4Address(l) !== undefined);
  if (usable) return { link: usable, reason: `its name matches --iface-regex ${pattern}` };
  const names = links.map((l) => l.ifname).join(', ');
  return named.length > 0
    ? `matching interfaces (${named.map((l) => l.ifname).join(', ')}) have no usable IPv4 address`
    : `matches no IPv4 address or name of the interfaces (${names})`;
}

function byRoute(inventory: NetworkInventory, target: string): Candidate | string {
  const lookup = inventory.canReach;
  if (!lookup) return 'the route was not looked up';
  if (!lookup.ok) return `no route: ${lookup.error}`;
  const link = inventory.links.find((l) => l.ifname === lookup.route.dev);
  if (!link)
    return `the route leaves through ${lookup.route.dev ?? 'no device'}, which is not an interface we know`;
  // The route's source address is what peers will see, so it wins over the interface's first one.
  const src = lookup.route.prefsrc;
  const address = src !== undefined && parseIpv4(src) !== undefined ? src : undefined;
  return {
    link,
    ...(address === undefined ? {} : { address }),
    reason: `the route to ${target} leaves through it`,
  };
}

function complete(candidate: Candidate, publicIp: string | undefined): Attempt {
  const { link } = candidate;
  const address = candidate.address ?? pickIpv4Address(link);
  if (address === undefined) {
    return fail(
      `interface ${link.ifname} has no usable IPv4 address (global or link-local, not deprecated)`,
    );
  }
  const mtu = link.mtu ?? 0;
  if (mtu === 0)
    return fail(`failed to determine the MTU of interface ${link.ifname} (it reports 0)`);
  return {
    ok: true,
    choice: {
      name: link.ifname,
      index: link.ifindex,
      mtu,
      ipv4: { address, publicIp: publicIp ?? address },
      reason: candidate.reason,
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

/** Go's IsGlobalUnicast or IsLinkLocalUnicast, for a non-deprecated IPv4 address. */
function isUsableIpv4(a: IpAddrInfo): boolean {
  const ip = a.family === 'inet' && a.deprecated !== true ? parseIpv4(a.local) : undefined;
  if (!ip) return false;
  const v = Number(ip.value);
  const first = v >>> 24;
  return v !== 0 && v !== 0xffffffff && first !== 127 && (first < 224 || first >= 240);
}

function isLinkLocal(text: string): boolean {
  return text.startsWith('169.254.');
}

function fail(message: string): Attempt {
  return { ok: false, message };
}
