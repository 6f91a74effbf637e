import type { Clock } from '@flannel-ts/core';
import { Wakeup, errorMessage, leaseHolder, sameSubnets } from '@flannel-ts/core';
import type { LeaseBatch, LeaseStore, StoredLease } from './lease-store';

/**
 * What happened to our lease key: it vanished, or another host's value now sits in it; or the
 * watch itself ended (so nothing more would be seen).
 */
export type OwnLeaseEvent =
  | { readonly kind: 'gone' }
  | { readonly kind: 'taken'; readonly by: string }
  | { readonly kind: 'ended'; readonly error: string };

/** @internal */
export interface OwnLeaseWatch {
  /** The next event, or 'timeout' after `waitMs` (undefined = wait forever, until close). */
  next(waitMs: number | undefined, clock: Clock): Promise<OwnLeaseEvent | 'timeout'>;
  close(): void;
}

function classify(batch: LeaseBatch, own: StoredLease, publicIp: string): OwnLeaseEvent[] {
  if (batch.kind === 'snapshot') {
    const now = batch.listing.leases.find((l) => sameSubnets(l.subnets, own.subnets));
    if (!now) return [{ kind: 'gone' }];
    return leaseHolder(now.attrs) === publicIp
      ? []
      : [{ kind: 'taken', by: leaseHolder(now.attrs) }];
  }
  return batch.events.flatMap((e): OwnLeaseEvent[] => {
    if (e.type === 'removed') return sameSubnets(e.subnets, own.subnets) ? [{ kind: 'gone' }] : [];
    if (!sameSubnets(e.lease.subnets, own.subnets) || leaseHolder(e.lease.attrs) === publicIp)
      return [];
    return [{ kind: 'taken', by: leaseHolder(e.lease.attrs) }];
  });
}

/**
 * Watches our own lease key (prefix semantics, so the dual-stack form matches too) from just after
 * the revision we wrote it at, and queues what happens to it.
 * @internal
 */
export function watchOwnLease(options: {
  store: LeaseStore;
  lease: StoredLease;
  publicIp: string;
  signal: AbortSignal;
}): OwnLeaseWatch {
  const ctl = new AbortController();
  const stop = (): void => ctl.abort();
  options.signal.addEventListener('abort', stop, { once: true });
  const queue: OwnLeaseEvent[] = [];
  const wakeup = new Wakeup();
  const from = (BigInt(options.lease.modRevision) + 1n).toString();
  void (async () => {
    try {
      for await (const batch of options.store.watch(from, ctl.signal, options.lease.subnets)) {
        queue.push(...classify(batch, options.lease, options.publicIp));
        if (queue.length > 0) wakeup.wake();
      }
      if (!ctl.signal.aborted) queue.push({ kind: 'ended', error: 'the stream closed' });
    } catch (err) {
      if (!ctl.signal.aborted) queue.push({ kind: 'ended', error: errorMessage(err) });
    }
    wakeup.wake();
  })();
  return {
    async next(waitMs, clock) {
      for (;;) {
        const ev = queue.shift();
        if (ev) return ev;
        if ((await wakeup.wait(waitMs, clock, ctl.signal)) !== 'woken') return 'timeout';
      }
    },
    close() {
      options.signal.removeEventListener('abort', stop);
      ctl.abort();
    },
  };
}
