import type { LeaseAttrs, SubnetPair } from '@flannel-ts/core';
import { formatSubnetKey, isReservation } from '@flannel-ts/core';
import { AsyncQueue } from '../async-queue';
import { readLeaseKeyValue } from '../lease-validation';
import type { LeaseRejection } from '../lease-validation';
import type {
  ConfigRead,
  CreateResult,
  LeaseBatch,
  LeaseListing,
  LeaseStore,
  StoredLease,
  UpdateResult,
} from '../lease-store';

type Listener = (batch: LeaseBatch) => void;

/**
 * An in-memory {@link LeaseStore} for unit tests, with etcd's semantics where they matter:
 * one global revision, create-if-absent, compare-and-swap on mod revision, prefix watches.
 * `failNext` makes the next call throw, to exercise retry paths.
 */
export class InMemoryLeaseStore implements LeaseStore {
  readonly description = 'in-memory store';
  private revision = 1n;
  private nextLeaseId = 100n;
  private config: { text: string } | undefined;
  private readonly leases = new Map<string, StoredLease>();
  /** Keys holding something that is not a lease (see {@link putRaw}) → why. */
  private readonly unreadable = new Map<string, LeaseRejection>();
  private readonly listeners = new Set<Listener>();
  /** Closes every watch open now, as a server that drops its streams: each iterator just ends. */
  private readonly closers = new Set<() => void>();
  private readonly configWaiters = new Set<() => void>();
  /** Errors thrown by the next calls, in order. */
  readonly failNext: Error[] = [];
  /** Every etcd-style TTL lease granted and not yet released (to check for leaks, SPEC D4). */
  readonly liveTtlLeases = new Set<string>();
  /** What {@link remainingSeconds} answers for a live TTL lease (this store has no clock). */
  remainingTtlSeconds = 86_400;

  private maybeFail(): void {
    const err = this.failNext.shift();
    if (err) throw err;
  }

  remainingSeconds(lease: StoredLease): Promise<number | undefined> {
    const live = lease.ttlLeaseId !== '0' && this.liveTtlLeases.has(lease.ttlLeaseId);
    return Promise.resolve(live ? this.remainingTtlSeconds : undefined);
  }

  setConfig(text: string | undefined): void {
    this.config = text === undefined ? undefined : { text };
    this.revision++;
    for (const w of this.configWaiters) w();
  }

  /** Writes a lease the way an administrator or another host would; ttl false = reservation. */
  put(subnets: SubnetPair, attrs: LeaseAttrs, options: { ttl?: boolean } = {}): StoredLease {
    const ttlLeaseId = options.ttl === false ? '0' : String(this.nextLeaseId++);
    if (ttlLeaseId !== '0') this.liveTtlLeases.add(ttlLeaseId);
    this.revision++;
    const lease: StoredLease = { subnets, attrs, ttlLeaseId, modRevision: String(this.revision) };
    this.leases.set(formatSubnetKey(subnets), lease);
    this.unreadable.delete(formatSubnetKey(subnets));
    this.emit({ type: 'added', lease });
    return lease;
  }

  /**
   * Writes raw text under a key name (`10.5.2.0-24`) as a broken or hostile writer could: a valid
   * lease is stored as by {@link put}; anything else replaces what the key held and is listed and
   * watched as a skipped key, as the etcd store reports it.
   */
  putRaw(name: string, value: string): void {
    const r = readLeaseKeyValue(name, value);
    if (r.ok) {
      this.put(r.subnets, r.attrs);
      return;
    }
    const old = this.leases.get(name);
    if (old) this.liveTtlLeases.delete(old.ttlLeaseId);
    this.leases.delete(name);
    const rejection = { field: r.field, rule: r.rule, detail: r.detail };
    this.unreadable.set(name, rejection);
    this.revision++;
    const skipped = [{ key: `subnets/${name}`, ...rejection }];
    const batch: LeaseBatch = {
      kind: 'events',
      events: [],
      skipped,
      revision: String(this.revision),
    };
    for (const l of this.listeners) l(batch);
  }

  /** Deletes a key (an admin's delete, or a TTL running out). */
  delete(subnets: SubnetPair): void {
    const key = formatSubnetKey(subnets);
    const old = this.leases.get(key);
    if (!old) return;
    this.leases.delete(key);
    this.liveTtlLeases.delete(old.ttlLeaseId);
    this.revision++;
    this.emit({ type: 'removed', subnets });
  }

  get(subnets: SubnetPair): StoredLease | undefined {
    return this.leases.get(formatSubnetKey(subnets));
  }

  private emit(
    event: { type: 'added'; lease: StoredLease } | { type: 'removed'; subnets: SubnetPair },
  ): void {
    const batch: LeaseBatch = {
      kind: 'events',
      events: [event],
      skipped: [],
      revision: String(this.revision),
    };
    for (const l of this.listeners) l(batch);
  }

  getNetworkConfig(): Promise<ConfigRead> {
    this.maybeFail();
    const revision = String(this.revision);
    return Promise.resolve(
      this.config
        ? { kind: 'found', text: this.config.text, revision }
        : { kind: 'missing', revision },
    );
  }

  waitForConfigChange(_afterRevision: string, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.configWaiters.delete(done);
        resolve();
      };
      this.configWaiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  list(): Promise<LeaseListing> {
    this.maybeFail();
    return Promise.resolve({
      leases: [...this.leases.values()],
      skipped: [...this.unreadable].map(([name, r]) => ({ key: `subnets/${name}`, ...r })),
      revision: String(this.revision),
    });
  }

  create(subnets: SubnetPair, attrs: LeaseAttrs, _ttlSeconds?: number): Promise<CreateResult> {
    this.maybeFail();
    if (this.leases.has(formatSubnetKey(subnets))) return Promise.resolve({ kind: 'taken' });
    return Promise.resolve({ kind: 'created', lease: this.put(subnets, attrs) });
  }

  update(current: StoredLease, attrs: LeaseAttrs): Promise<UpdateResult> {
    this.maybeFail();
    const now = this.leases.get(formatSubnetKey(current.subnets));
    if (now?.modRevision !== current.modRevision) return Promise.resolve({ kind: 'lost' });
    const reservation = isReservation(current);
    this.liveTtlLeases.delete(current.ttlLeaseId);
    return Promise.resolve({
      kind: 'updated',
      lease: this.put(current.subnets, attrs, { ttl: !reservation }),
    });
  }

  remove(current: StoredLease): Promise<boolean> {
    this.maybeFail();
    const now = this.leases.get(formatSubnetKey(current.subnets));
    if (now?.modRevision !== current.modRevision) return Promise.resolve(false);
    this.delete(current.subnets);
    return Promise.resolve(true);
  }

  watch(
    _fromRevision: string,
    signal: AbortSignal,
    subnets?: SubnetPair,
  ): AsyncIterable<LeaseBatch> {
    const queue = new AsyncQueue<LeaseBatch>(signal);
    const prefix = subnets ? formatSubnetKey(subnets) : '';
    const keyOf = (e: LeaseBatch & { kind: 'events' }): string => {
      const ev = e.events[0];
      if (!ev) return e.skipped[0]?.key.slice('subnets/'.length) ?? '';
      return formatSubnetKey(ev.type === 'added' ? ev.lease.subnets : ev.subnets);
    };
    const listener: Listener = (b) => {
      if (b.kind === 'events' && !keyOf(b).startsWith(prefix)) return;
      queue.push(b);
    };
    const end = (): void => {
      this.listeners.delete(listener);
      this.closers.delete(end);
      queue.close();
    };
    this.listeners.add(listener);
    this.closers.add(end);
    signal.addEventListener('abort', end, { once: true });
    return queue;
  }

  /** Ends every watch open now (their iterators finish), as a server dropping its streams. */
  endWatches(): void {
    for (const end of [...this.closers]) end();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
