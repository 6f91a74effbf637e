import type { Cidr, Lease } from '@flannel-ts/core';
import { cidrContainsIp, formatCidr, parseCidr, parseIp } from '@flannel-ts/core';
import type { LinkInfo } from './links';

/** The IPv4 networks directly connected to a link (its addresses' prefixes). */
export function connectedNetworks(link: LinkInfo): Cidr[] {
  return link.ipv4.flatMap((a) => {
    const c = parseCidr(`${a.local}/${a.prefixlen}`);
    return c ? [c] : [];
  });
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

/**
 * Remembers which peers were already reported as skipped, so each gets one clear warning rather
 * than one per reconciliation; a peer that becomes usable again may be warned about anew later.
 */
export class SkipReporter {
  private warned = new Set<string>();

  constructor(private readonly warn: (message: string, fields: Record<string, unknown>) => void) {}

  report(skipped: readonly { peer: string; reason: string }[]): void {
    const now = new Set<string>();
    for (const s of skipped) {
      const key = `${s.peer}: ${s.reason}`;
      now.add(key);
      if (!this.warned.has(key)) this.warn('skipping peer', { peer: s.peer, reason: s.reason });
    }
    this.warned = now;
  }
}
