import type { Cidr, Lease } from '@flannel-ts/core';
import { cidrContainsIp, formatCidr, parseCidr, parseIp } from '@flannel-ts/core';
import type { ExternalInterface } from './backend';
import type { IpRunner } from './ip-runner';
import { readLink } from './links';
import type { LinkInfo } from './links';

/** The IPv4 networks directly connected to a link (its addresses' prefixes). */
export function connectedNetworks(link: LinkInfo): Cidr[] {
  return link.ipv4.flatMap((a) => {
    const c = parseCidr(`${a.local}/${a.prefixlen}`);
    return c ? [c] : [];
  });
}

/** The external interface's connected networks: as interface selection read them, or read now. */
export async function connectedTo(
  ip: IpRunner,
  iface: ExternalInterface,
  signal?: AbortSignal,
): Promise<readonly Cidr[]> {
  if (iface.ipv4?.connected) return iface.ipv4.connected;
  const link = await readLink(ip, iface.name, signal);
  return link ? connectedNetworks(link) : [];
}

/** True when `ip` is on one of the connected networks, i.e. reachable without a router. */
export function isOnLink(ip: string, networks: readonly Cidr[]): boolean {
  const addr = parseIp(ip);
  return addr !== undefined && networks.some((n) => cidrContainsIp(n, addr));
}

/** `10.5.3.0/24 (192.0.2.3)` for messages. */
export function describePeer(lease: Lease): string {
  return `${formatCidr(lease.subnets.ipv4)} (${lease.attrs.publicIp})`;
}
