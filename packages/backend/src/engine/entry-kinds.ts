import type {
  BlackholeEntry,
  DataPlaneState,
  FdbEntry,
  NeighbourEntry,
  RouteEntry,
  WgPeerEntry,
} from '../kernel-state';
import { fdbKey, makeState, wgPeerKey } from '../kernel-state';
import type { DataPlaneOp } from '../plan';

/** The kinds of kernel entry a backend owns. */
export type EntryKind = 'routes' | 'neighbours' | 'fdb' | 'blackholes' | 'wgPeers';
/** One entry of any kind. @internal */
export type Entry = RouteEntry | NeighbourEntry | FdbEntry | BlackholeEntry | WgPeerEntry;
/** One value per kind. @internal */
export type Tables<T> = Record<EntryKind, T>;
/** @internal */
export const KINDS: readonly EntryKind[] = ['routes', 'neighbours', 'fdb', 'blackholes', 'wgPeers'];

/** One fresh value per kind. @internal */
export const tables = <T>(make: () => T): Tables<T> => ({
  routes: make(),
  neighbours: make(),
  fdb: make(),
  blackholes: make(),
  wgPeers: make(),
});

/** The key an entry is held under (as in {@link DataPlaneState}). @internal */
export function keyOf(kind: EntryKind, e: Entry): string {
  if (kind === 'neighbours') return (e as NeighbourEntry).ip;
  if (kind === 'fdb') return fdbKey(e as FdbEntry);
  if (kind === 'wgPeers') return wgPeerKey(e as WgPeerEntry);
  return (e as RouteEntry | BlackholeEntry).dst;
}

const KIND_OF_OP: Record<string, EntryKind> = {
  route: 'routes',
  neighbour: 'neighbours',
  fdb: 'fdb',
  blackhole: 'blackholes',
  wgpeer: 'wgPeers',
};

/** The kind of entry an op changes (`replace-route` → routes). @internal */
export function kindOf(op: DataPlaneOp): EntryKind {
  return KIND_OF_OP[op.op.slice(op.op.indexOf('-') + 1)]!;
}

/** A {@link DataPlaneState} of per-kind entry lists. @internal */
export function stateOf(lists: Tables<Entry[]>): DataPlaneState {
  return makeState(
    lists.routes as RouteEntry[],
    lists.neighbours as NeighbourEntry[],
    lists.fdb as FdbEntry[],
    lists.blackholes as BlackholeEntry[],
    lists.wgPeers as WgPeerEntry[],
  );
}
