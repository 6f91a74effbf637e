import { errorMessage } from '@flannel-ts/core';
import { CONFIG_NOT_FOUND, formatConfigIssue, parseNetworkConfig } from '@flannel-ts/subnet';
import type { LeaseListing, LeaseStore, NetworkConfig, StoredLease } from '@flannel-ts/subnet';

/** What etcd said: the network config (or what is wrong with it) and every lease, or no answer. */
export type EtcdRead =
  | {
      readonly reachable: true;
      /** The valid network config; undefined when it is missing or invalid (`configProblem`). */
      readonly network: NetworkConfig | undefined;
      readonly configProblem?: string;
      readonly listing: LeaseListing;
    }
  | { readonly reachable: false; readonly error: string };

/**
 * Reads the network config and every lease (one range read) from the store, as the agent would
 * (the same parser, the same lease reading). A store that cannot be reached, or that refuses us
 * (credentials, TLS), or that has not answered within `timeoutMs` (default 3 s; the etcd client
 * retries a call that timed out, so its own deadline alone would double) is an answer
 * (`reachable: false` with the error), not an exception: the status command shows it.
 */
export async function readEtcd(
  store: LeaseStore,
  options: { readonly timeoutMs?: number; readonly signal?: AbortSignal } = {},
): Promise<EtcdRead> {
  const { signal } = options;
  try {
    const [config, listing] = await withinDeadline(
      store,
      Promise.all([store.getNetworkConfig(signal), store.list(signal)]),
      options.timeoutMs,
    );
    if (config.kind === 'missing') {
      return { reachable: true, network: undefined, configProblem: CONFIG_NOT_FOUND, listing };
    }
    const parsed = parseNetworkConfig(config.text);
    if (!parsed.ok) {
      const configProblem = `invalid network config: ${parsed.issues.map(formatConfigIssue).join('; ')}`;
      return { reachable: true, network: undefined, configProblem, listing };
    }
    return { reachable: true, network: parsed.config, listing };
  } catch (err) {
    return { reachable: false, error: errorMessage(err) };
  }
}

/** `answer`, or a rejection naming the store when it takes longer than `timeoutMs` (3 s). */
async function withinDeadline<T>(
  store: LeaseStore,
  answer: Promise<T>,
  timeoutMs = 3000,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer from ${store.description} within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([answer, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Seconds left on a lease's TTL as the store counts them; undefined when the store cannot say
 * (no TTL, the TTL gone, no answer within `timeoutMs`, default 3 s, or an error): the expiry is
 * then shown as unknown, never as a failure of the status command.
 */
export async function readRemainingSeconds(
  store: LeaseStore,
  lease: StoredLease,
  options: { readonly timeoutMs?: number; readonly signal?: AbortSignal } = {},
): Promise<number | undefined> {
  if (!store.remainingSeconds) return undefined;
  try {
    return await withinDeadline(
      store,
      store.remainingSeconds(lease, options.signal),
      options.timeoutMs,
    );
  } catch {
    return undefined;
  }
}
