import type { ConnectionStatus } from './etcd-connection-state';
import type { LeaseRejection } from './lease-validation';
import type { Lease, LeaseAttrs, SubnetPair } from '@flannel-ts/core';

/** A lease as the store holds it: the lease plus the revision it was last written at. */
export interface StoredLease extends Lease {
  /** etcd mod revision of the key (decimal string); compare-and-swap writes compare against it. */
  readonly modRevision: string;
}

/**
 * A key under the subnets prefix that could not be read as a lease, with why (the field at fault
 * and the rule it breaks); skipped, and reported. When it replaces a lease (a valid peer
 * overwritten with garbage) the consumer treats that peer as gone.
 */
export interface SkippedKey extends LeaseRejection {
  /** The key relative to the prefix, e.g. `subnets/10.5.34.0-24`. */
  readonly key: string;
}

/** All leases at one store revision (one range read, SPEC D7). */
export interface LeaseListing {
  readonly leases: readonly StoredLease[];
  readonly skipped: readonly SkippedKey[];
  readonly revision: string;
}

/** The raw network config value, or its absence, at a revision. */
export type ConfigRead =
  | { readonly kind: 'found'; readonly text: string; readonly revision: string }
  | { readonly kind: 'missing'; readonly revision: string };

/** Outcome of create-if-absent: `taken` is an expected outcome (another host won), not an error. */
export type CreateResult =
  { readonly kind: 'created'; readonly lease: StoredLease } | { readonly kind: 'taken' };

/** Outcome of a compare-and-swap write on a lease we hold: `lost` when the key changed under us. */
export type UpdateResult =
  { readonly kind: 'updated'; readonly lease: StoredLease } | { readonly kind: 'lost' };

/** A change under the subnets prefix. A removal carries only the subnets (etcd deletes have no value). */
export type LeaseEvent =
  | { readonly type: 'added'; readonly lease: StoredLease }
  | { readonly type: 'removed'; readonly subnets: SubnetPair };

/**
 * What a watch yields: events in revision order, or a fresh snapshot that replaces everything known
 * (after the watch fell behind a compaction and had to re-list).
 */
export type LeaseBatch =
  | {
      readonly kind: 'events';
      readonly events: readonly LeaseEvent[];
      readonly skipped: readonly SkippedKey[];
      readonly revision: string;
    }
  | { readonly kind: 'snapshot'; readonly listing: LeaseListing };

/**
 * Storage of the network config and subnet leases (flannel's `Registry`). The etcd implementation
 * keeps everything under one prefix; an in-memory one serves unit tests. Failures to reach the
 * store throw `StoreUnavailableError` (retryable); expected outcomes are return values.
 */
export interface LeaseStore {
  /** Human-readable location for messages, e.g. `etcd http://127.0.0.1:2379 prefix /coreos.com/network`. */
  readonly description: string;
  /** Whether the store's server answers (the etcd store tracks it; in-memory stores do not). */
  connectionStatus?(): ConnectionStatus;
  getNetworkConfig(signal?: AbortSignal): Promise<ConfigRead>;
  /** Resolves once the config key changes after `afterRevision` (or the wait should be retried). */
  waitForConfigChange(afterRevision: string, signal: AbortSignal): Promise<void>;
  list(signal?: AbortSignal): Promise<LeaseListing>;
  /** Creates the lease key only if absent, attached to a new TTL of `ttlSeconds`. */
  create(subnets: SubnetPair, attrs: LeaseAttrs, ttlSeconds: number): Promise<CreateResult>;
  /**
   * Rewrites a lease we hold if it is unchanged since `current.modRevision`: a TTL lease gets a
   * fresh TTL (the previous TTL is released, so renewals leak nothing: SPEC D4); a reservation
   * keeps having no TTL (SPEC D3).
   */
  update(current: StoredLease, attrs: LeaseAttrs, ttlSeconds: number): Promise<UpdateResult>;
  /** Deletes the key if unchanged since `current.modRevision`. Returns false if it had changed. */
  remove(current: StoredLease): Promise<boolean>;
  /**
   * Seconds until a lease's TTL runs out, as the store counts them (for `flanneld status`
   * without the agent); undefined for a reservation (no TTL) or a TTL that is already gone.
   */
  remainingSeconds?(lease: StoredLease, signal?: AbortSignal): Promise<number | undefined>;
  /**
   * Watches leases from `fromRevision` (exclusive of earlier history) until the signal aborts.
   * `subnets` narrows the watch to one lease key (prefix semantics, so the dual-stack key matches).
   * Reconnects by itself; after a compaction it re-lists and yields a snapshot.
   */
  watch(fromRevision: string, signal: AbortSignal, subnets?: SubnetPair): AsyncIterable<LeaseBatch>;
  close(): Promise<void>;
}
