import type { Clock, LeaseAttrs, Logger, SubnetPair } from '@flannel-ts/core';
import {
  Backoff,
  encodeLeaseAttrs,
  FlannelError,
  formatCidr,
  formatSubnetKey,
  isReservation,
  leaseHolder,
  parseSubnetKey,
  sameSubnets,
} from '@flannel-ts/core';
import { decideAllocation } from './allocator';
import { LeaseLostError, StoreUnavailableError, SubnetExhaustedError } from './errors';
import type { LeaseListing, LeaseStore, StoredLease } from './lease-store';
import type { NetworkConfig } from './network-config';
import { watchOwnLease } from './own-lease-watch';

/** Upstream's lease duration: 24 h (SPEC 1.4). */
export const DEFAULT_LEASE_TTL_SECONDS = 86_400;
const MAX_ATTEMPTS = 100;

/** Options of {@link LeaseManager}. */
export interface LeaseManagerOptions {
  readonly store: LeaseStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly ttlSeconds?: number;
  /** Renew this long before the TTL runs out (`--subnet-lease-renew-margin`, default 60 min). */
  readonly renewMarginMs: number;
  readonly random?: () => number;
}

/** What {@link LeaseManager.acquire} needs to know about this host. */
export interface AcquireRequest {
  readonly config: NetworkConfig;
  readonly attrs: LeaseAttrs;
  readonly previous?: SubnetPair | undefined;
}

/** The lease this host holds, for readiness, metrics and status. */
export interface HeldLease {
  readonly lease: StoredLease;
  /** When (clock ms) the key's TTL runs out; undefined for a reservation (it never expires). */
  readonly expiresAtMs: number | undefined;
  /** When (clock ms) the next renewal is due; undefined for a reservation. */
  readonly renewAtMs: number | undefined;
}

/** Human-readable subnets of a lease, for log fields. */
export function describeSubnets(s: SubnetPair): string {
  return s.ipv6 ? `${formatCidr(s.ipv4)} ${formatCidr(s.ipv6)}` : formatCidr(s.ipv4);
}

/**
 * Acquires this host's lease and keeps it (port of flannel pkg/subnet/etcd/local_manager.go, with
 * SPEC D1 retry on a lost race, D3 reservations, D4 no lease leak and D5 re-acquire on loss).
 */
export class LeaseManager {
  private readonly ttlSeconds: number;
  private readonly random: () => number;
  private listing: LeaseListing | undefined;
  private heldLease: HeldLease | undefined;

  constructor(private readonly options: LeaseManagerOptions) {
    this.ttlSeconds = options.ttlSeconds ?? DEFAULT_LEASE_TTL_SECONDS;
    this.random = options.random ?? Math.random;
  }

  /**
   * Runs `op`, retrying while the store is unreachable (1 s doubling to 60 s). Quiet through an
   * outage: the first failure is logged (and any with a different error), the others at debug,
   * and a success after failures once, with how many retries it took.
   */
  private async retrying<T>(what: string, signal: AbortSignal, op: () => Promise<T>): Promise<T> {
    const { logger, clock } = this.options;
    const backoff = new Backoff(1000, 60_000);
    let retries = 0;
    let lastError = '';
    for (;;) {
      try {
        const result = await op();
        if (retries > 0) logger.info(`${what} succeeded after retrying`, { retries });
        return result;
      } catch (err) {
        if (!(err instanceof StoreUnavailableError) || signal.aborted) throw err;
        const retryInMs = backoff.next();
        const fields = { error: err.message, retryInMs };
        if (err.message !== lastError) logger.error(`${what} failed; retrying`, fields);
        else logger.debug(`${what} failed; retrying`, fields);
        lastError = err.message;
        retries += 1;
        await clock.sleep(retryInMs, signal);
      }
    }
  }

  /** The lease held now (after {@link acquire}, kept current by {@link maintain}). */
  get held(): HeldLease | undefined {
    return this.heldLease;
  }

  /** Records the lease we hold; `written` when we just wrote it (its TTL starts now). */
  private hold(lease: StoredLease, written: boolean): StoredLease {
    const { clock, renewMarginMs } = this.options;
    if (isReservation(lease)) {
      this.heldLease = { lease, expiresAtMs: undefined, renewAtMs: undefined };
    } else {
      const expiresAtMs = written
        ? clock.now() + this.ttlSeconds * 1000
        : (this.heldLease?.expiresAtMs ?? clock.now() + this.ttlSeconds * 1000);
      this.heldLease = { lease, expiresAtMs, renewAtMs: expiresAtMs - renewMarginMs };
    }
    return lease;
  }

  /**
   * The listing the last {@link acquire} decided on, handed to the data plane so a start-up reads
   * the leases once; its watch resumes after this listing's revision, so nothing is missed.
   */
  takeListing(): LeaseListing | undefined {
    const l = this.listing;
    this.listing = undefined;
    return l;
  }

  /** Takes a lease for this host, retrying lost races until one is won or the range is full. */
  async acquire(request: AcquireRequest, signal: AbortSignal): Promise<StoredLease> {
    const { store, logger } = this.options;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const listing = await this.retrying('listing leases', signal, () => store.list(signal));
      this.listing = listing;
      // The data plane warns about these keys (once per key and reason) when it reads this listing.
      for (const s of listing.skipped) logger.debug('ignoring unreadable lease key', { ...s });
      const decision = decideAllocation({
        config: request.config,
        leases: listing.leases,
        publicIp: leaseHolder(request.attrs),
        publicIpv6: request.attrs.publicIpv6,
        previous: request.previous,
        occupied: listing.skipped.flatMap((s) => parseSubnetKey(s.key) ?? []),
        random: this.random,
      });
      switch (decision.kind) {
        case 'exhausted':
          throw new SubnetExhaustedError(decision.message);
        case 'remove-incompatible':
          logger.warn('deleting our lease: it no longer fits the network config', {
            subnet: describeSubnets(decision.lease.subnets),
          });
          await this.retrying('deleting lease', signal, () => store.remove(decision.lease));
          continue;
        case 'reuse': {
          if (decision.others.length > 0) warnSeveralOwn(logger, decision.lease, decision.others);
          const r = await this.refresh(decision.lease, request.attrs, signal);
          if (r) {
            logger.info('found lease for current IP, reusing', {
              subnet: describeSubnets(r.subnets),
              publicIp: request.attrs.publicIp,
              publicIpv6: request.attrs.publicIpv6 ?? undefined,
              reservation: isReservation(r),
            });
            return this.hold(r, r !== decision.lease);
          }
          continue;
        }
        case 'create': {
          const r = await this.retrying('creating lease', signal, () =>
            store.create(decision.subnets, request.attrs, this.ttlSeconds),
          );
          if (r.kind === 'created') {
            logger.info(
              decision.source === 'previous'
                ? 'found previously leased subnet, reusing'
                : 'allocated lease to current node',
              {
                subnet: describeSubnets(r.lease.subnets),
                publicIp: request.attrs.publicIp,
                publicIpv6: request.attrs.publicIpv6 ?? undefined,
              },
            );
            return this.hold(r.lease, true);
          }
          // Another host won this subnet between our list and our create: decide again (SPEC D1).
          logger.debug('subnet taken by another host meanwhile; retrying', {
            subnet: describeSubnets(decision.subnets),
            attempt,
          });
          await this.options.clock.sleep(Math.floor(this.random() * 50 * attempt), signal);
        }
      }
    }
    throw new FlannelError('LEASE_RETRIES', 'max retries reached trying to acquire a subnet');
  }

  /**
   * Rewrites a lease we hold with a fresh TTL (a reservation is only rewritten when its attributes
   * changed, and keeps having no TTL). Returns undefined when the key changed under us.
   */
  private async refresh(
    lease: StoredLease,
    attrs: LeaseAttrs,
    signal: AbortSignal,
  ): Promise<StoredLease | undefined> {
    if (isReservation(lease) && encodeLeaseAttrs(lease.attrs) === encodeLeaseAttrs(attrs)) {
      return lease;
    }
    const r = await this.retrying('renewing lease', signal, () =>
      this.options.store.update(lease, attrs, this.ttlSeconds),
    );
    return r.kind === 'updated' ? this.hold(r.lease, true) : undefined;
  }

  /**
   * Keeps the lease until the signal aborts: renews it `renewMarginMs` before its TTL ends, and if
   * the key vanishes (expired, deleted) takes the same subnet back while it is free (SPEC D5).
   * Restartable: it resumes with the lease held now (`lease` is only the starting point), watching
   * our key from the revision it was last written at, so nothing in between is missed.
   * Throws {@link LeaseLostError} when another host holds the subnet by then, and a `restart`
   * error when the watch of our key ended (a supervisor runs this again).
   */
  async maintain(lease: StoredLease, attrs: LeaseAttrs, signal: AbortSignal): Promise<void> {
    const { clock, logger, store } = this.options;
    let current = this.heldLease?.lease ?? this.hold(lease, true);
    // Renew `renewMarginMs` before the TTL granted at our last write runs out (our clock; etcd
    // does the expiring).
    const renewAt = (): number => this.heldLease?.renewAtMs ?? clock.now();
    if (isReservation(current)) {
      logger.info('holding a reservation; it is never renewed', {
        subnet: describeSubnets(current.subnets),
      });
    } else {
      logger.info('lease renewal scheduled', {
        subnet: describeSubnets(current.subnets),
        renewAt: new Date(renewAt()).toISOString(),
        ttlSeconds: this.ttlSeconds,
      });
    }
    const own = watchOwnLease({ store, lease: current, publicIp: leaseHolder(attrs), signal });
    try {
      while (!signal.aborted) {
        const wait = isReservation(current) ? undefined : Math.max(0, renewAt() - clock.now());
        const event = await own.next(wait, clock);
        if (signal.aborted) return;
        if (event === 'timeout') {
          logger.debug('renewing lease', { subnet: describeSubnets(current.subnets) });
          const renewed = await this.refresh(current, attrs, signal);
          if (renewed) {
            current = renewed;
            logger.info('lease renewed', {
              subnet: describeSubnets(current.subnets),
              ttlSeconds: this.ttlSeconds,
            });
            continue;
          }
        } else if (event.kind === 'taken') {
          throw new LeaseLostError(lostMessage(current.subnets, event.by));
        } else if (event.kind === 'ended') {
          throw new FlannelError(
            'OWN_LEASE_WATCH_ENDED',
            `the watch of our lease key ended (${event.error}); watching it again`,
            { disposition: 'restart' },
          );
        }
        current = await this.reclaim(current, attrs, signal);
      }
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    } finally {
      own.close();
    }
  }

  private async reclaim(
    lost: StoredLease,
    attrs: LeaseAttrs,
    signal: AbortSignal,
  ): Promise<StoredLease> {
    const { logger, store } = this.options;
    const subnet = describeSubnets(lost.subnets);
    logger.warn('our lease vanished (expired or deleted); taking the same subnet back', { subnet });
    const r = await this.retrying('re-creating lease', signal, () =>
      store.create(lost.subnets, attrs, this.ttlSeconds),
    );
    if (r.kind === 'created') {
      logger.info('lease re-acquired; data plane untouched', { subnet });
      return this.hold(r.lease, true);
    }
    const listing = await this.retrying('listing leases', signal, () => store.list(signal));
    const holder = listing.leases.find((l) => sameSubnets(l.subnets, lost.subnets));
    if (holder && leaseHolder(holder.attrs) === leaseHolder(attrs)) return this.hold(holder, false);
    throw new LeaseLostError(
      lostMessage(lost.subnets, holder ? leaseHolder(holder.attrs) : 'another host'),
    );
  }
}

function describeKey(l: StoredLease): string {
  return `${formatSubnetKey(l.subnets)} (${isReservation(l) ? 'reservation' : 'TTL lease'})`;
}

function warnSeveralOwn(logger: Logger, chosen: StoredLease, others: readonly StoredLease[]): void {
  logger.warn(
    'several lease keys carry our public IP; using one, the others are never peers: delete the stale ones',
    {
      publicIp: chosen.attrs.publicIp,
      using: describeKey(chosen),
      others: others.map(describeKey).join(', '),
    },
  );
}

function lostMessage(subnets: SubnetPair, by: string): string {
  return (
    `lease ${describeSubnets(subnets)} was lost and ${by} now holds it; restart flanneld to get a ` +
    `new subnet (containers on this host must then move to it)`
  );
}
