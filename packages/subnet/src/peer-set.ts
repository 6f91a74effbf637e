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
    return before === undefined || JSON.stringify(before.attrs) !== JSON.stringify(lease.attrs);
  }

  private drop(subnets: SubnetPair): boolean {
    return this.peers.delete(formatSubnetKey(subnets));
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
    this.peers.clear();
    for (const l of leases) this.put(l);
    if (before.size !== this.peers.size) return true;
    for (const [k, v] of this.peers) {
      const b = before.get(k);
      if (!b || JSON.stringify(b.attrs) !== JSON.stringify(v.attrs)) return true;
    }
    return false;
  }

  list(): Lease[] {
    return [...this.peers.values()];
  }

  get size(): number {
    return this.peers.size;
  }
}
