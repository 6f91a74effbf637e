import type { Cidr, Lease, Logger } from '@flannel-ts/core';
import { FlannelError, formatCidr } from '@flannel-ts/core';
import type { BackendContext, BackendNetworks, DataPlane, SyncReport } from '../backend';
import { saysDeviceMissing } from '../ip-runner';
import { applyDataPlane, opLine } from '../apply';
import type { DataPlaneRunners } from '../apply';
import type { MonitorEvent } from '../kernel/monitor-parse';
import type { PeerEntries } from '../peer-entries';
import { observationOf, readDataPlaneState } from '../read-state';
import type { OwnedScope } from '../read-state';
import type { DataPlaneOp } from '../plan';
import { KernelTable } from './kernel-table';
import type { ApplyReport } from './kernel-table';

/** A device the entries live on (vxlan's `flannel.N`, `flannel-v6.N`), and how to put it back. */
export interface ManagedDevice {
  readonly name: string;
  /** True when a link event for the device means it must be repaired (deleted, down, wrong MTU). */
  needsRepair(event: Extract<MonitorEvent, { table: 'link' }>): boolean;
  /** Puts the device back as specified; resolves true when the kernel dropped our entries on it. */
  repair(signal?: AbortSignal): Promise<boolean>;
}

/** The blackhole routes of our subnets (`--ip-blackhole-route`), entries like any other. */
export interface BlackholeRouteOptions {
  /** Our subnets (one per family we run): the routes' destinations. */
  readonly own: readonly Cidr[];
  /** Keep the routes. When false, ours for `own` are removed at start if an earlier run left them. */
  readonly enabled: boolean;
  /** The subnet an earlier run held: if it is not in `own`, our route for it is removed at start. */
  readonly previous?: Cidr | undefined;
}

/** Options of {@link createPeerDataPlane}. */
export interface PeerDataPlaneOptions {
  readonly runners: DataPlaneRunners;
  /** Where the peers' entries live (`blackholes` is filled in from `blackhole`). */
  readonly scope: OwnedScope;
  /**
   * What one peer needs: the only thing a backend says. Absent for a backend that programs no
   * peers (alloc): peer changes are then ignored and no peer states are reported.
   */
  readonly entriesFor?: ((lease: Lease) => PeerEntries) | undefined;
  readonly logger: Logger;
  /** The devices the entries live on (none for host-gw; one per family for vxlan). */
  readonly devices?: readonly ManagedDevice[] | undefined;
  /** The devices hold nothing of ours yet (just created): the first pass skips reading them. */
  readonly fresh?: boolean;
  readonly blackhole?: BlackholeRouteOptions | undefined;
}

/**
 * The blackhole options of a backend's context, for our lease `own` and the families in
 * `networks` (IPv4 only when not given).
 */
export function blackholeOf(
  ctx: BackendContext,
  own: Lease,
  networks: BackendNetworks = { ipv4: own.subnets.ipv4 },
): BlackholeRouteOptions {
  const subnets = [networks.ipv4 && own.subnets.ipv4, networks.ipv6 && own.subnets.ipv6];
  return {
    own: subnets.filter((c): c is Cidr => c !== undefined),
    enabled: ctx.blackholeRoute ?? false,
    previous: ctx.previousSubnet,
  };
}

/**
 * The destinations whose blackhole route of ours the data plane reads and watches: our subnet
 * while the route is wanted; at start-up also when it is not (an earlier run's goes), and the
 * previous subnet (ours no longer). After start-up nothing else: another agent sharing the
 * namespace may hold that subnet now.
 */
function blackholeDestinations(b: BlackholeRouteOptions | undefined, startup: boolean): string[] {
  if (!b) return [];
  const own = b.own.map(formatCidr);
  if (!startup) return b.enabled ? own : [];
  const previous = b.previous && formatCidr(b.previous);
  return previous && !own.includes(previous) ? [...own, previous] : own;
}

/** The device an op's entry lives on (none for a blackhole route). */
function opDevice(op: DataPlaneOp): string | undefined {
  return 'dev' in op.entry ? op.entry.dev : undefined;
}

/** The kernel refused some entries; they are retried by the next full pass. */
export class KernelRejectedError extends FlannelError {
  constructor(report: ApplyReport) {
    const shown = report.failures
      .slice(0, 3)
      .map((f) => `"${opLine(f.op).line}": ${f.message}`)
      .join('; ');
    const more = report.failures.length > 3 ? ` (and ${report.failures.length - 3} more)` : '';
    super(
      'KERNEL_REJECTED',
      `the kernel refused ${report.failures.length} change(s): ${shown}${more}`,
      // The rest was applied; the refused entries stay dirty and the next pass tries them again
      // (a gateway may become reachable, a conflicting entry may go).
      { disposition: 'retry' },
    );
  }
}

/**
 * The data plane every peer-programming backend shares: one {@link KernelTable} fed by lease
 * changes and by a kernel monitor, so an entry someone deletes is put back as soon as the kernel
 * says so, and a deleted or downed device is rebuilt with every peer. Backends differ only in
 * `entriesFor` (and vxlan in its device). The blackhole route of our subnet is one more entry of
 * the same table, owned by the host rather than a peer, so it is kept the same way.
 */
export function createPeerDataPlane(o: PeerDataPlaneOptions): DataPlane {
  const { runners, logger } = o;
  const devices = o.devices ?? [];
  const withBlackholes = (startup: boolean): OwnedScope => ({
    ...o.scope,
    blackholes: blackholeDestinations(o.blackhole, startup),
  });
  /** Until the first full pass is done. */
  let startup = true;
  /** What is ours now: what full passes read and monitor events are judged by. */
  let scope = withBlackholes(startup);
  const table = new KernelTable({
    entriesFor: o.entriesFor ?? (() => ({ routes: [] })),
    applyOps: (ops, signal) => applyDataPlane(ops, runners, signal),
    readKernel: (signal) => readDataPlaneState(runners, scope, signal),
    logger,
  });
  if (o.blackhole?.enabled) {
    table.setLocal({ blackholes: o.blackhole.own.map((c) => ({ dst: formatCidr(c) })) });
  }
  /** Devices a kernel event or a refused line says may need repairing. */
  const suspects = new Set<ManagedDevice>();
  const fresh = o.fresh ?? false;
  let first = true;

  const checkDevice = async (signal?: AbortSignal): Promise<void> => {
    if (suspects.size === 0) return;
    const suspect = [...suspects];
    suspects.clear();
    let flushed = false;
    for (const d of suspect) if (await d.repair(signal)) flushed = true;
    if (!flushed) return;
    // One table for both families: a rebuilt device's entries, and (harmlessly, `replace` is
    // idempotent) the other family's, are all applied again.
    table.invalidate();
    // What the monitors still hold of the old device's flush would only be re-applied.
    runners.monitor?.restart();
  };
  const report = (r: ApplyReport): SyncReport => {
    if (r.failures.length > 0) throw new KernelRejectedError(r);
    const { programmed, skipped } = table.peerCounts;
    return {
      changes: r.changes,
      repairs: r.repairs,
      programmedPeers: programmed,
      skippedPeers: skipped,
    };
  };

  return {
    update: (changes) => {
      if (o.entriesFor) table.update(changes);
    },
    peerStates: () => table.peerStates(),
    get pending() {
      return suspects.size > 0 || table.pending;
    },
    async apply(signal) {
      await checkDevice(signal);
      const r = await table.apply(signal);
      // The kernel flushes a deleted device's entries (and says so) before it reports the link
      // gone: lines refused for want of the device mean the device needs repairing first.
      const lost = r.failures.filter((f) => saysDeviceMissing(f.message));
      if (devices.length > 0 && lost.length > 0) {
        // The line names the device (`dev flannel-v6.1`); when none of ours matches, all are checked.
        const named = devices.filter((d) => lost.some((f) => opDevice(f.op) === d.name));
        for (const d of named.length > 0 ? named : devices) suspects.add(d);
        await checkDevice(signal);
        const again = await table.resync(signal, false);
        return report({ ...again, changes: r.changes + again.changes });
      }
      return report(r);
    },
    async resync(signal) {
      // Later passes check the device too (start() has just made sure of it for the first): the
      // monitor may have missed its deletion.
      if (!first) for (const d of devices) suspects.add(d);
      await checkDevice(signal);
      // A device just created holds nothing to read. (Nor is a blackhole route of ours likely to
      // linger then: the device is new after a reboot, which flushed every route.)
      const readKernel = !(first && fresh);
      first = false;
      const r = await table.resync(signal, readKernel);
      // The start-up pass is done: the previous subnet is no longer ours to look after.
      if (startup) {
        startup = false;
        scope = withBlackholes(false);
      }
      return report(r);
    },
    async watch(onDirty, signal) {
      const monitor = runners.monitor;
      if (!monitor) return;
      await monitor.watch(
        (event) => {
          if (event.table === 'link') {
            const d = devices.find((x) => x.name === event.name);
            if (d && d.needsRepair(event)) {
              suspects.add(d);
              onDirty(false);
            }
            return;
          }
          const seen = observationOf(event, scope);
          if (seen && table.observe(seen)) onDirty(false);
        },
        () => onDirty(true),
        signal,
      );
    },
  };
}
