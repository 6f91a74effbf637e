/**
 * The slice of kernel networking state a backend owns, keyed for diffing. Values are plain text as
 * iproute2 prints and accepts them, so planning needs no parsing and applying no formatting.
 */

/** `ip route`: `dst via gateway dev device [onlink]`. */
export interface RouteEntry {
  readonly dst: string;
  readonly gateway: string;
  readonly dev: string;
  readonly onlink: boolean;
}

/** `ip neigh`: a permanent neighbour `ip lladdr mac dev device`. */
export interface NeighbourEntry {
  readonly ip: string;
  readonly mac: string;
  readonly dev: string;
}

/** `bridge fdb`: a permanent VXLAN forwarding entry `mac dev device dst ip self`. */
export interface FdbEntry {
  readonly mac: string;
  readonly dst: string;
  readonly dev: string;
}

/** Owned entries by key: routes by dst, neighbours by IP, FDB entries by MAC. */
export interface DataPlaneState {
  readonly routes: ReadonlyMap<string, RouteEntry>;
  readonly neighbours: ReadonlyMap<string, NeighbourEntry>;
  readonly fdb: ReadonlyMap<string, FdbEntry>;
}

/** Builds a state from entry lists (later duplicates win). */
export function makeState(
  routes: readonly RouteEntry[] = [],
  neighbours: readonly NeighbourEntry[] = [],
  fdb: readonly FdbEntry[] = [],
): DataPlaneState {
  return {
    routes: new Map(routes.map((r) => [r.dst, r])),
    neighbours: new Map(neighbours.map((n) => [n.ip, n])),
    fdb: new Map(fdb.map((f) => [f.mac, f])),
  };
}

/** The empty state. */
export const EMPTY_STATE: DataPlaneState = makeState();

/** Total number of entries. */
export function stateSize(s: DataPlaneState): number {
  return s.routes.size + s.neighbours.size + s.fdb.size;
}
