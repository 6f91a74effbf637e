/**
 * Shared fixtures of the KernelTable tests: vxlan peers 10.5.<n>.0/24 at 192.0.2.<10+n> with VTEP MAC
 * aa:bb:cc:dd:ee:0<n>, their entries, and an in-memory kernel the table applies to and reads.
 */
import {
  KernelTable,
  makeState,
  observationOf,
  parseFdbMonitorLine,
  parseIpMonitorLine,
  peerKey,
  vxlanPeerEntries,
} from '@flannel-ts/backend';
import type {
  BlackholeEntry,
  DataPlaneOp,
  DataPlaneState,
  FdbEntry,
  MonitorEvent,
  NeighbourEntry,
  OpFailure,
  OwnedScope,
  RouteEntry,
  VxlanTopology,
} from '@flannel-ts/backend';
import { parseCidr } from '@flannel-ts/core';
import type { Cidr, Lease } from '@flannel-ts/core';
import { createRecordingLogger } from '@flannel-ts/core/testing';
import { opLine } from '../../src/apply';

export const topology: VxlanTopology = {
  device: 'flannel.1',
  externalDevice: 'v0',
  connected: [],
  directRouting: false,
};
/** Our own subnet is 10.5.1.0/24: its blackhole route is ours. */
export const scope: OwnedScope = {
  routeDevices: ['flannel.1'],
  vxlanDevices: ['flannel.1'],
  networks: [parseCidr('10.5.0.0/16') as Cidr],
  blackholes: ['10.5.1.0/24'],
};
export const MAC2 = 'aa:bb:cc:dd:ee:02';
export const MAC3 = 'aa:bb:cc:dd:ee:03';

/** The lease of peer 10.5.<n>.0/24 at 192.0.2.<10+n>; `mac: null` leaves BackendData empty. */
export function lease(n: number, mac: string | null = `aa:bb:cc:dd:ee:0${n}`): Lease {
  return {
    subnets: { ipv4: parseCidr(`10.5.${n}.0/24`) as Cidr },
    attrs: {
      publicIp: `192.0.2.${10 + n}`,
      publicIpv6: null,
      backendType: 'vxlan',
      backendData: mac === null ? {} : { VNI: 1, VtepMAC: mac },
    },
    ttlLeaseId: '1',
  };
}
export const joined = (...leases: Lease[]) => leases.map((l) => [peerKey(l), l] as const);
export const left = (...leases: Lease[]) => leases.map((l) => [peerKey(l), undefined] as const);

export const route = (n: number): RouteEntry => ({
  dst: `10.5.${n}.0/24`,
  gateway: `10.5.${n}.0`,
  dev: 'flannel.1',
  onlink: true,
});
export const neigh = (n: number, mac = `aa:bb:cc:dd:ee:0${n}`): NeighbourEntry => ({
  ip: `10.5.${n}.0`,
  mac,
  dev: 'flannel.1',
});
export const fdb = (n: number, mac = `aa:bb:cc:dd:ee:0${n}`): FdbEntry => ({
  mac,
  dst: `192.0.2.${10 + n}`,
  dev: 'flannel.1',
});

/** What a monitor line says about our keys (through the real parser and ownership rules). */
export function seen(line: string) {
  const event: MonitorEvent | undefined = line.startsWith('[')
    ? parseIpMonitorLine(line)
    : parseFdbMonitorLine(line);
  const o = event && observationOf(event, scope);
  if (!o) throw new Error(`not an observation of ours: ${line}`);
  return o;
}

type Mutable = {
  routes: Map<string, RouteEntry>;
  neighbours: Map<string, NeighbourEntry>;
  fdb: Map<string, FdbEntry>;
  blackholes: Map<string, BlackholeEntry>;
};

/**
 * An in-memory kernel: `applyOps` mutates it as iproute2 would (a delete of a missing entry fails
 * with the kernel's words) and records every call as batch lines; `readKernel` returns it.
 */
export class FakeKernel {
  readonly state: Mutable = {
    routes: new Map(),
    neighbours: new Map(),
    fdb: new Map(),
    blackholes: new Map(),
  };
  /** Every applyOps call's ops, in order. */
  readonly calls: (readonly DataPlaneOp[])[] = [];
  /** Line (as `opLine` renders it) → the message the kernel refuses it with. */
  readonly refuse = new Map<string, string>();
  /** Runs after the ops took effect, before applyOps resolves (an event while in flight). */
  whileInFlight: (() => void) | undefined;

  /** The lines of every call, for readable assertions. */
  get lines(): string[][] {
    return this.calls.map((ops) => ops.map((o) => opLine(o).line));
  }

  readonly applyOps = (ops: readonly DataPlaneOp[]): Promise<OpFailure[]> => {
    this.calls.push(ops);
    const failures: OpFailure[] = [];
    for (const op of ops) {
      const refused = this.refuse.get(opLine(op).line);
      if (refused !== undefined) {
        failures.push({ op, message: refused });
        continue;
      }
      if (!this.take(op)) failures.push({ op, message: 'RTNETLINK answers: No such process' });
    }
    this.whileInFlight?.();
    return Promise.resolve(failures);
  };

  /** Makes one op take effect; false for a delete of an entry that is not there. */
  private take(op: DataPlaneOp): boolean {
    const { routes, neighbours, fdb, blackholes } = this.state;
    switch (op.op) {
      case 'replace-route':
        return !!routes.set(op.entry.dst, op.entry);
      case 'delete-route':
        return routes.delete(op.entry.dst);
      case 'replace-neighbour':
        return !!neighbours.set(op.entry.ip, op.entry);
      case 'delete-neighbour':
        return neighbours.delete(op.entry.ip);
      case 'replace-fdb':
        return !!fdb.set(op.entry.mac, op.entry);
      case 'delete-fdb':
        return fdb.delete(op.entry.mac);
      case 'replace-blackhole':
        return !!blackholes.set(op.entry.dst, op.entry);
      case 'delete-blackhole':
        return blackholes.delete(op.entry.dst);
      case 'replace-wgpeer':
      case 'delete-wgpeer':
        return false; // this vxlan kernel holds no WireGuard peers
    }
  }

  readonly readKernel = (): Promise<DataPlaneState> =>
    Promise.resolve(
      makeState(
        [...this.state.routes.values()],
        [...this.state.neighbours.values()],
        [...this.state.fdb.values()],
        [...this.state.blackholes.values()],
      ),
    );

  /** The kernel's entries as plain lists, sorted by key. */
  get snapshot() {
    const sorted = <T>(m: Map<string, T>) =>
      [...m.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, v]) => v);
    return {
      routes: sorted(this.state.routes),
      neighbours: sorted(this.state.neighbours),
      fdb: sorted(this.state.fdb),
      blackholes: sorted(this.state.blackholes),
    };
  }
}

/** A table over `kernel` (a fresh, empty one by default). */
export function setup(kernel = new FakeKernel()) {
  const logger = createRecordingLogger();
  const table = new KernelTable({
    entriesFor: (l) => vxlanPeerEntries(l, topology),
    applyOps: kernel.applyOps,
    readKernel: kernel.readKernel,
    logger,
  });
  return { kernel, table, logger };
}

export const onlyPeers = (...ns: number[]) => ({
  routes: ns.map((n) => route(n)),
  neighbours: ns.map((n) => neigh(n)),
  fdb: ns.map((n) => fdb(n)),
  blackholes: [] as BlackholeEntry[],
});
