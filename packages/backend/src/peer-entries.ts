import type { Lease } from '@flannel-ts/core';
import { formatSubnetKey } from '@flannel-ts/core';
import type { DataPlaneState, FdbEntry, NeighbourEntry, RouteEntry } from './kernel-state';
import { makeState } from './kernel-state';
import { describePeer } from './peers';

/** What one peer needs in the kernel, or why it is left out. */
export type PeerEntries =
  | {
      readonly routes: readonly RouteEntry[];
      readonly neighbours?: readonly NeighbourEntry[];
      readonly fdb?: readonly FdbEntry[];
    }
  | { readonly skip: string };

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
  }
  return { state: makeState(routes, neighbours, fdb), skipped };
}
