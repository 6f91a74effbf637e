import type { Clock } from '@flannel-ts/core';
import type { HeldLease, LeaseStore } from '@flannel-ts/subnet';
import type { DataPlaneSyncState } from './data-plane-sync';

/** What {@link readiness} reads: the agent's parts, as far as start-up has built them. */
export interface ReadinessInput {
  readonly clock: Clock;
  /** Why the agent still waits for the network config, while it does. */
  readonly configWaiting?: string | undefined;
  readonly configLoaded: boolean;
  readonly lease?: HeldLease | undefined;
  readonly subnetFileWritten: boolean;
  /** The data-plane sync's state; undefined for a backend without data plane (alloc). */
  readonly dataPlane?: DataPlaneSyncState | undefined;
  /** Whether this backend has a data plane to wait for. */
  readonly hasDataPlane: boolean;
  /** The first supervised task that is failing, if any. */
  readonly trouble?: { readonly task: string; readonly error: string } | undefined;
  readonly store?: Pick<LeaseStore, 'connectionStatus'> | undefined;
}

/** `/readyz`'s answer: ready, or the first reason it is not. */
export type Readiness =
  { readonly ready: true } | { readonly ready: false; readonly reason: string };

/**
 * Ready means: the lease is held, the subnet file written, the data plane programmed and in sync,
 * no supervised task failing, and etcd not unreachable past the lease's renewal time (from then
 * on the lease runs out while nobody can renew it). Otherwise the first reason, in start-up order,
 * so an operator sees what the agent waits for.
 */
export function readiness(s: ReadinessInput): Readiness {
  const not = (reason: string): Readiness => ({ ready: false, reason });
  if (!s.configLoaded) {
    return not(`waiting for a valid network config (${s.configWaiting ?? 'reading it'})`);
  }
  if (!s.lease) return not('waiting for a subnet lease');
  if (!s.subnetFileWritten) return not('the subnet file is not written yet');
  if (s.hasDataPlane) {
    if (!s.dataPlane) return not('the data plane is not started yet');
    if (s.dataPlane.lastError)
      return not(`the data plane is not in sync: ${s.dataPlane.lastError}`);
    if (!s.dataPlane.inSync) return not('the data plane is not programmed yet');
  }
  if (s.trouble) return not(`${s.trouble.task} is failing: ${s.trouble.error}`);
  const etcd = s.store?.connectionStatus?.();
  const renewAt = s.lease.renewAtMs;
  if (etcd && !etcd.reachable && renewAt !== undefined && s.clock.now() >= renewAt) {
    const since =
      etcd.sinceMs === undefined ? '' : ` since ${new Date(etcd.sinceMs).toISOString()}`;
    const expires =
      s.lease.expiresAtMs === undefined
        ? ''
        : `; it expires at ${new Date(s.lease.expiresAtMs).toISOString()}`;
    return not(
      `etcd is unreachable${since} (${etcd.lastError ?? 'no answer'}) and the lease is due for renewal${expires}`,
    );
  }
  return { ready: true };
}
