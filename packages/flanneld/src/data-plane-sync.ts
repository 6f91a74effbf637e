import type { Clock, Lease, Logger } from '@flannel-ts/core';
import { Wakeup, dispositionOf, errorMessage } from '@flannel-ts/core';
import type { DataPlane, SyncReport } from '@flannel-ts/backend';
import { PeerSet } from '@flannel-ts/subnet';
import type { LeaseListing, LeaseStore, PeerLeaseContext } from '@flannel-ts/subnet';
import { TaskEndedError } from './supervisor';

/** Where the data-plane facts go (a metrics registry); every member optional. */
export interface DataPlaneMetrics {
  /** Kernel changes one pass applied. */
  kernelChanges?(count: number): void;
  /** Entries a pass put back after someone deleted or changed them. */
  repairs?(count: number): void;
  /** Seconds from a lease event's arrival to the pass that programmed it. */
  eventToKernel?(seconds: number): void;
  /** A peer lease rejected by validation, with its reason (`field rule`). */
  leaseRejected?(reason: string): void;
}

/** Options of {@link DataPlaneSync}. */
export interface DataPlaneSyncOptions {
  readonly store: LeaseStore;
  readonly dataPlane: DataPlane;
  readonly own: Lease;
  readonly backendType: string;
  /** The network config's ranges: every peer lease must fit them (see validatePeerLease). */
  readonly network: PeerLeaseContext['network'];
  readonly reconcileIntervalMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** A listing already made (by the lease acquisition); the peer watch lists itself when absent. */
  readonly initial?: LeaseListing | undefined;
  readonly metrics?: DataPlaneMetrics | undefined;
}

/** What {@link DataPlaneSync.state} tells: for readiness, metrics and status. */
export interface DataPlaneSyncState {
  /** True once a pass succeeded and none failed since. */
  readonly inSync: boolean;
  /** Why the last pass failed, while it is failing. */
  readonly lastError?: string;
  /** The last successful pass's report. */
  readonly lastReport?: SyncReport;
  /** Valid peer leases known now. */
  readonly knownPeers: number;
}

/**
 * Keeps the data plane in line with the peer leases, as three supervised tasks sharing one peer
 * set and one wake-up: {@link watchPeers} (lease listing + watch: marks peers dirty),
 * {@link run} (applies what is dirty; a full pass, which reads the kernel, at start and every
 * interval as the safety net) and {@link watchKernel} (kernel monitor: an entry someone deleted,
 * the device gone). Passes never overlap; whatever arrives during one is handled by the next.
 * A pass failing with a `retry` error is logged once per distinct message and retried by a full
 * pass a second later; any other error ends the task, for the supervisor to decide.
 * A watch that ends returns a `restart` error, so the supervisor starts it again: the peer watch
 * then re-lists, the kernel watch asks for a full pass; nothing is frozen.
 */
export class DataPlaneSync {
  readonly peers: PeerSet;
  private readonly wakeup = new Wakeup();
  private initial: LeaseListing | undefined;
  private listedOnce!: () => void;
  private readonly listed = new Promise<void>((resolve) => (this.listedOnce = resolve));
  /** Lease key → when its first unapplied change arrived (clock ms), for event→kernel timing. */
  private readonly arrivedAt = new Map<string, number>();
  private fullDue = true;
  private kernelWatches = 0;
  private passes = 0;
  private lastError = '';
  private lastReport: SyncReport | undefined;
  private firstPassDone!: () => void;
  /** Resolves after the first successful pass (the kernel watch starts then). */
  readonly firstPass = new Promise<void>((resolve) => (this.firstPassDone = resolve));

  constructor(private readonly o: DataPlaneSyncOptions) {
    this.initial = o.initial;
    // Every lease is checked before it reaches the data plane; a rejected one is warned about
    // once and treated as absent (so a peer overwritten with garbage loses its entries).
    this.peers = new PeerSet({
      own: { subnets: o.own.subnets, publicIp: o.own.attrs.publicIp },
      network: o.network,
      backendType: o.backendType,
      logger: o.logger,
      onRejected: o.metrics?.leaseRejected?.bind(o.metrics),
    });
  }

  state(): DataPlaneSyncState {
    return {
      inSync: this.passes > 0 && this.lastError === '',
      ...(this.lastError === '' ? {} : { lastError: this.lastError }),
      ...(this.lastReport ? { lastReport: this.lastReport } : {}),
      knownPeers: this.peers.size,
    };
  }

  /** Task: lists the leases (or takes the acquisition's listing), then follows the watch. */
  async watchPeers(signal: AbortSignal): Promise<void> {
    const listing = this.initial ?? (await this.o.store.list(signal));
    this.initial = undefined;
    this.take(this.peers.apply({ kind: 'snapshot', listing }));
    this.listedOnce();
    const from = (BigInt(listing.revision) + 1n).toString();
    for await (const batch of this.o.store.watch(from, signal)) {
      this.take(this.peers.apply(batch));
    }
    if (!signal.aborted) throw new TaskEndedError('the lease watch');
  }

  /** Hands the peer set's changes to the data plane and wakes the loop. */
  private take(changed: boolean): void {
    if (!changed) return;
    const changes = this.peers.takeChanges();
    const now = this.o.clock.now();
    for (const key of changes.keys()) if (!this.arrivedAt.has(key)) this.arrivedAt.set(key, now);
    this.o.dataPlane.update(changes);
    this.wakeup.wake();
  }

  /** Task: follows kernel events; after a restart, events may have been missed: a full pass. */
  async watchKernel(signal: AbortSignal): Promise<void> {
    // The first watch starts right after the first full pass; a later one follows a monitor that
    // ended, so whatever changed meanwhile needs a full pass.
    if (this.kernelWatches++ > 0) {
      this.fullDue = true;
      this.wakeup.wake();
    }
    await this.o.dataPlane.watch((needFullPass) => {
      if (needFullPass) this.fullDue = true;
      this.wakeup.wake();
    }, signal);
    if (!signal.aborted) throw new TaskEndedError('the kernel monitor');
  }

  /** Task: applies what is dirty, and a full pass at start and every interval. */
  async run(signal: AbortSignal): Promise<void> {
    const { clock, logger, dataPlane } = this.o;
    await Promise.race([this.listed, abortOf(signal)]);
    let nextFullAt = 0;
    while (!signal.aborted) {
      if (clock.now() >= nextFullAt) this.fullDue = true;
      if (this.fullDue || dataPlane.pending) {
        const full = this.fullDue;
        this.fullDue = false;
        if (full) nextFullAt = clock.now() + this.o.reconcileIntervalMs;
        // The lease changes this pass programs: those that arrived before it started.
        const arrived = new Map(this.arrivedAt);
        this.arrivedAt.clear();
        try {
          const r = full ? await dataPlane.resync(signal) : await dataPlane.apply(signal);
          this.record(r, full, arrived);
        } catch (err) {
          for (const [key, at] of arrived) {
            if (!this.arrivedAt.has(key)) this.arrivedAt.set(key, at);
          }
          if (signal.aborted) break;
          // The loop retries what may work next time (the kernel refused a line, a read failed);
          // the supervisor decides the rest: a permanent error (the VTEP MAC changed, iproute2
          // missing) ends the agent, a surprise restarts the task.
          if (dispositionOf(err) !== 'retry') {
            this.lastError = errorMessage(err);
            throw err;
          }
          const msg = errorMessage(err);
          if (msg !== this.lastError) {
            logger.error('data plane sync failed; retrying', { error: msg });
          }
          this.lastError = msg;
          nextFullAt = Math.min(nextFullAt, clock.now() + 1000);
        }
        continue;
      }
      await this.wakeup.wait(Math.max(0, nextFullAt - clock.now()), clock, signal);
    }
  }

  private record(r: SyncReport, full: boolean, arrived: ReadonlyMap<string, number>): void {
    const { clock, logger, metrics } = this.o;
    const fields = {
      peers: this.peers.size,
      programmed: r.programmedPeers,
      changes: r.changes,
      full,
    };
    // Quiet at rest: lease events are debug; the first programming, repairs and recovery are not.
    if (this.passes === 0 || this.lastError) logger.info('data plane in sync', fields);
    else if (r.repairs > 0) {
      logger.info('restored kernel entries someone removed or changed', {
        ...fields,
        repairs: r.repairs,
      });
    } else if (r.changes > 0) logger.debug('data plane in sync', fields);
    if (r.changes > 0) metrics?.kernelChanges?.(r.changes);
    if (r.repairs > 0) metrics?.repairs?.(r.repairs);
    const now = clock.now();
    for (const at of arrived.values()) metrics?.eventToKernel?.((now - at) / 1000);
    this.passes++;
    this.lastError = '';
    this.lastReport = r;
    if (this.passes === 1) this.firstPassDone();
  }
}

/** Resolves when the signal aborts. */
function abortOf(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
