import type { Clock, Lease, Logger } from '@flannel-ts/core';
import { Wakeup, errorMessage } from '@flannel-ts/core';
import type { DataPlane } from '@flannel-ts/backend';
import { PeerSet } from '@flannel-ts/subnet';
import type { LeaseListing, LeaseStore } from '@flannel-ts/subnet';

/** Options of {@link runDataPlane}. */
export interface DataPlaneLoopOptions {
  readonly store: LeaseStore;
  readonly dataPlane: DataPlane;
  readonly own: Lease;
  readonly backendType: string;
  readonly reconcileIntervalMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  /** A listing already made (by the lease acquisition); the loop lists itself when absent. */
  readonly initial?: LeaseListing | undefined;
}

/**
 * Keeps the data plane in line with the peer leases until the signal aborts: a full reconciliation
 * at start and every interval (reads the kernel: repairs what someone deleted), an incremental one
 * after every lease change. Syncs never overlap; changes arriving during a sync coalesce into one
 * more. Errors are logged (once per distinct message) and retried by the next pass.
 */
export async function runDataPlane(o: DataPlaneLoopOptions): Promise<void> {
  const { logger, signal } = o;
  const peers = new PeerSet(o.own.subnets, (l) => {
    const ok = l.attrs.backendType === o.backendType;
    if (!ok)
      logger.debug(`ignoring non-${o.backendType} lease`, {
        publicIp: l.attrs.publicIp,
        backendType: l.attrs.backendType ?? '',
      });
    return ok;
  });
  let dirty = true;
  let full = true;
  const wakeup = new Wakeup();
  const poke = (): void => {
    dirty = true;
    wakeup.wake();
  };
  const listing = o.initial ?? (await o.store.list(signal));
  peers.replace(listing.leases);

  const watching = (async () => {
    const from = (BigInt(listing.revision) + 1n).toString();
    for await (const batch of o.store.watch(from, signal)) {
      if (peers.apply(batch)) poke();
    }
  })().catch((err: unknown) => {
    if (!signal.aborted) logger.error('lease watch ended', { error: errorMessage(err) });
  });

  let lastError = '';
  let nextFullAt = 0;
  while (!signal.aborted) {
    if (o.clock.now() >= nextFullAt) {
      full = true;
      dirty = true;
    }
    if (dirty) {
      const wasFull = full;
      dirty = false;
      full = false;
      if (wasFull) nextFullAt = o.clock.now() + o.reconcileIntervalMs;
      try {
        // A full pass covers everything; otherwise hand over just what changed since the last pass.
        const changed = peers.takeChanges();
        const r = await o.dataPlane.sync(
          peers.list(),
          wasFull,
          signal,
          wasFull ? undefined : changed,
        );
        if (r.changes > 0 || lastError) {
          logger.info('data plane in sync', {
            peers: peers.size,
            programmed: r.programmedPeers,
            changes: r.changes,
            full: wasFull,
          });
        }
        lastError = '';
      } catch (err) {
        if (signal.aborted) break;
        const msg = errorMessage(err);
        if (msg !== lastError) logger.error('data plane sync failed; retrying', { error: msg });
        lastError = msg;
        full = true;
        nextFullAt = Math.min(nextFullAt, o.clock.now() + 1000);
      }
      continue;
    }
    await wakeup.wait(Math.max(0, nextFullAt - o.clock.now()), o.clock, signal);
  }
  await watching;
}
