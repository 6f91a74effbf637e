import type { Cidr, Clock, Logger } from '@flannel-ts/core';
import { createIptablesManager, createIptablesRunner } from '@flannel-ts/backend';
import type { IptablesManager } from '@flannel-ts/backend';
import type { Config } from './config';
import { FailureStreak } from './failure-streak';
import { retryStartupStep } from './startup-retry';

/** What the iptables rules are built from. */
export interface TrafficInput {
  readonly network: Cidr;
  readonly subnet: Cidr;
  readonly previous?: { readonly network?: Cidr; readonly subnet?: Cidr } | undefined;
}

/**
 * Installs the masquerade (`--ip-masq`) and forward (`--iptables-forward-rules`) rules (SPEC 6),
 * retrying transient failures (see retryStartupStep), then returns a loop that checks them every
 * `--iptables-resync` seconds and restores them when someone deleted one, until the signal aborts.
 * Nothing is removed at shutdown, as upstream. Undefined when neither rule set is wanted.
 */
export async function setupTraffic(
  config: Config,
  input: TrafficInput,
  clock: Clock,
  logger: Logger,
  signal: AbortSignal,
): Promise<(() => Promise<void>) | undefined> {
  if (!config.ipMasq && !config.iptablesForwardRules) return undefined;
  const manager = createIptablesManager({
    runner: createIptablesRunner(),
    logger,
    clock,
    network: input.network,
    subnet: input.subnet,
    ipMasq: config.ipMasq,
    forwardRules: config.iptablesForwardRules,
    randomFullyDisable: config.ipMasqFullyRandomDisable,
    ...(input.previous ? { previous: input.previous } : {}),
  });
  await retryStartupStep('setting up iptables rules', (s) => manager.setup(s), {
    clock,
    logger,
    signal,
  });
  logger.info('iptables rules in place', {
    masquerade: config.ipMasq,
    forward: config.iptablesForwardRules,
  });
  const intervalMs = config.iptablesResyncSeconds * 1000;
  return () => resyncIptables(manager, { intervalMs, clock, logger, signal });
}

/** Options of {@link resyncIptables}. */
export interface ResyncOptions {
  readonly intervalMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly signal: AbortSignal;
}

/**
 * Every `intervalMs`, puts back missing rules (and removes duplicated jumps) until the signal
 * aborts. A failing resync never ends the agent: it is logged once when it starts failing and
 * once when it recovers, whatever happens in between (issue 8).
 */
export async function resyncIptables(
  manager: Pick<IptablesManager, 'ensure'>,
  { intervalMs, clock, logger, signal }: ResyncOptions,
): Promise<void> {
  const streak = new FailureStreak({ clock, logger, what: 'iptables resync', level: 'error' });
  while (!signal.aborted) {
    await clock.sleep(intervalMs, signal).catch(() => undefined);
    if (signal.aborted) return;
    try {
      await manager.ensure(signal);
      streak.succeeded();
    } catch (err) {
      if (signal.aborted) return;
      streak.failed(err);
    }
  }
}
