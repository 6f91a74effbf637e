import type { Cidr, Lease } from '@flannel-ts/core';
import { formatCidr } from '@flannel-ts/core';
import type { DataPlaneState, RouteEntry } from '../kernel-state';
import { makeState } from '../kernel-state';
import { describePeer, isOnLink } from '../peers';

/**
 * host-gw routes (SPEC 4.2), pure: each peer's subnet via its public IP on the external interface.
 * Unlike upstream, a peer that is not on one of our connected networks is skipped with a reason
 * (the kernel would reject the route, or worse, send it through a router that drops it).
 */
export function hostGwDesiredState(
  peers: readonly Lease[],
  externalDevice: string,
  connected: readonly Cidr[],
): { state: DataPlaneState; skipped: { peer: string; reason: string }[] } {
  const routes: RouteEntry[] = [];
  const skipped: { peer: string; reason: string }[] = [];
  for (const p of peers) {
    if (!isOnLink(p.attrs.publicIp, connected)) {
      skipped.push({
        peer: describePeer(p),
        reason: `its public IP is not on a network directly connected to ${externalDevice}; host-gw needs all hosts on one L2 segment (use vxlan)`,
      });
      continue;
    }
    routes.push({
      dst: formatCidr(p.subnets.ipv4),
      gateway: p.attrs.publicIp,
      dev: externalDevice,
      onlink: false,
    });
  }
  return { state: makeState(routes), skipped };
}
