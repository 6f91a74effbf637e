import type { Cidr, SubnetPair } from '@flannel-ts/core';
import {
  NO_IPV4_SUBNET,
  cidrEquals,
  cidrsOverlap,
  formatCidr,
  formatIp,
  isIpv6Only,
  isReservation,
  leaseHolder,
  makeCidr,
  sameSubnets,
} from '@flannel-ts/core';
import type { StoredLease } from './lease-store';
import type { NetworkConfig, SubnetRange } from './network-config';

/** What the allocator decided; the lease manager carries it out against the store. */
export type AllocationDecision =
  /**
   * A lease for our public IP exists and fits the config: keep its subnet (SPEC 2.2 step 1).
   * `others` are further keys carrying our public IP, left as they are (to be warned about).
   */
  | {
      readonly kind: 'reuse';
      readonly lease: StoredLease;
      readonly others: readonly StoredLease[];
    }
  /** A TTL lease for our public IP no longer fits the config: delete it, then decide again. */
  | { readonly kind: 'remove-incompatible'; readonly lease: StoredLease }
  /** Create this lease (create-if-absent); `source` says why this subnet. */
  | {
      readonly kind: 'create';
      readonly subnets: SubnetPair;
      readonly source: 'previous' | 'random';
    }
  | { readonly kind: 'exhausted'; readonly message: string };

/** Inputs of {@link decideAllocation}. */
export interface AllocationInput {
  readonly config: NetworkConfig;
  readonly leases: readonly StoredLease[];
  /** Whose leases are ours: our `PublicIP`, or on an IPv6-only host our `PublicIPv6` (leaseHolder). */
  readonly publicIp: string;
  /**
   * Our `PublicIPv6`, when IPv6 is enabled: an IPv6-only lease (`0.0.0.0-0&…`) carrying it is ours
   * too, left from before IPv4 was enabled (it no longer fits, so it is deleted).
   */
  readonly publicIpv6?: string | null | undefined;
  /** Subnets from the previous subnet file, if it was readable. */
  readonly previous?: SubnetPair | undefined;
  /** Keys that exist but hold no readable lease (a broken value): their subnets are not free. */
  readonly occupied?: readonly SubnetPair[] | undefined;
  /** Uniform random number in [0, 1). */
  readonly random: () => number;
}

function subnetSize(range: SubnetRange): bigint {
  const bits = range.network.family === 4 ? 32 : 128;
  return 1n << BigInt(bits - range.subnetLen);
}

function fits(range: SubnetRange | undefined, subnet: Cidr | undefined): boolean {
  if (!range) return subnet === undefined;
  return (
    subnet !== undefined &&
    subnet.family === range.network.family &&
    subnet.prefixLength === range.subnetLen &&
    subnet.address >= range.subnetMin &&
    subnet.address <= range.subnetMax
  );
}

/**
 * True when the subnets fit the configured ranges (SPEC 2.2: prefix, range, IPv6 presence). With
 * IPv4 disabled the IPv4 part must be `0.0.0.0/0`, the only one upstream's all-zero range admits
 * (local_manager.go isSubnetConfigCompat).
 */
export function fitsConfig(config: NetworkConfig, subnets: SubnetPair): boolean {
  const v4 = config.ipv4
    ? fits(config.ipv4, subnets.ipv4)
    : cidrEquals(subnets.ipv4, NO_IPV4_SUBNET);
  return v4 && fits(config.ipv6, subnets.ipv6);
}

function taken(leases: readonly { subnets: SubnetPair }[], family: 4 | 6): Cidr[] {
  return leases.flatMap((l) => {
    // An IPv6-only key's 0.0.0.0/0 is no IPv4 subnet: it must not block the whole IPv4 range.
    if (family === 4 && isIpv6Only(l.subnets)) return [];
    const s = family === 4 ? l.subnets.ipv4 : l.subnets.ipv6;
    return s ? [s] : [];
  });
}

/**
 * Which of the keys carrying our public IP is ours (issue 8): the previous subnet file's subnet
 * when etcd still has it for us, else our TTL lease, else a reservation; only ones that fit the
 * config. Without this order, the first key in etcd's order won, and a reservation beside our real
 * lease made us take a new subnet and program our old one as a peer pointing at ourselves.
 */
function chooseOwn(
  mine: readonly StoredLease[],
  config: NetworkConfig,
  previous: SubnetPair | undefined,
): StoredLease | undefined {
  const usable = mine.filter((l) => fitsConfig(config, l.subnets));
  return (
    (previous && usable.find((l) => sameSubnets(l.subnets, previous))) ??
    usable.find((l) => !isReservation(l)) ??
    usable[0]
  );
}

/**
 * Picks uniformly among ALL free subnets of the range (SPEC D2; upstream only looks at the first
 * 100). Cost is O(leases · log leases), independent of the range's size, so a /8 of /28s is fine.
 */
export function pickFreeSubnet(
  range: SubnetRange,
  used: readonly Cidr[],
  random: () => number,
): { subnet?: Cidr; total: bigint; free: bigint } {
  const size = subnetSize(range);
  const total = (range.subnetMax - range.subnetMin) / size + 1n;
  // Indices of candidate subnets that any existing lease overlaps (any size, any owner, reservations too).
  const blocked = new Set<bigint>();
  for (const u of used) {
    if (u.family !== range.network.family) continue;
    const last = u.address + (1n << BigInt((u.family === 4 ? 32 : 128) - u.prefixLength)) - 1n;
    if (last < range.subnetMin || u.address > range.subnetMax + size - 1n) continue;
    const first = u.address < range.subnetMin ? 0n : (u.address - range.subnetMin) / size;
    const end = last > range.subnetMax ? total - 1n : (last - range.subnetMin) / size;
    for (let i = first; i <= end && blocked.size <= total; i++) blocked.add(i);
  }
  const free = total - BigInt(blocked.size);
  if (free <= 0n) return { total, free: 0n };
  let k = BigInt(Math.floor(random() * Number(free)));
  if (k >= free) k = free - 1n;
  // The k-th free index: walk the blocked indices in order, skipping over them.
  let index = k;
  for (const b of [...blocked].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))) {
    if (b <= index) index++;
    else break;
  }
  const subnet = makeCidr(range.network.family, range.subnetMin + index * size, range.subnetLen);
  return { subnet, total, free };
}

function exhaustedMessage(range: SubnetRange, total: bigint): string {
  const f = range.network.family;
  return (
    `out of subnets: all ${total} /${range.subnetLen} subnets of ${formatCidr(range.network)} ` +
    `from ${formatIp({ family: f, value: range.subnetMin })} to ${formatIp({ family: f, value: range.subnetMax })} ` +
    `are taken (${total} leases or reservations); widen Network or SubnetMin/SubnetMax, or delete dead leases`
  );
}

/**
 * Decides which lease this host should hold (port of flannel pkg/subnet/etcd/local_manager.go
 * tryAcquireLease, with SPEC D1-D3): our public IP's lease, else the previous subnet if free, else a
 * random free subnet. Pure: the caller applies the decision and asks again after a lost race.
 */
export function decideAllocation(input: AllocationInput): AllocationDecision {
  const { config } = input;
  const ourV6 = input.publicIpv6;
  const mine = input.leases.filter(
    (l) =>
      leaseHolder(l.attrs) === input.publicIp ||
      (!!ourV6 && isIpv6Only(l.subnets) && l.attrs.publicIpv6 === ourV6),
  );
  const ours = chooseOwn(mine, config, input.previous);
  if (ours) return { kind: 'reuse', lease: ours, others: mine.filter((l) => l !== ours) };
  // None fits: a TTL lease of ours is deleted, then we decide again. A reservation is an
  // administrator's statement; never delete it, just do not use it.
  const stale = mine.find((l) => !isReservation(l));
  if (stale) return { kind: 'remove-incompatible', lease: stale };
  const leases = [...input.leases, ...(input.occupied ?? []).map((subnets) => ({ subnets }))];
  const prev = input.previous;
  if (prev && fitsConfig(config, prev)) {
    const overlaps = (s: Cidr | undefined, fam: 4 | 6): boolean =>
      s !== undefined && taken(leases, fam).some((t) => cidrsOverlap(t, s));
    // IPv6-only keys all carry 0.0.0.0/0: only the IPv6 part tells them apart.
    if (!(config.ipv4 && overlaps(prev.ipv4, 4)) && !overlaps(prev.ipv6, 6)) {
      return { kind: 'create', subnets: prev, source: 'previous' };
    }
  }
  const pick = (range: SubnetRange): Cidr | AllocationDecision => {
    const r = pickFreeSubnet(range, taken(leases, range.network.family), input.random);
    return r.subnet ?? { kind: 'exhausted', message: exhaustedMessage(range, r.total) };
  };
  // Each enabled family is picked independently. IPv6-only: the key's IPv4 part is 0.0.0.0/0 as
  // upstream writes it, but the subnet is picked from the IPv6 range alone. (Upstream also picks
  // the all-zero IPv4 "range", which the first host's 0.0.0.0/0 fills: only one host fits.)
  const v4 = config.ipv4 ? pick(config.ipv4) : undefined;
  if (v4 && 'kind' in v4) return v4;
  const v6 = config.ipv6 ? pick(config.ipv6) : undefined;
  if (v6 && 'kind' in v6) return v6;
  if (!v4 && !v6) return { kind: 'exhausted', message: 'neither IPv4 nor IPv6 is enabled' };
  return { kind: 'create', subnets: { ipv4: v4 ?? NO_IPV4_SUBNET, ipv6: v6 }, source: 'random' };
}
