import type { Cidr, Clock, Logger } from '@flannel-ts/core';
import { errorMessage } from '@flannel-ts/core';
import { createIptablesManager, createIptablesRunner } from '@flannel-ts/backend';
import type { Config } from './config';

/** What the iptables rules are built from. */
export interface TrafficInput {
  readonly network: Cidr;
  readonly subnet: Cidr;
  readonly previous?: { readonly network?: Cidr; readonly subnet?: Cidr } | undefined;
}

/**
 * Installs the masquerade (`--ip-masq`) and forward (`--iptables-forward-rules`) rules (SPEC 6),
 * then returns a loop that checks them every `--iptables-resync` seconds and restores them when
 * someone deleted one, until the signal aborts. Nothing is removed at shutdown, as upstream.
 * Undefined when neither rule set is wanted.
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
    network: input.network,
    subnet: input.subnet,
    ipMasq: config.ipMasq,
    forwardRules: config.iptablesForwardRules,
    randomFullyDisable: config.ipMasqFullyRandomDisable,
    ...(input.previous ? { previous: input.previous } : {}),
  });
  await manager.setup();
  logger.info('iptables rules in place', {
    masquerade: config.ipMasq,
    forward: config.iptablesForwardRules,
  });
  return async () => {
    let lastError = '';
    while (!signal.aborted) {
      await clock.sleep(config.iptablesResyncSeconds * 1000, signal).catch(() => undefined);
      if (signal.aborted) return;
      try {
        await manager.ensure();
        lastError = '';
      } catch (err) {
        const msg = errorMessage(err);
        if (msg !== lastError) logger.error('iptables resync failed; retrying', { error: msg });
        lastError = msg;
      }
    }
  };
}
