import type { Cidr, IpFamily, Lease } from '@flannel-ts/core';
import { formatCidr } from '@flannel-ts/core';
import type { DataPlaneState } from '../kernel-state';
import { mergePeerEntries } from '../peer-entries';
import { peerSide } from '../peer-entries';
import type { PeerEntries } from '../peer-entries';
import { isOnLink } from '../peers';

/**
 * host-gw's entry for one peer in one family (SPEC 4.2), pure: its subnet via its public IP on the
 * external interface (IPv6: its IPv6 subnet via its PublicIPv6). Unlike upstream, a peer that is
 * not on one of our connected networks (of that family) is skipped with a reason (the kernel would
 * reject the route, or worse, send it through a router that drops it).
 */
export function hostGwPeerEntries(
  p: Lease,
  externalDevice: string,
  connected: readonly Cidr[],
  family: IpFamily = 4,
): PeerEntries {
  const side = peerSide(p, family);
  if ('skip' in side) return side;
  if (!isOnLink(side.publicIp, connected)) {
    return {
      skip: `its public IP is not on a network directly connected to ${externalDevice}; host-gw needs all hosts on one L2 segment (use vxlan)`,
    };
  }
  return {
    routes: [
      {
        dst: formatCidr(side.subnet),
        gateway: side.publicIp,
        dev: externalDevice,
        onlink: false,
      },
    ],
  };
}

/** host-gw routes for all peers, and the peers left out with the reason. */
export function hostGwDesiredState(
  peers: readonly Lease[],
  externalDevice: string,
  connected: readonly Cidr[],
): { state: DataPlaneState; skipped: { peer: string; reason: string }[] } {
  return mergePeerEntries(peers, (p) => hostGwPeerEntries(p, externalDevice, connected));
}
