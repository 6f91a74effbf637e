import type { Cidr } from '@flannel-ts/core';
import { cidrContains, parseCidr } from '@flannel-ts/core';
import type { DataPlaneRunners } from './apply';
import type { DataPlaneState, FdbEntry, NeighbourEntry, RouteEntry } from './kernel-state';
import { makeState } from './kernel-state';
import type { Observation } from './engine/kernel-table';
import type { MonitorEvent } from './kernel/monitor-parse';

/** The all-zero MAC: a default-destination (flooding) FDB entry an admin may add; never ours. */
const ZERO_MAC = '00:00:00:00:00:00';

interface JsonRoute {
  dst?: string;
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

/** Routes on `dev` that we own: a gateway, and a destination inside the flannel network. @internal */
export function parseOwnedRoutes(stdout: string, dev: string, network: Cidr): RouteEntry[] {
  return parseArray<JsonRoute>(stdout).flatMap((r) => {
    const dst =
      r.dst === undefined ? undefined : parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/32`);
    // We never set a metric: a route with one is someone else's, and `route replace` would not
    // replace it anyway (it would add a second route beside it).
    if (!dst || !r.gateway || r.protocol === 'kernel' || r.metric !== undefined) return [];
    if (!cidrContains(network, dst)) return [];
    const dstText = r.dst!.includes('/') ? r.dst! : `${r.dst!}/32`;
    return [{ dst: dstText, gateway: r.gateway, dev, onlink: (r.flags ?? []).includes('onlink') }];
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
  const [routeOut, neigh, fdb] = await Promise.all([
    Promise.all(
      scope.routeDevices.map((dev) =>
        runners.ip.run(['-json', 'route', 'show', 'dev', dev], signal),
      ),
    ),
    vx ? runners.ip.run(['-json', 'neigh', 'show', 'dev', vx], signal) : undefined,
    vx ? runners.bridge.run(['-json', 'fdb', 'show', 'dev', vx], signal) : undefined,
  ]);
  const routes = routeOut.flatMap(({ stdout }, i) =>
    parseOwnedRoutes(stdout, scope.routeDevices[i]!, scope.network),
  );
  if (!vx || !neigh || !fdb) return makeState(routes);
  return makeState(routes, parseNeighbours(neigh.stdout, vx), parseFdb(fdb.stdout, vx));
}

/**
 * What a monitor event says about one of our keys, by the same ownership rules as the full read:
 * routes on our devices inside the network (never foreign ones: another table, a metric, the
 * kernel's own), permanent neighbours and FDB entries on the VXLAN device. Undefined when the
 * event is about nothing of ours.
 */
export function observationOf(e: MonitorEvent, scope: OwnedScope): Observation | undefined {
  switch (e.table) {
    case 'route': {
      if (e.foreign || e.dev === undefined || !scope.routeDevices.includes(e.dev)) return undefined;
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
