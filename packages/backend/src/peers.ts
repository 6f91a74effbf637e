import type { Cidr, IpFamily, Lease } from '@flannel-ts/core';
import { cidrContainsIp, formatCidr, parseCidr, parseIp } from '@flannel-ts/core';
import type { ExternalInterface } from './backend';
import type { IpRunner } from './ip-runner';
import { linkAddresses, readLink } from './links';
import type { LinkInfo } from './links';

/** The networks of one family directly connected to a link (its addresses' prefixes). */
export function connectedNetworks(link: LinkInfo, family: IpFamily = 4): Cidr[] {
  return linkAddresses(link, family).flatMap((a) => {
    const c = parseCidr(`${a.local}/${a.prefixlen}`);
    return c ? [c] : [];
  });
}

/**
 * The external interface's connected networks of one family: as interface selection read them,
 * or read now.
 */
export async function connectedTo(
  ip: IpRunner,
  iface: ExternalInterface,
  signal?: AbortSignal,
  family: IpFamily = 4,
): Promise<readonly Cidr[]> {
  const known = (family === 6 ? iface.ipv6 : iface.ipv4)?.connected;
  if (known) return known;
  const link = await readLink(ip, iface.name, signal);
  return link ? connectedNetworks(link, family) : [];
}

/** True when `ip` is on one of the connected networks, i.e. reachable without a router. */
export function isOnLink(ip: string, networks: readonly Cidr[]): boolean {
  const addr = parseIp(ip);
  return addr !== undefined && networks.some((n) => cidrContainsIp(n, addr));
}

/**
 * `10.5.3.0/24 (192.0.2.3)` for messages; an IPv6-only peer (its key's IPv4 part `0.0.0.0/0`, no
 * PublicIP) by its IPv6 subnet and PublicIPv6: `fd00:5:3::/64 (fc00::3)`.
 */
export function describePeer(lease: Lease): string {
  const { subnets, attrs } = lease;
  if (subnets.ipv4.prefixLength === 0 && subnets.ipv6 && attrs.publicIpv6) {
    return `${formatCidr(subnets.ipv6)} (${attrs.publicIpv6})`;
  }
  return `${formatCidr(subnets.ipv4)} (${attrs.publicIp})`;
}
