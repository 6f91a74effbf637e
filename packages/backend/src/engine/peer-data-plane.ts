import type { Lease, Logger } from '@flannel-ts/core';
import { FlannelError } from '@flannel-ts/core';
import type { DataPlane, SyncReport } from '../backend';
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

/** Options of {@link createPeerDataPlane}. */
export interface PeerDataPlaneOptions {
  readonly runners: DataPlaneRunners;
  readonly scope: OwnedScope;
  /** What one peer needs: the only thing a backend says. */
  readonly entriesFor: (lease: Lease) => PeerEntries;
  readonly logger: Logger;
  readonly device?: ManagedDevice | undefined;
  /** The kernel holds nothing of ours yet (the device was just created): skip the first read. */
  readonly fresh?: boolean;
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
    );
  }
}

/**
 * The data plane every peer-programming backend shares: one {@link KernelTable} fed by lease
 * changes and by a kernel monitor, so an entry someone deletes is put back as soon as the kernel
 * says so, and a deleted or downed device is rebuilt with every peer. Backends differ only in
 * `entriesFor` (and vxlan in its device).
 */
export function createPeerDataPlane(o: PeerDataPlaneOptions): DataPlane {
  const { runners, scope, logger, device } = o;
  const table = new KernelTable({
    entriesFor: o.entriesFor,
    applyOps: (ops, signal) => applyDataPlane(ops, runners, signal),
    readKernel: (signal) => readDataPlaneState(runners, scope, signal),
    logger,
  });
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
    update: (changes) => table.update(changes),
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
      const readKernel = !(first && fresh);
      first = false;
      return report(await table.resync(signal, readKernel));
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
