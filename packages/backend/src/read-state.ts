import type { Cidr } from '@flannel-ts/core';
import { cidrContains, parseCidr } from '@flannel-ts/core';
import type { IpFamily } from '@flannel-ts/core';
import type { DataPlaneRunners } from './apply';
import type {
  BlackholeEntry,
  DataPlaneState,
  FdbEntry,
  NeighbourEntry,
  RouteEntry,
} from './kernel-state';
import { BLACKHOLE_METRIC, fdbKey, makeState } from './kernel-state';
import type { Observation } from './engine/kernel-table';
import type { MonitorEvent } from './kernel/monitor-parse';

/** The all-zero MAC: a default-destination (flooding) FDB entry an admin may add; never ours. */
const ZERO_MAC = '00:00:00:00:00:00';

interface JsonRoute {
  type?: string;
  dst?: string;
  dev?: string;
  metric?: number;
  gateway?: string;
  protocol?: string;
  flags?: string[];
}
interface JsonNeighbour {
  dst?: string;
  lladdr?: string;
  state?: string[];
}
interface JsonFdb {
  mac?: string;
  dst?: string;
  state?: string;
}

function parseArray<T>(stdout: string): T[] {
  const text = stdout.trim();
  if (text === '') return [];
  const v: unknown = JSON.parse(text);
  return Array.isArray(v) ? (v as T[]) : [];
}

/** `10.5.3.5` as iproute2 prints a host route, `10.5.3.5/32` as we key it (`/128` for IPv6). */
const withPrefix = (dst: string): string =>
  dst.includes('/') ? dst : `${dst}/${dst.includes(':') ? 128 : 32}`;

/**
 * The metric the kernel gives a route added without one: none for IPv4, 1024 for IPv6 (which
 * iproute2 then prints). A gateway route with any other metric is not ours.
 */
export const DEFAULT_ROUTE_METRIC: Readonly<Record<IpFamily, number | undefined>> = {
  4: undefined,
  6: 1024,
};

/** True when `dst` is inside one of `networks` (of its own family). */
function inNetworks(dst: Cidr, networks: readonly Cidr[]): boolean {
  return networks.some((n) => n.family === dst.family && cidrContains(n, dst));
}

/**
 * Routes on `dev` that we own: a gateway, and a destination inside one of the flannel networks
 * (one per family). @internal
 */
export function parseOwnedRoutes(
  stdout: string,
  dev: string,
  networks: readonly Cidr[],
): RouteEntry[] {
  return parseArray<JsonRoute>(stdout).flatMap((r) => {
    const dstText = r.dst === undefined ? undefined : withPrefix(r.dst);
    const dst = dstText === undefined ? undefined : parseCidr(dstText);
    // We never set a metric on a gateway route: one with a metric (other than the kernel's
    // default, for IPv6) is someone else's, and `route replace` would not replace it anyway (it
    // would add a second route beside it).
    if (!dst || !r.gateway || r.protocol === 'kernel') return [];
    if (r.metric !== DEFAULT_ROUTE_METRIC[dst.family]) return [];
    if (!inNetworks(dst, networks)) return [];
    return [{ dst: dstText!, gateway: r.gateway, dev, onlink: (r.flags ?? []).includes('onlink') }];
  });
}

/**
 * The device a blackhole route shows: none for IPv4, `lo` for IPv6 (the kernel hangs IPv6 reject
 * routes on the loopback device, and iproute2 prints it).
 */
const blackholeDevice = (dev: string | undefined): boolean => dev === undefined || dev === 'lo';

/**
 * Blackhole routes that are ours: of the main table (the only one `ip route show` lists), with our
 * metric, no device (`lo` for IPv6), and a destination in `owned` (subnets this agent holds or
 * held). @internal
 */
export function parseOwnedBlackholes(stdout: string, owned: readonly string[]): BlackholeEntry[] {
  return parseArray<JsonRoute>(stdout).flatMap((r) => {
    if (r.type !== 'blackhole' || r.dst === undefined || !blackholeDevice(r.dev)) return [];
    const dst = withPrefix(r.dst);
    return r.metric === BLACKHOLE_METRIC && owned.includes(dst) ? [{ dst }] : [];
  });
}

/** Permanent neighbours with a link-layer address on `dev`. @internal */
export function parseNeighbours(stdout: string, dev: string): NeighbourEntry[] {
  return parseArray<JsonNeighbour>(stdout).flatMap((n) =>
    n.dst && n.lladdr && (n.state ?? []).includes('PERMANENT')
      ? [{ ip: n.dst, mac: n.lladdr.toLowerCase(), dev }]
      : [],
  );
}

/** Permanent FDB entries with a remote destination on `dev`. @internal */
export function parseFdb(stdout: string, dev: string): FdbEntry[] {
  return parseArray<JsonFdb>(stdout).flatMap((f) => {
    const mac = f.mac?.toLowerCase();
    if (!mac || !f.dst || f.state !== 'permanent' || mac === ZERO_MAC) return [];
    return [{ mac, dst: f.dst, dev }];
  });
}

/** Where a backend's owned entries live (both families: one scope, one read, one table). */
export interface OwnedScope {
  /** Devices whose routes (inside one of `networks`, with a gateway) are ours. */
  readonly routeDevices: readonly string[];
  /** The VXLAN devices whose neighbours and FDB entries are ours (`flannel.1`, `flannel-v6.1`). */
  readonly vxlanDevices?: readonly string[] | undefined;
  /** The flannel networks, at most one per family (IPv4 and/or IPv6). */
  readonly networks: readonly Cidr[];
  /**
   * Destinations (`10.5.3.0/24`: our subnet, and at start-up the one an earlier run held) whose
   * blackhole route with {@link BLACKHOLE_METRIC} is ours. Nothing else of that kind is: another
   * agent in the same namespace has its own subnet, so agents never touch each other's.
   */
  readonly blackholes?: readonly string[] | undefined;
  /** The WireGuard devices whose peers are all ours (`flannel-wg`, `flannel-wg-v6`). */
  readonly wgDevices?: readonly string[] | undefined;
}

/** `ip` arguments for one family's routes (`-6` for IPv6; IPv4's are iproute2's default). */
const familyArgs = (family: IpFamily): string[] => (family === 6 ? ['-6', '-json'] : ['-json']);

/**
 * Reads the owned part of the kernel's state with `-json` queries: one process per table, whatever
 * the number of entries. Only entries inside the scope are returned, so the planner can never touch
 * routes that are not ours.
 */
export async function readDataPlaneState(
  runners: DataPlaneRunners,
  scope: OwnedScope,
  signal?: AbortSignal,
): Promise<DataPlaneState> {
  // All reads at once: the processes run side by side. `ip route show` lists one family, so
  // routes are read per device and per family of our networks; neighbours and FDB entries are
  // read per VXLAN device (each device carries one family).
  const vxs = scope.vxlanDevices ?? [];
  const owned = scope.blackholes ?? [];
  const families = [...new Set(scope.networks.map((n) => n.family))];
  const ownedFamilies = [...new Set(owned.map((d): IpFamily => (d.includes(':') ? 6 : 4)))];
  const routeReads = scope.routeDevices.flatMap((dev) => families.map((f) => ({ dev, f })));
  const wgDevices = scope.wgDevices ?? [];
  const [routeOut, neigh, fdb, blackhole, wgPeers] = await Promise.all([
    Promise.all(
      routeReads.map(({ dev, f }) =>
        runners.ip.run([...familyArgs(f), 'route', 'show', 'dev', dev], signal),
      ),
    ),
    Promise.all(vxs.map((vx) => runners.ip.run(['-json', 'neigh', 'show', 'dev', vx], signal))),
    Promise.all(vxs.map((vx) => runners.bridge.run(['-json', 'fdb', 'show', 'dev', vx], signal))),
    Promise.all(
      ownedFamilies.map((f) =>
        runners.ip.run([...familyArgs(f), 'route', 'show', 'type', 'blackhole'], signal),
      ),
    ),
    wgDevices.length > 0 && runners.wg ? runners.wg.read(wgDevices, signal) : Promise.resolve([]),
  ]);
  const routes = routeOut.flatMap(({ stdout }, i) =>
    parseOwnedRoutes(stdout, routeReads[i]!.dev, scope.networks),
  );
  return makeState(
    routes,
    neigh.flatMap(({ stdout }, i) => parseNeighbours(stdout, vxs[i]!)),
    fdb.flatMap(({ stdout }, i) => parseFdb(stdout, vxs[i]!)),
    blackhole.flatMap(({ stdout }) => parseOwnedBlackholes(stdout, owned)),
    wgPeers,
  );
}

/**
 * What a route event says about our blackhole route for its destination: a route of any type in
 * that slot (our metric, an owned destination) is present, deleted, or someone else's shape.
 */
function blackholeObservation(
  e: Extract<MonitorEvent, { table: 'route' }>,
  scope: OwnedScope,
): Observation | undefined {
  if (!(scope.blackholes ?? []).includes(e.dst)) return undefined;
  const entry = e.type === 'blackhole' && blackholeDevice(e.dev) ? { dst: e.dst } : undefined;
  if (e.deleted) return { kind: 'blackholes', key: e.dst, state: 'absent', entry };
  return entry
    ? { kind: 'blackholes', key: e.dst, state: 'present', entry }
    : { kind: 'blackholes', key: e.dst, state: 'foreign' };
}

/**
 * What a monitor event says about one of our keys, by the same ownership rules as the full read:
 * routes on our devices inside the network (never foreign ones: another table, another type, a
 * metric, the kernel's own), our blackhole routes, permanent neighbours and FDB entries on the
 * VXLAN device. Undefined when the event is about nothing of ours.
 */
export function observationOf(e: MonitorEvent, scope: OwnedScope): Observation | undefined {
  switch (e.table) {
    case 'route': {
      if (e.foreign) return undefined;
      if (e.metric === BLACKHOLE_METRIC) return blackholeObservation(e, scope);
      const dst = parseCidr(e.dst);
      if (!dst || e.type !== 'unicast' || e.metric !== DEFAULT_ROUTE_METRIC[dst.family]) {
        return undefined;
      }
      if (e.dev === undefined || !scope.routeDevices.includes(e.dev)) return undefined;
      if (!inNetworks(dst, scope.networks)) return undefined;
      const entry = e.gateway
        ? { dst: e.dst, gateway: e.gateway, dev: e.dev, onlink: e.onlink }
        : undefined;
      if (e.deleted) return { kind: 'routes', key: e.dst, state: 'absent', entry };
      return entry
        ? { kind: 'routes', key: e.dst, state: 'present', entry }
        : { kind: 'routes', key: e.dst, state: 'foreign' };
    }
    case 'neigh': {
      if (e.dev === undefined || !(scope.vxlanDevices ?? []).includes(e.dev)) return undefined;
      // An FDB entry echoed as a neighbour (AF_BRIDGE), or a NOARP entry we never write.
      if (e.noarp) return undefined;
      const entry = e.mac && e.permanent ? { ip: e.ip, mac: e.mac, dev: e.dev } : undefined;
      if (e.deleted) return { kind: 'neighbours', key: e.ip, state: 'absent', entry };
      return entry
        ? { kind: 'neighbours', key: e.ip, state: 'present', entry }
        : { kind: 'neighbours', key: e.ip, state: 'foreign' };
    }
    case 'fdb': {
      const vx = e.dev;
      if (vx === undefined || !(scope.vxlanDevices ?? []).includes(vx) || e.mac === ZERO_MAC) {
        return undefined;
      }
      const key = fdbKey({ dev: vx, mac: e.mac });
      const entry = e.dst && e.permanent ? { mac: e.mac, dst: e.dst, dev: vx } : undefined;
      if (e.deleted) return { kind: 'fdb', key, state: 'absent', entry };
      return entry
        ? { kind: 'fdb', key, state: 'present', entry }
        : { kind: 'fdb', key, state: 'foreign' };
    }
    case 'link':
      return undefined;
  }
}
