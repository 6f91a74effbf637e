import type { Cidr, Lease } from '@flannel-ts/core';
import { formatCidr, formatIp } from '@flannel-ts/core';
import type { DataPlaneState } from '../kernel-state';
import { mergePeerEntries } from '../peer-entries';
import type { PeerEntries } from '../peer-entries';
import { isOnLink } from '../peers';

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Where the vxlan backend programs peers. */
export interface VxlanTopology {
  readonly device: string;
  readonly externalDevice: string;
  /** Networks directly connected to the external interface (for DirectRouting). */
  readonly connected: readonly Cidr[];
  readonly directRouting: boolean;
}

function vtepMac(lease: Lease): string | undefined {
  const data = lease.attrs.backendData;
  if (typeof data !== 'object' || data === null) return undefined;
  const entry = Object.entries(data).find(([k]) => k.toLowerCase() === 'vtepmac');
  const mac = typeof entry?.[1] === 'string' ? entry[1].toLowerCase() : undefined;
  return mac && MAC.test(mac) ? mac : undefined;
}

/**
 * The kernel entries that make one peer reachable over VXLAN (SPEC 4.1), pure: a permanent
 * neighbour (subnet address → VTEP MAC), an FDB entry (VTEP MAC → public IP) and an onlink route
 * via the subnet address; with DirectRouting, a peer on our L2 segment gets a plain route via its
 * public IP instead.
 */
export function vxlanPeerEntries(p: Lease, topo: VxlanTopology): PeerEntries {
  const dst = formatCidr(p.subnets.ipv4);
  if (topo.directRouting && isOnLink(p.attrs.publicIp, topo.connected)) {
    return {
      routes: [{ dst, gateway: p.attrs.publicIp, dev: topo.externalDevice, onlink: false }],
    };
  }
  const mac = vtepMac(p);
  if (!mac) return { skip: 'its lease has no valid BackendData.VtepMAC' };
  const gateway = formatIp({ family: 4, value: p.subnets.ipv4.address });
  return {
    fdb: [{ mac, dst: p.attrs.publicIp, dev: topo.device }],
    neighbours: [{ ip: gateway, mac, dev: topo.device }],
    routes: [{ dst, gateway, dev: topo.device, onlink: true }],
  };
}

/** The VXLAN entries for all peers, and the peers left out with the reason. */
export function vxlanDesiredState(
  peers: readonly Lease[],
  topo: VxlanTopology,
): { state: DataPlaneState; skipped: { peer: string; reason: string }[] } {
  return mergePeerEntries(peers, (p) => vxlanPeerEntries(p, topo));
}
