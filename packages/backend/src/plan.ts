import type {
  BlackholeEntry,
  DataPlaneState,
  FdbEntry,
  NeighbourEntry,
  RouteEntry,
  WgPeerEntry,
} from './kernel-state';

/** One change to the kernel. */
export type DataPlaneOp =
  | { readonly op: 'replace-route'; readonly entry: RouteEntry }
  | { readonly op: 'delete-route'; readonly entry: RouteEntry }
  | { readonly op: 'replace-neighbour'; readonly entry: NeighbourEntry }
  | { readonly op: 'delete-neighbour'; readonly entry: NeighbourEntry }
  | { readonly op: 'replace-fdb'; readonly entry: FdbEntry }
  | { readonly op: 'delete-fdb'; readonly entry: FdbEntry }
  | { readonly op: 'replace-blackhole'; readonly entry: BlackholeEntry }
  | { readonly op: 'delete-blackhole'; readonly entry: BlackholeEntry }
  | { readonly op: 'replace-wgpeer'; readonly entry: WgPeerEntry }
  | { readonly op: 'delete-wgpeer'; readonly entry: WgPeerEntry };

const NO_WG_PEERS: ReadonlyMap<string, WgPeerEntry> = new Map();

/**
 * True when two entries of one kind are the same, field by field. Allocates nothing: it runs for
 * every entry of every peer when the peers' states are read (each metrics scrape).
 */
export function sameEntry<T extends object>(a: T, b: T): boolean {
  for (const k in a) if (a[k] !== b[k]) return false;
  return true;
}

function diff<T extends object>(
  desired: ReadonlyMap<string, T>,
  actual: ReadonlyMap<string, T>,
): { replace: T[]; remove: T[] } {
  const replace: T[] = [];
  const remove: T[] = [];
  for (const [key, want] of desired) {
    const have = actual.get(key);
    if (!have || !sameEntry(want, have)) replace.push(want);
  }
  for (const [key, have] of actual) if (!desired.has(key)) remove.push(have);
  return { replace, remove };
}

/**
 * Plans the changes that turn `actual` into `desired` (both restricted to entries the agent owns).
 * Pure. Order matters to the kernel and to traffic: FDB entries and neighbours first and routes
 * last, so a route never exists before the kernel can resolve its gateway (SPEC 4.1); removals run
 * routes first for the same reason. A peer whose VTEP MAC changed gets its new FDB entry and loses
 * the old one (SPEC D8). Blackhole routes depend on nothing: they come first and go last.
 */
export function planDataPlane(desired: DataPlaneState, actual: DataPlaneState): DataPlaneOp[] {
  const fdb = diff(desired.fdb, actual.fdb);
  const neigh = diff(desired.neighbours, actual.neighbours);
  const routes = diff(desired.routes, actual.routes);
  const blackholes = diff(desired.blackholes, actual.blackholes);
  // WireGuard peers (the wireguard backend's only other kind) go in before the routes that lead
  // to them and leave after.
  const wg = diff(desired.wgPeers ?? NO_WG_PEERS, actual.wgPeers ?? NO_WG_PEERS);
  return [
    ...blackholes.replace.map((entry) => ({ op: 'replace-blackhole' as const, entry })),
    ...fdb.replace.map((entry) => ({ op: 'replace-fdb' as const, entry })),
    ...neigh.replace.map((entry) => ({ op: 'replace-neighbour' as const, entry })),
    ...wg.replace.map((entry) => ({ op: 'replace-wgpeer' as const, entry })),
    ...routes.replace.map((entry) => ({ op: 'replace-route' as const, entry })),
    ...routes.remove.map((entry) => ({ op: 'delete-route' as const, entry })),
    ...neigh.remove.map((entry) => ({ op: 'delete-neighbour' as const, entry })),
    ...wg.remove.map((entry) => ({ op: 'delete-wgpeer' as const, entry })),
    ...fdb.remove.map((entry) => ({ op: 'delete-fdb' as const, entry })),
    ...blackholes.remove.map((entry) => ({ op: 'delete-blackhole' as const, entry })),
  ];
}
