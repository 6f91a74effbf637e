import type { IWatchResponse, Namespace } from 'etcd3';
import type { Logger } from '@flannel-ts/core';
import { Backoff, errorMessage, systemClock } from '@flannel-ts/core';
import { AsyncQueue } from './async-queue';
import type { EtcdConnectionState } from './etcd-connection-state';
import { StoreUnavailableError } from './errors';
import { skippedKey, toStoredLease } from './etcd-kv';
import { readLeaseKey } from './lease-validation';
import type { LeaseBatch, LeaseEvent, LeaseListing, SkippedKey } from './lease-store';

/** @internal */
export interface WatchLeasesOptions {
  readonly ns: Namespace;
  readonly prefix: string;
  readonly fromRevision: string;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** The store's connection state: the only place that logs about reaching etcd. */
  readonly connection: EtcdConnectionState;
  readonly relist: () => Promise<LeaseListing>;
}

type Item = { kind: 'data'; res: IWatchResponse } | { kind: 'error'; error: Error };

/**
 * Cancels a watcher without hanging: etcd3 waits for the watch to connect before cancelling it, which
 * never happens while etcd is down, so give up after a second (the stream is closed with the client).
 * @internal
 */
export async function cancelWatcher(watcher: { cancel(): Promise<void> }): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    watcher.cancel().catch(() => undefined),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000))),
  ]);
  clearTimeout(timer);
}

/** Turns one watch response into a batch of lease events. */
function toBatch(res: IWatchResponse): LeaseBatch {
  const events: LeaseEvent[] = [];
  const skipped: SkippedKey[] = [];
  for (const ev of res.events) {
    const kv = ev.kv;
    if (ev.type === 'Delete') {
      // Strictly, as for puts: deleting a hostile key with host bits (10.5.3.5-24) must not
      // remove the real peer 10.5.3.0-24.
      const subnets = readLeaseKey(kv.key.toString());
      if (!('field' in subnets)) events.push({ type: 'removed', subnets });
      continue;
    }
    const r = toStoredLease(kv);
    if (r.ok) events.push({ type: 'added', lease: r.lease });
    else skipped.push(skippedKey(r));
  }
  return { kind: 'events', events, skipped, revision: res.header.revision };
}

/**
 * Watches `prefix` from `fromRevision` until the signal aborts. etcd3 reconnects a broken stream
 * by itself and resumes from the last revision seen; when etcd cancels the watch (the resume point
 * was compacted away, or another server-side cancel) we re-list and yield a snapshot, and retry
 * after a back-off (100 ms doubling to 5 s) if that fails. Connection losses and recoveries go to
 * `connection`, which logs the transitions only, never a line per reconnect.
 * @internal
 */
export async function* watchLeases(options: WatchLeasesOptions): AsyncGenerator<LeaseBatch> {
  const { signal, logger, connection } = options;
  const backoff = new Backoff(100, 5000);
  let next = BigInt(options.fromRevision);
  while (!signal.aborted) {
    const queue = new AsyncQueue<Item>(signal);
    const watcher = options.ns
      .watch()
      .prefix(options.prefix)
      .startRevision(next.toString())
      .watcher();
    watcher.on('data', (res) => queue.push({ kind: 'data', res }));
    watcher.on('error', (error: Error) => {
      queue.push({ kind: 'error', error });
      queue.close();
    });
    // etcd3 reconnects by itself; 'connected' means etcd answered the watch's create request.
    watcher.on('disconnected', (err: Error) => connection.failed(err));
    watcher.on('connected', () => connection.succeeded());
    let failure: Error | undefined;
    try {
      for await (const item of queue) {
        if (item.kind === 'error') {
          failure = item.error;
          break;
        }
        backoff.reset();
        next = BigInt(item.res.header.revision) + 1n;
        const batch = toBatch(item.res);
        if (batch.kind === 'events' && batch.events.length + batch.skipped.length > 0) yield batch;
      }
    } finally {
      // A watch etcd canceled is already detached; cancelling it again would wait forever.
      if (!failure) await cancelWatcher(watcher);
    }
    if (!failure || signal.aborted) continue;
    // etcd cancels a watch whose start revision was compacted away (etcd 3.4 sends no reason text,
    // and etcd3 drops compact_revision), so any server-side cancel is answered the safe way: re-list
    // and yield a snapshot, which replaces everything the consumer knew, then resume after it.
    logger.info('etcd watch canceled (compaction?); re-listing leases', {
      from: String(next),
      error: errorMessage(failure),
    });
    try {
      const listing = await options.relist();
      connection.succeeded();
      next = BigInt(listing.revision) + 1n;
      yield { kind: 'snapshot', listing };
      continue;
    } catch (err) {
      if (err instanceof StoreUnavailableError) connection.failed(err);
      else logger.warn('re-listing leases failed; retrying', { error: errorMessage(err) });
    }
    await systemClock.sleep(backoff.next(), signal).catch(() => undefined);
  }
}
