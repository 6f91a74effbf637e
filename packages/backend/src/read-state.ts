import type { Cidr } from '@flannel-ts/core';
import { cidrContains, parseCidr } from '@flannel-ts/core';
import type { DataPlaneRunners } from './apply';
import type {
  BlackholeEntry,
  DataPlaneState,
  FdbEntry,
  NeighbourEntry,
  RouteEntry,
} from './kernel-state';
import { BLACKHOLE_METRIC, makeState } from './kernel-state';
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

/** `10.5.3.5` as iproute2 prints a host route, `10.5.3.5/32` as we key it. */
const withPrefix = (dst: string): string => (dst.includes('/') ? dst : `${dst}/32`);

/** Routes on `dev` that we own: a gateway, and a destination inside the flannel network. @internal */
export function parseOwnedRoutes(stdout: string, dev: string, network: Cidr): RouteEntry[] {
  return parseArray<JsonRoute>(stdout).flatMap((r) => {
    const dstText = r.dst === undefined ? undefined : withPrefix(r.dst);
    const dst = dstText === undefined ? undefined : parseCidr(dstText);
    // We never set a metric on a gateway route: one with a metric is someone else's, and `route
    // replace` would not replace it anyway (it would add a second route beside it).
    if (!dst || !r.gateway || r.protocol === 'kernel' || r.metric !== undefined) return [];
    if (!cidrContains(network, dst)) return [];
    return [{ dst: dstText!, gateway: r.gateway, dev, onlink: (r.flags ?? []).includes('onlink') }];
  });
}

/**
 * Blackhole routes that are ours: of the main table (the only one `ip route show` lists), with our
 * metric, no device, and a destination in `owned` (subnets this agent holds or held). @internal
 */
export function parseOwnedBlackholes(stdout: string, owned: readonly string[]): BlackholeEntry[] {
  return parseArray<JsonRoute>(stdout).flatMap((r) => {
    if (r.type !== 'blackhole' || r.dst === undefined || r.dev !== undefined) return [];
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

/** Where a backend's owned entries live. */
export interface OwnedScope {
  /** Devices whose routes (inside `network`, with a gateway) are ours. */
  readonly routeDevices: readonly string[];
  /** The VXLAN device whose neighbours and FDB entries are ours, if any. */
  readonly vxlanDevice?: string | undefined;
  readonly network: Cidr;
  /**
   * Destinations (`10.5.3.0/24`: our subnet, and at start-up the one an earlier run held) whose
   * blackhole route with {@link BLACKHOLE_METRIC} is ours. Nothing else of that kind is: another
   * agent in the same namespace has its own subnet, so agents never touch each other's.
   */
  readonly blackholes?: readonly string[] | undefined;
}

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
  // All reads at once: the processes run side by side.
  const vx = scope.vxlanDevice;
  const owned = scope.blackholes ?? [];
  const [routeOut, neigh, fdb, blackhole] = await Promise.all([
    Promise.all(
      scope.routeDevices.map((dev) =>
        runners.ip.run(['-json', 'route', 'show', 'dev', dev], signal),
      ),
    ),
    vx ? runners.ip.run(['-json', 'neigh', 'show', 'dev', vx], signal) : undefined,
    vx ? runners.bridge.run(['-json', 'fdb', 'show', 'dev', vx], signal) : undefined,
    owned.length > 0
      ? runners.ip.run(['-json', 'route', 'show', 'type', 'blackhole'], signal)
      : undefined,
  ]);
  const routes = routeOut.flatMap(({ stdout }, i) =>
    parseOwnedRoutes(stdout, scope.routeDevices[i]!, scope.network),
  );
  return makeState(
    routes,
    vx && neigh ? parseNeighbours(neigh.stdout, vx) : [],
    vx && fdb ? parseFdb(fdb.stdout, vx) : [],
    blackhole ? parseOwnedBlackholes(blackhole.stdout, owned) : [],
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
  const entry = e.type === 'blackhole' && e.dev === undefined ? { dst: e.dst } : undefined;
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
      if (e.type !== 'unicast' || e.metric !== undefined) return undefined;
      if (e.dev === undefined || !scope.routeDevices.includes(e.dev)) return undefined;
      const dst = parseCidr(e.dst);
      if (!dst || !cidrContains(scope.network, dst)) return undefined;
      const entry = e.gateway
        ? { dst: e.dst, gateway: e.gateway, dev: e.dev, onlink: e.onlink }
        : undefined;
      if (e.deleted) return { kind: 'routes', key: e.dst, state: 'absent', entry };
      return entry
        ? { kind: 'routes', key: e.dst, state: 'present', entry }
        : { kind: 'routes', key: e.dst, state: 'foreign' };
    }
    case 'neigh': {
      if (e.dev === undefined || e.dev !== scope.vxlanDevice) return undefined;
      const entry = e.mac && e.permanent ? { ip: e.ip, mac: e.mac, dev: e.dev } : undefined;
      if (e.deleted) return { kind: 'neighbours', key: e.ip, state: 'absent', entry };
      return entry
        ? { kind: 'neighbours', key: e.ip, state: 'present', entry }
        : { kind: 'neighbours', key: e.ip, state: 'foreign' };
    }
    case 'fdb': {
      if (e.dev === undefined || e.dev !== scope.vxlanDevice || e.mac === ZERO_MAC)
        return undefined;
      const entry = e.dst && e.permanent ? { mac: e.mac, dst: e.dst, dev: e.dev } : undefined;
      if (e.deleted) return { kind: 'fdb', key: e.mac, state: 'absent', entry };
      return entry
        ? { kind: 'fdb', key: e.mac, state: 'present', entry }
        : { kind: 'fdb', key: e.mac, state: 'foreign' };
    }
    case 'link':
      return undefined;
  }
}
