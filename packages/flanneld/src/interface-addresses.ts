import { parseIpv4, parseIp } from '@flannel-ts/core';
import type { IpAddrInfo, IpLink } from './network-inventory';

/** Which address families the network config enables (EnableIPv4 / EnableIPv6). */
export interface IpStack {
  readonly ipv4: boolean;
  readonly ipv6: boolean;
}

/** IPv4 alone: the stack of a network config without EnableIPv6. */
export const IPV4_STACK: IpStack = { ipv4: true, ipv6: false };

/** Why a picked address won among the link's usable ones, for the start-up log. */
export const PREFERENCE =
  'global before link-local, permanent before dynamic, non-temporary before temporary';

/**
 * The address flannel would use on a link: the first IPv4 address that is global unicast or link
 * local and not deprecated, preferring global over link-local, permanent over dynamic and
 * non-temporary over temporary (flannel pkg/ip/iface.go GetInterfaceIP4Addrs and compareAddrs).
 */
export function pickIpv4Address(link: IpLink): string | undefined {
  return pick(link, isUsableIpv4, (a) => a.local.startsWith('169.254.'));
}

/**
 * The same choice among IPv6 addresses (flannel pkg/ip/iface.go GetInterfaceIP6Addrs): global
 * unicast (ULAs included, as Go's IsGlobalUnicast) or link-local (fe80::/10), not deprecated; global
 * first, then permanent, then non-temporary.
 */
export function pickIpv6Address(link: IpLink): string | undefined {
  return pick(link, isUsableIpv6, (a) => isIpv6LinkLocal(a.local));
}

function pick(
  link: IpLink,
  usable: (a: IpAddrInfo) => boolean,
  linkLocal: (a: IpAddrInfo) => boolean,
): string | undefined {
  const rank = (a: IpAddrInfo): number =>
    (linkLocal(a) ? 4 : 0) + (a.dynamic ? 2 : 0) + (a.temporary ? 1 : 0);
  // Array.prototype.sort is stable, so equal ranks keep the kernel's order.
  return [...(link.addr_info ?? []).filter(usable)].sort((a, b) => rank(a) - rank(b))[0]?.local;
}

/** Go's IsGlobalUnicast or IsLinkLocalUnicast, for a non-deprecated IPv4 address. */
export function isUsableIpv4(a: IpAddrInfo): boolean {
  const ip = a.family === 'inet' && a.deprecated !== true ? parseIpv4(a.local) : undefined;
  if (!ip) return false;
  const v = Number(ip.value);
  const first = v >>> 24;
  return v !== 0 && v !== 0xffffffff && first !== 127 && (first < 224 || first >= 240);
}

/** Go's IsGlobalUnicast or IsLinkLocalUnicast, for a non-deprecated IPv6 address. */
export function isUsableIpv6(a: IpAddrInfo): boolean {
  const ip = a.family === 'inet6' && a.deprecated !== true ? parseIp(a.local) : undefined;
  if (ip?.family !== 6) return false;
  // Not ::, not ::1, not multicast (ff00::/8).
  return ip.value > 1n && ip.value >> 120n !== 0xffn;
}

function isIpv6LinkLocal(text: string): boolean {
  const ip = parseIp(text);
  return ip?.family === 6 && ip.value >> 118n === 0x3fan;
}

/** The family of an address text, or undefined when it is none. */
export function familyOf(text: string | undefined): 4 | 6 | undefined {
  return text === undefined ? undefined : parseIp(text)?.family;
}
