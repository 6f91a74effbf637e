/**
 * The slice of kernel networking state a backend owns, keyed for diffing. Values are plain text as
 * iproute2 prints and accepts them, so planning needs no parsing and applying no formatting.
 */

/** `ip route`: `dst via gateway dev device [onlink]` (either family: iproute2 infers it from dst). */
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

/**
 * The metric of our blackhole routes, and the mark that tells them from anyone else's. Upstream
 * (v0.27.1+, `--ip-blackhole-route`) adds `blackhole <subnet>` in the main table with the kernel's
 * defaults (proto boot, scope global, metric 0); so do we, except for the metric. At metric 0 the
 * route takes the very slot of the route Docker's bridge gets for the same subnet (`10.5.3.0/24 dev
 * docker0 proto kernel`): `route replace` would delete Docker's route, and a blackhole added first
 * shadows the bridge's route added later (both seen in a namespace). At the highest metric every
 * other route for the subnet wins and the blackhole only takes what nothing else routes.
 */
export const BLACKHOLE_METRIC = 4294967295;

/**
 * `ip route`: `blackhole dst metric BLACKHOLE_METRIC` in the main table: traffic to addresses of
 * our own subnet that no other route takes is dropped instead of leaving by the default route.
 */
export interface BlackholeEntry {
  readonly dst: string;
}

/**
 * A WireGuard peer on one of our devices (`wg set <dev> peer <publicKey> …`), as `wg show <dev>
 * dump` prints it back. `allowedIps` is the comma-joined sorted list; `keepalive` 0 means off;
 * `psk` is a fingerprint of the preshared key ('' for none), never the key itself, so an entry can
 * be logged and compared without the secret.
 */
export interface WgPeerEntry {
  readonly dev: string;
  readonly publicKey: string;
  readonly endpoint: string;
  readonly allowedIps: string;
  readonly keepalive: number;
  readonly psk: string;
}

/** The key of a WireGuard peer: `flannel-wg <publicKey>` (the same key may sit on two devices). */
export function wgPeerKey(e: { readonly dev: string; readonly publicKey: string }): string {
  return `${e.dev} ${e.publicKey}`;
}

/**
 * Owned entries by key, one table per kind for both address families (the keys never collide
 * across families): routes by dst (`10.5.3.0/24`, `fd00:5:0:3::/64`), neighbours by IP, FDB
 * entries by device and MAC ({@link fdbKey}: `flannel.1` and `flannel-v6.1` each have their own
 * FDB, and nothing stops a peer advertising one MAC for both), blackhole routes by dst (a kind of
 * their own: they live in another kernel slot than a gateway route to the same dst).
 */
export interface DataPlaneState {
  readonly routes: ReadonlyMap<string, RouteEntry>;
  readonly neighbours: ReadonlyMap<string, NeighbourEntry>;
  readonly fdb: ReadonlyMap<string, FdbEntry>;
  readonly blackholes: ReadonlyMap<string, BlackholeEntry>;
  /** WireGuard peers by {@link wgPeerKey} (wireguard backend only; absent means none). */
  readonly wgPeers?: ReadonlyMap<string, WgPeerEntry> | undefined;
}

/** Builds a state from entry lists (later duplicates win). */
export function makeState(
  routes: readonly RouteEntry[] = [],
  neighbours: readonly NeighbourEntry[] = [],
  fdb: readonly FdbEntry[] = [],
  blackholes: readonly BlackholeEntry[] = [],
  wgPeers: readonly WgPeerEntry[] = [],
): DataPlaneState {
  return {
    routes: new Map(routes.map((r) => [r.dst, r])),
    neighbours: new Map(neighbours.map((n) => [n.ip, n])),
    fdb: new Map(fdb.map((f) => [fdbKey(f), f])),
    blackholes: new Map(blackholes.map((b) => [b.dst, b])),
    wgPeers: new Map(wgPeers.map((w) => [wgPeerKey(w), w])),
  };
}

/** The key of an FDB entry: `flannel.1 aa:bb:cc:dd:ee:01`. */
export function fdbKey(e: { readonly dev: string; readonly mac: string }): string {
  return `${e.dev} ${e.mac}`;
}

/** The empty state. */
export const EMPTY_STATE: DataPlaneState = makeState();

/** Total number of entries. */
export function stateSize(s: DataPlaneState): number {
  return (
    s.routes.size + s.neighbours.size + s.fdb.size + s.blackholes.size + (s.wgPeers?.size ?? 0)
  );
}
