import type { Lease, SubnetPair } from '@flannel-ts/core';
import { cidrsOverlap, formatSubnetKey } from '@flannel-ts/core';
import type { LeaseBatch } from './lease-store';

/**
 * The peers a backend programs, kept from a lease snapshot plus watch events (flannel's lease
 * watcher, SPEC 1.6): our own subnet is always left out, and so are leases another backend wrote
 * (`accepts` decides). Every change reports whether the set changed, so callers reconcile only then.
 */
export class PeerSet {
  private readonly peers = new Map<string, Lease>();
  /** Keys changed since the last {@link takeChanges}. */
  private readonly changed = new Set<string>();

  constructor(
    private readonly own: SubnetPair,
    private readonly accepts: (lease: Lease) => boolean,
  ) {}

  private put(lease: Lease): boolean {
    // Anything overlapping our own IPv4 subnet is never a peer: routing it away would cut off our
    // own containers (e.g. a hand-edited or dual-stack variant of our key).
    if (cidrsOverlap(lease.subnets.ipv4, this.own.ipv4) || !this.accepts(lease)) {
      return this.drop(lease.subnets);
    }
    const key = formatSubnetKey(lease.subnets);
    const before = this.peers.get(key);
    this.peers.set(key, lease);
    const changed =
      before === undefined || JSON.stringify(before.attrs) !== JSON.stringify(lease.attrs);
    if (changed) this.changed.add(key);
    return changed;
  }

  private drop(subnets: SubnetPair): boolean {
    const key = formatSubnetKey(subnets);
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
    if (batch.kind === 'snapshot') return this.replace(batch.listing.leases);
    let changed = false;
    for (const e of batch.events) {
      changed = (e.type === 'added' ? this.put(e.lease) : this.drop(e.subnets)) || changed;
    }
    return changed;
  }

  /** Replaces the set with the leases of a listing; true when the set changed. */
  replace(leases: readonly Lease[]): boolean {
    const before = new Map(this.peers);
    const changedBefore = new Set(this.changed);
    this.peers.clear();
    for (const l of leases) this.put(l);
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
