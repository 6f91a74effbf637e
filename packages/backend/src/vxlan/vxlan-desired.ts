import type { Cidr, Lease } from '@flannel-ts/core';
import { formatCidr, formatIp } from '@flannel-ts/core';
import type { DataPlaneState, FdbEntry, NeighbourEntry, RouteEntry } from '../kernel-state';
import { makeState } from '../kernel-state';
import { describePeer, isOnLink } from '../peers';

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
 * The kernel entries that make peers reachable over VXLAN (SPEC 4.1), pure: per peer a permanent
 * neighbour (subnet address → VTEP MAC), an FDB entry (VTEP MAC → public IP) and an onlink route
 * via the subnet address; with DirectRouting, a peer on our L2 segment gets a plain route via its
 * public IP instead.
 */
export function vxlanDesiredState(
  peers: readonly Lease[],
  topo: VxlanTopology,
): { state: DataPlaneState; skipped: { peer: string; reason: string }[] } {
  const routes: RouteEntry[] = [];
  const neighbours: NeighbourEntry[] = [];
  const fdb: FdbEntry[] = [];
  const skipped: { peer: string; reason: string }[] = [];
  for (const p of peers) {
    const dst = formatCidr(p.subnets.ipv4);
    if (topo.directRouting && isOnLink(p.attrs.publicIp, topo.connected)) {
      routes.push({ dst, gateway: p.attrs.publicIp, dev: topo.externalDevice, onlink: false });
      continue;
    }
    const mac = vtepMac(p);
    if (!mac) {
      skipped.push({ peer: describePeer(p), reason: 'its lease has no valid BackendData.VtepMAC' });
      continue;
    }
    const gateway = formatIp({ family: 4, value: p.subnets.ipv4.address });
    fdb.push({ mac, dst: p.attrs.publicIp, dev: topo.device });
    neighbours.push({ ip: gateway, mac, dev: topo.device });
    routes.push({ dst, gateway, dev: topo.device, onlink: true });
  }
  return { state: makeState(routes, neighbours, fdb), skipped };
}
