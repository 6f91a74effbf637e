import type { Cidr, Lease, Logger } from '@flannel-ts/core';
import { FlannelError, formatCidr } from '@flannel-ts/core';
import type { BackendContext, DataPlane, SyncReport } from '../backend';
import { saysDeviceMissing } from '../ip-runner';
import { applyDataPlane, opLine } from '../apply';
import type { DataPlaneRunners } from '../apply';
import type { MonitorEvent } from '../kernel/monitor-parse';
import type { PeerEntries } from '../peer-entries';
import { observationOf, readDataPlaneState } from '../read-state';
import type { OwnedScope } from '../read-state';
import { KernelTable } from './kernel-table';
import type { ApplyReport } from './kernel-table';

/** A device the entries live on (vxlan's `flannel.N`), and how to put it back. */
export interface ManagedDevice {
  readonly name: string;
  /** True when a link event for the device means it must be repaired (deleted, down, wrong MTU). */
  needsRepair(event: Extract<MonitorEvent, { table: 'link' }>): boolean;
  /** Puts the device back as specified; resolves true when the kernel dropped our entries on it. */
  repair(signal?: AbortSignal): Promise<boolean>;
}

/** The blackhole route of our subnet (`--ip-blackhole-route`), an entry like any other. */
export interface BlackholeRouteOptions {
  /** Our subnet: the route's destination. */
  readonly own: Cidr;
  /** Keep the route. When false, ours for `own` is removed at start if an earlier run left it. */
  readonly enabled: boolean;
  /** The subnet an earlier run held: if it is not `own`, our route for it is removed at start. */
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
  readonly device?: ManagedDevice | undefined;
  /** The device holds nothing of ours yet (it was just created): the first pass skips reading it. */
  readonly fresh?: boolean;
  readonly blackhole?: BlackholeRouteOptions | undefined;
}

/** The blackhole options of a backend's context, for our lease `own`. */
export function blackholeOf(ctx: BackendContext, own: Lease): BlackholeRouteOptions {
  return {
    own: own.subnets.ipv4,
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
  const own = formatCidr(b.own);
  if (!startup) return b.enabled ? [own] : [];
  const previous = b.previous && formatCidr(b.previous);
  return previous && previous !== own ? [own, previous] : [own];
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
  const { runners, logger, device } = o;
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
  if (o.blackhole?.enabled) table.setLocal({ blackholes: [{ dst: formatCidr(o.blackhole.own) }] });
  let deviceSuspect = false;
  const fresh = o.fresh ?? false;
  let first = true;

  const checkDevice = async (signal?: AbortSignal): Promise<void> => {
    if (!device || !deviceSuspect) return;
    deviceSuspect = false;
    if (!(await device.repair(signal))) return;
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
      return deviceSuspect || table.pending;
    },
    async apply(signal) {
      await checkDevice(signal);
      const r = await table.apply(signal);
      // The kernel flushes a deleted device's entries (and says so) before it reports the link
      // gone: lines refused for want of the device mean the device needs repairing first.
      if (device && r.failures.some((f) => saysDeviceMissing(f.message))) {
        deviceSuspect = true;
        await checkDevice(signal);
        const again = await table.resync(signal, false);
        return report({ ...again, changes: r.changes + again.changes });
      }
      return report(r);
    },
    async resync(signal) {
      // Later passes check the device too (start() has just made sure of it for the first): the
      // monitor may have missed its deletion.
      if (device && !first) deviceSuspect = true;
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
            if (device && event.name === device.name && device.needsRepair(event)) {
              deviceSuspect = true;
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
