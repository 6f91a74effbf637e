import type { Cidr, IpFamily, Lease } from '@flannel-ts/core';
import { formatCidr, formatIp } from '@flannel-ts/core';
import type { DataPlaneState } from '../kernel-state';
import { mergePeerEntries } from '../peer-entries';
import { peerSide } from '../peer-entries';
import type { PeerEntries, PeerSide } from '../peer-entries';
import { isOnLink } from '../peers';

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Where the vxlan backend programs peers. */
export interface VxlanTopology {
  readonly device: string;
  readonly externalDevice: string;
  /** The family this device carries (`flannel.N`: 4, `flannel-v6.N`: 6); 4 when absent. */
  readonly family?: IpFamily | undefined;
  /** Networks of that family directly connected to the external interface (for DirectRouting). */
  readonly connected: readonly Cidr[];
  readonly directRouting: boolean;
  /** Our VNI: a peer advertising another one is in another overlay and is skipped. Unchecked when absent. */
  readonly vni?: number | undefined;
}

/**
 * A field of the peer's BackendData (BackendV6Data for IPv6), matched case-insensitively as Go's
 * encoding/json does.
 */
function backendField(side: PeerSide, name: string): unknown {
  const data = side.backendData;
  if (typeof data !== 'object' || data === null) return undefined;
  return Object.entries(data).find(([k]) => k.toLowerCase() === name)?.[1];
}

/** The peer's VTEP MAC, or why it cannot be used: it must be a unicast, non-zero MAC. */
function vtepMac(side: PeerSide): { mac: string } | { skip: string } {
  const raw = backendField(side, 'vtepmac');
  const mac = typeof raw === 'string' ? raw.toLowerCase() : undefined;
  if (!mac || !MAC.test(mac)) return { skip: `its lease has no valid ${side.dataField}.VtepMAC` };
  // The I/G bit (least significant bit of the first octet) marks multicast and broadcast MACs.
  if ((parseInt(mac.slice(0, 2), 16) & 1) === 1 || mac === '00:00:00:00:00:00') {
    return { skip: `its ${side.dataField}.VtepMAC ${mac} is not a unicast MAC` };
  }
  return { mac };
}

/**
 * The kernel entries that make one peer reachable over VXLAN in the device's family (SPEC 4.1),
 * pure: a permanent neighbour (subnet address → VTEP MAC), an FDB entry (VTEP MAC → public IP) and
 * an onlink route via the subnet address; with DirectRouting, a peer on our L2 segment gets a
 * plain route via its public IP instead. IPv6 takes the lease's IPv6 subnet, PublicIPv6 and
 * BackendV6Data; a peer without them is skipped (in that family) with the reason.
 */
export function vxlanPeerEntries(p: Lease, topo: VxlanTopology): PeerEntries {
  const side = peerSide(p, topo.family ?? 4);
  if ('skip' in side) return side;
  // Upstream fails to decode such a lease for IPv6 (`error decoding v6 subnet lease JSON`).
  if (side.family === 6 && (side.backendData === undefined || side.backendData === null)) {
    return { skip: `its lease has no ${side.dataField}` };
  }
  const dst = formatCidr(side.subnet);
  const vni = backendField(side, 'vni');
  if (topo.vni !== undefined && vni !== topo.vni) {
    return {
      skip: `its ${side.dataField}.VNI ${JSON.stringify(vni)} is not ours (${topo.vni})`,
    };
  }
  if (topo.directRouting && isOnLink(side.publicIp, topo.connected)) {
    return {
      routes: [{ dst, gateway: side.publicIp, dev: topo.externalDevice, onlink: false }],
    };
  }
  const vtep = vtepMac(side);
  if ('skip' in vtep) return vtep;
  const { mac } = vtep;
  const gateway = formatIp({ family: side.family, value: side.subnet.address });
  return {
    fdb: [{ mac, dst: side.publicIp, dev: topo.device }],
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
