import type { Clock, Logger } from '@flannel-ts/core';
import { formatCidr, formatIp } from '@flannel-ts/core';
import { Backoff, errorMessage } from '@flannel-ts/core';
import { StoreUnavailableError } from './errors';
import type { LeaseStore } from './lease-store';
import { formatConfigIssue, parseNetworkConfig } from './network-config';
import type { ConfigIssue, NetworkConfig, SubnetRange } from './network-config';

/** Upstream's exact text for a missing config key (SPEC 1.1). */
export const CONFIG_NOT_FOUND =
  'flannel config not found in etcd store. Did you create your config using etcdv3 API?';

/** Options of {@link loadNetworkConfig}. */
export interface LoadNetworkConfigOptions {
  readonly store: LeaseStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  /** Checks beyond the config format, e.g. that the backend type is one this agent supports. */
  readonly check?: (config: NetworkConfig) => readonly ConfigIssue[];
  /** Told why the agent is still waiting (readiness shows it), each time it reports. */
  readonly onWaiting?: (reason: string) => void;
  /** Longest wait between re-reads when a watch stays silent (default 30 s). */
  readonly rereadMs?: number;
}

/**
 * Reads and validates the network config, waiting until a valid one exists (SPEC D6): a missing
 * or invalid config is reported once, in one line naming field, value and rule; then the config
 * key is watched and the agent goes on as soon as a valid config appears. An unreachable etcd is
 * retried with back-off (1 s doubling to 30 s) and reported once per distinct error.
 */
export async function loadNetworkConfig(options: LoadNetworkConfigOptions): Promise<NetworkConfig> {
  const { store, clock, logger, signal } = options;
  const backoff = new Backoff(1000, 30_000);
  let lastReport = '';
  const report = (message: string, fields: Record<string, unknown>): void => {
    options.onWaiting?.(message);
    if (message === lastReport) logger.debug(message, fields);
    else logger.error(message, fields);
    lastReport = message;
  };
  const waitForChange = async (revision: string): Promise<void> => {
    const ctl = new AbortController();
    const stop = (): void => ctl.abort();
    signal.addEventListener('abort', stop, { once: true });
    try {
      await Promise.race([
        store.waitForConfigChange(revision, ctl.signal),
        clock.sleep(options.rereadMs ?? 30_000, ctl.signal).catch(() => undefined),
      ]);
    } finally {
      ctl.abort();
      signal.removeEventListener('abort', stop);
    }
  };
  while (!signal.aborted) {
    let read;
    try {
      read = await store.getNetworkConfig(signal);
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      const delayMs = backoff.next();
      report(err.message, { retryInMs: delayMs });
      await clock.sleep(delayMs, signal).catch(() => undefined);
      continue;
    }
    backoff.reset();
    if (read.kind === 'missing') {
      report(CONFIG_NOT_FOUND, {
        store: store.description,
        waiting: 'for the config key to be written',
      });
      await waitForChange(read.revision);
      continue;
    }
    const parsed = parseNetworkConfig(read.text);
    const issues = parsed.ok ? (options.check?.(parsed.config) ?? []) : parsed.issues;
    if (!parsed.ok || issues.length > 0) {
      const text = issues.map(formatConfigIssue).join('; ');
      report(`invalid network config: ${text}`, {
        store: store.description,
        waiting: 'for a valid config; no lease taken, no file written',
      });
      await waitForChange(read.revision);
      continue;
    }
    for (const w of parsed.warnings) logger.warn(w);
    logger.info('found network config', describeNetworkConfig(parsed.config));
    if (lastReport) logger.info('network config is valid now; going on');
    return parsed.config;
  }
  throw signal.reason instanceof Error ? signal.reason : new Error(errorMessage(signal.reason));
}

function describeRange(r: SubnetRange): string {
  const f = r.network.family;
  return `${formatCidr(r.network)} subnets /${r.subnetLen} from ${formatIp({ family: f, value: r.subnetMin })} to ${formatIp({ family: f, value: r.subnetMax })}`;
}

/** Log fields summarising a network config (never the raw JSON, which may carry backend secrets). */
export function describeNetworkConfig(c: NetworkConfig): Record<string, unknown> {
  return {
    backend: c.backend.type,
    ...(c.ipv4 ? { ipv4: describeRange(c.ipv4) } : {}),
    ...(c.ipv6 ? { ipv6: describeRange(c.ipv6) } : {}),
  };
}
