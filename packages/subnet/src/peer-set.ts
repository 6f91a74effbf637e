import type { Lease, Logger } from '@flannel-ts/core';
import { formatSubnetKey, noopLogger } from '@flannel-ts/core';
import type { LeaseBatch, SkippedKey } from './lease-store';
import { readLeaseKey, validatePeerLease } from './lease-validation';
import type { LeaseRejection, PeerLeaseContext } from './lease-validation';

/** Options of {@link PeerSet}: what peers are checked against, and where rejections are reported. */
export interface PeerSetOptions extends PeerLeaseContext {
  readonly logger?: Logger | undefined;
  /** Called for every lease rejected, with its reason (`field rule`): a metric's counter. */
  readonly onRejected?: ((reason: string) => void) | undefined;
}

/** Lease keys as the store names them (relative to the prefix). */
const KEY_PREFIX = 'subnets/';

/**
 * The peers a backend programs, kept from a lease snapshot plus watch events (flannel's lease
 * watcher, SPEC 1.6). Every lease is checked by {@link validatePeerLease} first; our own key is
 * left out silently. A rejected lease, or a key whose value could not be read at all, is treated as
 * absent (if it replaced a valid peer, that peer is removed), logged once per key and reason, and
 * counted in {@link rejected}. Every change reports whether the set changed, so callers reconcile
 * only then.
 */
export class PeerSet {
  private readonly peers = new Map<string, Lease>();
  /** Keys changed since the last {@link takeChanges}. */
  private readonly changed = new Set<string>();
  /** Store key → `field rule` of the rejection last warned about, while the key stays rejected. */
  private warned = new Map<string, string>();
  private readonly counts = new Map<string, number>();
  private readonly ownKey: string;
  private readonly logger: Logger;

  constructor(private readonly options: PeerSetOptions) {
    this.ownKey = formatSubnetKey(options.own.subnets);
    this.logger = options.logger ?? noopLogger;
  }

  /** Leases rejected so far, by `field rule` (e.g. `PublicIP is our own public IP`), for metrics. */
  get rejected(): ReadonlyMap<string, number> {
    return this.counts;
  }

  /** Keys rejected now (store key → `field rule`), for a status listing. */
  get rejectedKeys(): ReadonlyMap<string, string> {
    return this.warned;
  }

  private reject(storeKey: string, r: LeaseRejection, seen: ReadonlyMap<string, string>): void {
    const label = `${r.field} ${r.rule}`;
    this.counts.set(label, (this.counts.get(label) ?? 0) + 1);
    this.options.onRejected?.(label);
    const before = seen.get(storeKey);
    this.warned.set(storeKey, label);
    if (before === label) return;
    this.logger.warn('ignoring invalid lease: treated as absent; fix or delete the key in etcd', {
      key: storeKey,
      field: r.field,
      rule: r.rule,
      ...(r.detail === undefined ? {} : { detail: r.detail }),
    });
  }

  private put(lease: Lease, seen: ReadonlyMap<string, string> = this.warned): boolean {
    const key = formatSubnetKey(lease.subnets);
    if (key === this.ownKey) return this.drop(key);
    const bad = validatePeerLease(lease, this.options);
    if (bad) {
      this.reject(KEY_PREFIX + key, bad, seen);
      return this.drop(key);
    }
    this.warned.delete(KEY_PREFIX + key);
    const before = this.peers.get(key);
    this.peers.set(key, lease);
    const changed =
      before === undefined || JSON.stringify(before.attrs) !== JSON.stringify(lease.attrs);
    if (changed) this.changed.add(key);
    return changed;
  }

  /** A key the store could not read as a lease: whatever lease that exact key held is gone. */
  private skip(s: SkippedKey, seen: ReadonlyMap<string, string> = this.warned): boolean {
    this.reject(s.key, s, seen);
    const subnets = readLeaseKey(s.key);
    // A non-canonical key (host bits, say) is another key than the peer's: leave the peer alone.
    if ('field' in subnets) return false;
    return this.drop(formatSubnetKey(subnets));
  }

  private drop(key: string): boolean {
    const had = this.peers.delete(key);
    if (had) this.changed.add(key);
    return had;
  }

  /** The peers that changed since the last call: key → current lease, or undefined when gone. */
  takeChanges(): Map<string, Lease | undefined> {
    const out = new Map<string, Lease | undefined>();
    for (const k of this.changed) out.set(k, this.peers.get(k));
    this.changed.clear();
    return out;
  }

  /** Applies a snapshot (replaces everything) or a batch of events; true when the set changed. */
  apply(batch: LeaseBatch): boolean {
    if (batch.kind === 'snapshot') return this.replace(batch.listing.leases, batch.listing.skipped);
    let changed = false;
    for (const e of batch.events) {
      if (e.type === 'added') changed = this.put(e.lease) || changed;
      else {
        const key = formatSubnetKey(e.subnets);
        this.warned.delete(KEY_PREFIX + key);
        changed = this.drop(key) || changed;
      }
    }
    for (const s of batch.skipped) changed = this.skip(s) || changed;
    return changed;
  }

  /**
   * Replaces the set with the leases of a listing (and its unreadable keys, to report them);
   * true when the set changed.
   */
  replace(leases: readonly Lease[], skipped: readonly SkippedKey[] = []): boolean {
    const before = new Map(this.peers);
    const warnedBefore = this.warned;
    const changedBefore = new Set(this.changed);
    this.peers.clear();
    // Only keys rejected in this listing stay remembered; one rejected before is not warned again.
    this.warned = new Map();
    for (const l of leases) this.put(l, warnedBefore);
    for (const s of skipped) this.skip(s, warnedBefore);
    // put() saw an empty set, so it marked every key; keep only real differences.
    this.changed.clear();
    for (const k of changedBefore) this.changed.add(k);
    let differs = false;
    for (const k of new Set([...before.keys(), ...this.peers.keys()])) {
      const b = before.get(k);
      const a = this.peers.get(k);
      if (!a || !b || JSON.stringify(b.attrs) !== JSON.stringify(a.attrs)) {
        this.changed.add(k);
        differs = true;
      }
    }
    return differs;
  }

  list(): Lease[] {
    return [...this.peers.values()];
  }

  get size(): number {
    return this.peers.size;
  }
}
