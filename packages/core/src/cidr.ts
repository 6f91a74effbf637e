import { addressBits, formatIp, parseIp } from './ip';
import type { IpAddress, IpFamily } from './ip';

/** A network: address (host bits zero) and prefix length, for either family. */
export interface Cidr {
  readonly family: IpFamily;
  readonly address: bigint;
  readonly prefixLength: number;
}

/** Builds a CIDR, masking off host bits (as Go's IPNet parsing in flannel does). */
export function makeCidr(family: IpFamily, address: bigint, prefixLength: number): Cidr {
  const bits = addressBits(family);
  const hostBits = BigInt(bits - prefixLength);
  const masked = (address >> hostBits) << hostBits;
  return { family, address: masked, prefixLength };
}

/**
 * Parses `a.b.c.d/n` or `v6/n`. Host bits are masked off (`10.5.100.1/24` ⇒ `10.5.100.0/24`).
 * Returns undefined when the text is not a CIDR of a supported family.
 */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(lenText)) return undefined;
  const prefixLength = Number(lenText);
  if (prefixLength > addressBits(ip.family)) return undefined;
  return makeCidr(ip.family, ip.value, prefixLength);
}

/** `10.5.0.0/16`, `fd00::/56`. */
export function formatCidr(cidr: Cidr): string {
  return `${formatIp(cidrIp(cidr))}/${cidr.prefixLength}`;
}

/** The network address as an IpAddress. */
export function cidrIp(cidr: Cidr): IpAddress {
  return { family: cidr.family, value: cidr.address };
}

/** The n-th address inside the network (0 = network address). */
export function cidrNth(cidr: Cidr, n: bigint): IpAddress {
  return { family: cidr.family, value: cidr.address + n };
}

/** Number of addresses the network spans. */
export function cidrSize(cidr: Cidr): bigint {
  return 1n << BigInt(addressBits(cidr.family) - cidr.prefixLength);
}

/** The last address of the network. */
export function cidrLast(cidr: Cidr): bigint {
  return cidr.address + cidrSize(cidr) - 1n;
}

/** True when the address lies inside the network. */
export function cidrContainsIp(cidr: Cidr, ip: IpAddress): boolean {
  return ip.family === cidr.family && ip.value >= cidr.address && ip.value <= cidrLast(cidr);
}

/** True when `inner` lies entirely inside `outer`. */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return (
    outer.family === inner.family &&
    inner.prefixLength >= outer.prefixLength &&
    inner.address >= outer.address &&
    cidrLast(inner) <= cidrLast(outer)
  );
}

/** True when the two networks share at least one address. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.address <= cidrLast(b) && b.address <= cidrLast(a);
}

/** True when both networks are identical. */
export function cidrEquals(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.address === b.address && a.prefixLength === b.prefixLength;
}
