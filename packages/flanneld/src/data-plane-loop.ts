import type { Clock, Lease, Logger } from '@flannel-ts/core';
import { Wakeup, errorMessage } from '@flannel-ts/core';
import type { DataPlane } from '@flannel-ts/backend';
import { PeerSet } from '@flannel-ts/subnet';
import type { LeaseListing, LeaseStore, PeerLeaseContext } from '@flannel-ts/subnet';

/** Options of {@link runDataPlane}. */
export interface DataPlaneLoopOptions {
  readonly store: LeaseStore;
  readonly dataPlane: DataPlane;
  readonly own: Lease;
  readonly backendType: string;
  /** The network config's ranges: every peer lease must fit them (see validatePeerLease). */
  readonly network: PeerLeaseContext['network'];
  readonly reconcileIntervalMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  /** A listing already made (by the lease acquisition); the loop lists itself when absent. */
  readonly initial?: LeaseListing | undefined;
}

/**
 * Keeps the data plane in line with the peer leases until the signal aborts. Lease events and
 * kernel events (an entry someone deleted, the device gone) only mark entries dirty and wake the
 * loop, which applies just those; a full pass (reads the kernel: the safety net for anything the
 * monitor missed) runs at start and every interval. Passes never overlap; whatever arrives during
 * one is handled by the next. Errors are logged (once per distinct message) and retried by a full
 * pass a second later.
 */
export async function runDataPlane(o: DataPlaneLoopOptions): Promise<void> {
  const { logger, signal, dataPlane } = o;
  // Every lease is checked before it reaches the data plane; a rejected one is warned about once
  // and treated as absent (so a peer overwritten with garbage loses its entries).
  const peers = new PeerSet({
    own: { subnets: o.own.subnets, publicIp: o.own.attrs.publicIp },
    network: o.network,
    backendType: o.backendType,
    logger,
  });
  const wakeup = new Wakeup();
  let fullDue = true;
  const listing = o.initial ?? (await o.store.list(signal));
  peers.apply({ kind: 'snapshot', listing });
  dataPlane.update(peers.takeChanges());

  const watching = (async () => {
    const from = (BigInt(listing.revision) + 1n).toString();
    for await (const batch of o.store.watch(from, signal)) {
      if (!peers.apply(batch)) continue;
      dataPlane.update(peers.takeChanges());
      wakeup.wake();
    }
  })().catch((err: unknown) => {
    if (!signal.aborted) logger.error('lease watch ended', { error: errorMessage(err) });
  });
  // The kernel monitor starts after the first pass: its two process starts would delay the first
  // programming. (An entry deleted in the moment between the two waits for the next full pass.)
  let kernelEvents: Promise<void> | undefined;
  const watchKernel = (): Promise<void> =>
    dataPlane
      .watch((needFullPass) => {
        if (needFullPass) fullDue = true;
        wakeup.wake();
      }, signal)
      .catch((err: unknown) => {
        if (!signal.aborted) logger.error('kernel monitor ended', { error: errorMessage(err) });
      });

  let lastError = '';
  let first = true;
  let nextFullAt = 0;
  while (!signal.aborted) {
    if (o.clock.now() >= nextFullAt) fullDue = true;
    if (fullDue || dataPlane.pending) {
      const full = fullDue;
      fullDue = false;
      if (full) nextFullAt = o.clock.now() + o.reconcileIntervalMs;
      try {
        const r = full ? await dataPlane.resync(signal) : await dataPlane.apply(signal);
        const fields = {
          peers: peers.size,
          programmed: r.programmedPeers,
          changes: r.changes,
          full,
        };
        // Quiet at rest: lease events are debug; the first programming, repairs and recovery are not.
        if (first || lastError) logger.info('data plane in sync', fields);
        else if (r.repairs > 0) {
          logger.info('restored kernel entries someone removed or changed', {
            ...fields,
            repairs: r.repairs,
          });
        } else if (r.changes > 0) logger.debug('data plane in sync', fields);
        first = false;
        lastError = '';
      } catch (err) {
        if (signal.aborted) break;
        const msg = errorMessage(err);
        if (msg !== lastError) logger.error('data plane sync failed; retrying', { error: msg });
        lastError = msg;
        nextFullAt = Math.min(nextFullAt, o.clock.now() + 1000);
      }
      kernelEvents ??= watchKernel();
      continue;
    }
    await wakeup.wait(Math.max(0, nextFullAt - o.clock.now()), o.clock, signal);
  }
  await Promise.all([watching, kernelEvents]);
}
