import type { Cidr, IpFamily, Lease } from '@flannel-ts/core';
import { formatSubnetKey } from '@flannel-ts/core';
import type {
  DataPlaneState,
  FdbEntry,
  NeighbourEntry,
  RouteEntry,
  WgPeerEntry,
} from './kernel-state';
import { makeState } from './kernel-state';
import { describePeer } from './peers';

/** What one peer needs in the kernel, or why it is left out. */
export type PeerEntries =
  | {
      readonly routes: readonly RouteEntry[];
      readonly neighbours?: readonly NeighbourEntry[];
      readonly fdb?: readonly FdbEntry[];
      /** WireGuard peers (the wireguard backend). */
      readonly wgPeers?: readonly WgPeerEntry[];
      /**
       * What of the peer is left out, and why, when the rest is programmed: a dual-stack host
       * programs a peer's IPv4 entries even when its lease has no usable IPv6 side.
       */
      readonly partial?: string;
    }
  | { readonly skip: string };

/**
 * One address family of a peer's lease, as a backend needs it: the subnet, the public address
 * and the backend data of that family (`BackendData` for IPv4, `BackendV6Data` for IPv6).
 */
export interface PeerSide {
  readonly family: IpFamily;
  readonly subnet: Cidr;
  readonly publicIp: string;
  readonly backendData: unknown;
  /** `BackendData` or `BackendV6Data`, for messages. */
  readonly dataField: 'BackendData' | 'BackendV6Data';
}

/** The peer's side of one family, or why it has none (an IPv4-only or older peer on IPv6). */
export function peerSide(lease: Lease, family: IpFamily): PeerSide | { skip: string } {
  const a = lease.attrs;
  if (family === 4) {
    return {
      family,
      subnet: lease.subnets.ipv4,
      publicIp: a.publicIp,
      backendData: a.backendData,
      dataField: 'BackendData',
    };
  }
  if (!lease.subnets.ipv6) return { skip: 'its lease has no IPv6 subnet' };
  if (!a.publicIpv6) return { skip: 'its lease has no PublicIPv6' };
  return {
    family,
    subnet: lease.subnets.ipv6,
    publicIp: a.publicIpv6,
    backendData: a.backendV6Data,
    dataField: 'BackendV6Data',
  };
}

const FAMILY_NAME: Record<IpFamily, string> = { 4: 'IPv4', 6: 'IPv6' };

/**
 * Joins a peer's entries of each family we run (one family: its entries as they are). The peer
 * is skipped only when every family is; a family left out while another is programmed goes into
 * `partial` with its reason (`IPv6: its lease has no PublicIPv6`).
 */
export function joinFamilies(parts: readonly (readonly [IpFamily, PeerEntries])[]): PeerEntries {
  if (parts.length === 1) return parts[0]![1];
  const left: string[] = [];
  const routes: RouteEntry[] = [];
  const neighbours: NeighbourEntry[] = [];
  const fdb: FdbEntry[] = [];
  const wgPeers: WgPeerEntry[] = [];
  let kept = 0;
  for (const [family, e] of parts) {
    if ('skip' in e) {
      left.push(`${FAMILY_NAME[family]}: ${e.skip}`);
      continue;
    }
    kept += 1;
    routes.push(...e.routes);
    neighbours.push(...(e.neighbours ?? []));
    fdb.push(...(e.fdb ?? []));
    wgPeers.push(...(e.wgPeers ?? []));
    if (e.partial !== undefined) left.push(e.partial);
  }
  if (kept === 0) return { skip: left.join('; ') };
  const joined =
    wgPeers.length > 0 ? { routes, neighbours, fdb, wgPeers } : { routes, neighbours, fdb };
  return left.length > 0 ? { ...joined, partial: left.join('; ') } : joined;
}

/** The key peers are tracked by between syncs: the lease key (`10.5.3.0-24`). */
export function peerKey(lease: Lease): string {
  return formatSubnetKey(lease.subnets);
}

/** Merges per-peer entries into one state (pure); skipped peers are listed with their reason. */
export function mergePeerEntries(
  peers: Iterable<Lease>,
  entriesFor: (lease: Lease) => PeerEntries,
): { state: DataPlaneState; skipped: { peer: string; reason: string }[] } {
  const routes: RouteEntry[] = [];
  const neighbours: NeighbourEntry[] = [];
  const fdb: FdbEntry[] = [];
  const wgPeers: WgPeerEntry[] = [];
  const skipped: { peer: string; reason: string }[] = [];
  for (const p of peers) {
    const e = entriesFor(p);
    if ('skip' in e) {
      skipped.push({ peer: describePeer(p), reason: e.skip });
      continue;
    }
    routes.push(...e.routes);
    neighbours.push(...(e.neighbours ?? []));
    fdb.push(...(e.fdb ?? []));
    wgPeers.push(...(e.wgPeers ?? []));
  }
  return { state: makeState(routes, neighbours, fdb, [], wgPeers), skipped };
}
