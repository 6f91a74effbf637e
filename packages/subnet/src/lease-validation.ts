import type { Cidr, Lease, LeaseAttrs, SubnetPair } from '@flannel-ts/core';
import {
  cidrContains,
  cidrContainsIp,
  cidrsOverlap,
  decodeLeaseAttrs,
  formatCidr,
  formatSubnetKey,
  parseCidr,
  parseIp,
  parseSubnetKey,
} from '@flannel-ts/core';
import type { SubnetRange } from './network-config';

/**
 * Why a lease is not used: the field at fault (`key`, `value`, `PublicIP`, `PublicIPv6`,
 * `BackendType`), the rule it breaks (a fixed text, so `field rule` can label a metric) and the
 * specifics of this lease.
 */
export interface LeaseRejection {
  readonly field: string;
  readonly rule: string;
  readonly detail?: string | undefined;
}

/**
 * The largest lease value read (64 KiB). Upstream's values are under 300 bytes; the limit only keeps
 * a hostile or broken writer from making every agent parse and hold megabytes. A value over it is
 * rejected like any other invalid lease (its peer treated as absent), not programmed.
 */
export const MAX_LEASE_VALUE_BYTES = 64 * 1024;

/** What a peer lease is checked against: the network config, this host's lease and its backend. */
export interface PeerLeaseContext {
  readonly network: {
    readonly ipv4?: SubnetRange | undefined;
    readonly ipv6?: SubnetRange | undefined;
  };
  readonly own: {
    readonly subnets: SubnetPair;
    readonly publicIp: string;
    /** Our `PublicIPv6`, when known: an IPv6-only peer claiming it is rejected. */
    readonly publicIpv6?: string | null | undefined;
  };
  readonly backendType: string;
}

/** A lease read from a raw key and value, or why it cannot be one. @see readLeaseKeyValue */
export type LeaseRead =
  | { readonly ok: true; readonly subnets: SubnetPair; readonly attrs: LeaseAttrs }
  | ({ readonly ok: false } & LeaseRejection);

function hasHostBits(text: string, cidr: Cidr): boolean {
  const [addr = ''] = text.split('-');
  const ip = parseIp(addr);
  return ip !== undefined && ip.value !== cidr.address;
}

/**
 * Reads a raw lease key (the last path segment counts) strictly: a subnet key in canonical form
 * without host bits. Watch deletes must use it too: read leniently, deleting `10.42.212.5-24` would
 * remove the real peer `10.42.212.0-24`.
 */
export function readLeaseKey(key: string): SubnetPair | LeaseRejection {
  const name = key.slice(key.lastIndexOf('/') + 1);
  const subnets = parseSubnetKey(name);
  if (!subnets) return { field: 'key', rule: 'is not a subnet key such as 10.5.34.0-24' };
  const canonical = formatSubnetKey(subnets);
  if (canonical === name) return subnets;
  const [v4 = '', v6 = ''] = name.split('&');
  const hostBits =
    hasHostBits(v4, subnets.ipv4) || (!!subnets.ipv6 && hasHostBits(v6, subnets.ipv6));
  const rule = hostBits ? 'has host bits set' : 'is not in canonical form';
  return { field: 'key', rule, detail: `the subnet's key is ${canonical}` };
}

/**
 * Reads a raw key and value as stored: the key as {@link readLeaseKey} does, the value at most
 * {@link MAX_LEASE_VALUE_BYTES} and a lease.
 */
export function readLeaseKeyValue(key: string, value: string | Uint8Array): LeaseRead {
  const subnets = readLeaseKey(key);
  if ('field' in subnets) return { ok: false, ...subnets };
  const bytes = typeof value === 'string' ? Buffer.byteLength(value) : value.byteLength;
  if (bytes > MAX_LEASE_VALUE_BYTES) {
    const detail = `${bytes} bytes`;
    return { ok: false, field: 'value', rule: 'is larger than 64 KiB', detail };
  }
  const decoded = decodeLeaseAttrs(
    typeof value === 'string' ? value : Buffer.from(value).toString(),
  );
  if (!decoded.ok)
    return { ok: false, field: decoded.field, rule: decoded.rule, detail: decoded.detail };
  return { ok: true, subnets, attrs: decoded.attrs };
}

/** Address blocks a peer's PublicIP must not be in: a VXLAN/host-gw peer must be a unicast host. */
const NOT_UNICAST: readonly (readonly [Cidr, string])[] = [
  ['0.0.0.0/8', '"this network"'],
  ['127.0.0.0/8', 'loopback'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved'],
].map(([c, what]) => [parseCidr(c as string) as Cidr, what as string] as const);

function checkSubnet(
  s: Cidr | undefined,
  range: SubnetRange | undefined,
  names: readonly [string, string],
): LeaseRejection | undefined {
  if (!s || !range) return undefined;
  if (!cidrContains(range.network, s)) {
    const detail = `${formatCidr(s)} is not inside ${formatCidr(range.network)}`;
    return { field: 'key', rule: `is outside the configured ${names[0]}`, detail };
  }
  if (s.prefixLength !== range.subnetLen) {
    const detail = `/${s.prefixLength}, expected /${range.subnetLen}`;
    return { field: 'key', rule: `does not have the configured ${names[1]}`, detail };
  }
  return undefined;
}

/**
 * Checks a peer's lease before anything of it is programmed (pure). The key must be a subnet of the
 * configured Network with its SubnetLen (IPv6 likewise when enabled) and must not overlap our own;
 * `PublicIP` must be present, a unicast IPv4 address, and not ours; `BackendType` must be ours.
 *
 * Reservations (keys without a TTL) get the same rules: upstream uses a reservation only when it
 * fits SubnetMin..SubnetMax and SubnetLen (local_manager.go isSubnetConfigCompat, SPEC 2.2) and
 * deletes it otherwise, so every reservation upstream accepts lies in the Network with the SubnetLen
 * and passes here. SubnetMin/SubnetMax are not enforced on peers: narrowing them must not cut off
 * hosts that still hold leases from before.
 *
 * Our own lease (same key) is not a peer; callers leave it out before asking.
 * @returns undefined when the lease may be programmed, else the first rule it breaks
 */
export function validatePeerLease(lease: Lease, ctx: PeerLeaseContext): LeaseRejection | undefined {
  const { subnets, attrs } = lease;
  // IPv6-only network: every key's IPv4 part is 0.0.0.0/0, so only the IPv6 parts count.
  if (!ctx.network.ipv4 && ctx.network.ipv6) return validateIpv6OnlyPeer(lease, ctx);
  const bad =
    checkSubnet(subnets.ipv4, ctx.network.ipv4, ['Network', 'SubnetLen']) ??
    checkSubnet(subnets.ipv6, ctx.network.ipv6, ['IPv6Network', 'IPv6SubnetLen']);
  if (bad) return bad;
  const own = ctx.own.subnets;
  const v6Overlap = !!subnets.ipv6 && !!own.ipv6 && cidrsOverlap(subnets.ipv6, own.ipv6);
  if (cidrsOverlap(subnets.ipv4, own.ipv4) || v6Overlap) {
    return { field: 'key', rule: 'overlaps our own subnet', detail: formatSubnetKey(own) };
  }
  const ip = parseIp(attrs.publicIp);
  if (ip?.value === 0n) return { field: 'PublicIP', rule: 'is missing or 0.0.0.0' };
  const blocked = ip && NOT_UNICAST.find(([c]) => cidrContainsIp(c, ip));
  if (!ip || blocked) {
    const detail = `${attrs.publicIp} is ${blocked?.[1] ?? 'not an IPv4 address'}`;
    return { field: 'PublicIP', rule: 'is not a unicast IPv4 address', detail };
  }
  if (attrs.publicIp === ctx.own.publicIp) {
    return { field: 'PublicIP', rule: 'is our own public IP', detail: attrs.publicIp };
  }
  // A dual-stack peer's IPv6 half: its address must be usable (the decoder checked the family).
  if (subnets.ipv6 && attrs.publicIpv6 !== null) {
    const v6 = checkPublicIpv6(attrs.publicIpv6);
    if (v6) return v6;
  }
  return checkBackendType(attrs, ctx);
}

/** An IPv6-only peer: an IPv6 subnet of the IPv6Network and a unicast `PublicIPv6` of its own. */
function validateIpv6OnlyPeer(lease: Lease, ctx: PeerLeaseContext): LeaseRejection | undefined {
  const { subnets, attrs } = lease;
  if (!subnets.ipv6) {
    return { field: 'key', rule: 'has no IPv6 subnet in an IPv6-only network' };
  }
  const bad = checkSubnet(subnets.ipv6, ctx.network.ipv6, ['IPv6Network', 'IPv6SubnetLen']);
  if (bad) return bad;
  const own = ctx.own.subnets.ipv6;
  if (own && cidrsOverlap(subnets.ipv6, own)) {
    return {
      field: 'key',
      rule: 'overlaps our own subnet',
      detail: formatSubnetKey(ctx.own.subnets),
    };
  }
  if (attrs.publicIpv6 === null) return { field: 'PublicIPv6', rule: 'is missing' };
  const v6 = checkPublicIpv6(attrs.publicIpv6);
  if (v6) return v6;
  if (ctx.own.publicIpv6 !== undefined && attrs.publicIpv6 === ctx.own.publicIpv6) {
    return { field: 'PublicIPv6', rule: 'is our own public IP', detail: attrs.publicIpv6 };
  }
  return checkBackendType(attrs, ctx);
}

const NOT_UNICAST_V6: readonly (readonly [Cidr, string])[] = [
  [parseCidr('::/128')!, 'the unspecified address'],
  [parseCidr('::1/128')!, 'the loopback address'],
  [parseCidr('ff00::/8')!, 'multicast'],
];

function checkPublicIpv6(text: string): LeaseRejection | undefined {
  const ip = parseIp(text);
  const blocked = ip && NOT_UNICAST_V6.find(([c]) => cidrContainsIp(c, ip));
  if (ip?.family === 6 && !blocked) return undefined;
  const detail = `${text} is ${blocked?.[1] ?? 'not an IPv6 address'}`;
  return { field: 'PublicIPv6', rule: 'is not a unicast IPv6 address', detail };
}

function checkBackendType(attrs: LeaseAttrs, ctx: PeerLeaseContext): LeaseRejection | undefined {
  if ((attrs.backendType ?? '') !== ctx.backendType) {
    const detail = `${JSON.stringify(attrs.backendType ?? '')}, this network uses ${JSON.stringify(ctx.backendType)}`;
    return { field: 'BackendType', rule: 'is not the backend of this network', detail };
  }
  return undefined;
}
