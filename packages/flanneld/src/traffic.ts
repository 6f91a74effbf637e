import { dispositionOf } from '@flannel-ts/core';
import type { Clock, Logger } from '@flannel-ts/core';
import { createTrafficManager } from '@flannel-ts/backend';
import type {
  CreateTrafficManagerOptions,
  TrafficFamilies,
  TrafficManager,
  TrafficMode,
} from '@flannel-ts/backend';
import type { Config } from './config';
import { FailureStreak } from './failure-streak';
import { retryStartupStep } from './startup-retry';

/** The families to install rules for (IPv4, IPv6 or both): the traffic seam's own input. */
export type TrafficInputs = TrafficFamilies;

/** What {@link setupTraffic} needs besides the config. */
export interface TrafficDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Aborting stops the start-up retries. */
  readonly signal: AbortSignal;
  /** The network config's `"EnableNFTables": true`: nftables mode instead of iptables. */
  readonly nftables: boolean;
  /** Called after a resync put rules back, with how many (the repairs metric). */
  readonly onRepair?: ((restored: number) => void) | undefined;
  /** @internal Builds the manager: createTrafficManager (the real binaries) unless a test says. */
  readonly createManager?: ((options: CreateTrafficManagerOptions) => TrafficManager) | undefined;
}

/** The traffic rules once installed: what the composition root keeps running and reports. */
export interface TrafficRules {
  readonly mode: TrafficMode;
  /** The rules in place, one text line each, read live. */
  inPlace(signal?: AbortSignal): Promise<readonly string[]>;
  /**
   * Checks and restores every `--iptables-resync` seconds until `signal` aborts. Transient
   * failures (`dispositionOf(err) === 'retry'`) are logged once per streak and retried; any other
   * error is thrown (the caller's supervisor decides).
   */
  resync(signal: AbortSignal): Promise<void>;
}

/**
 * Installs the masquerade (`--ip-masq`) and forward (`--iptables-forward-rules`) rules (SPEC 6) for
 * each family given in iptables/ip6tables, or in nftables when `deps.nftables`, after removing what the other mode left; retries
 * transient failures (see retryStartupStep) and rejects with a StartupStepError otherwise (in
 * nftables mode, a missing `nft` says to install Debian's nftables package). Resolves undefined
 * when neither rule set is wanted: there is nothing to keep, but the other mode's leftovers are
 * removed all the same (and nftables mode leaves its two tables empty, as upstream does).
 * Nothing is removed at shutdown, as upstream.
 */
export async function setupTraffic(
  config: Config,
  families: TrafficInputs,
  deps: TrafficDeps,
): Promise<TrafficRules | undefined> {
  const { clock, logger, signal } = deps;
  const mode: TrafficMode = deps.nftables ? 'nftables' : 'iptables';
  const manager = (deps.createManager ?? createTrafficManager)({
    mode,
    families,
    ipMasq: config.ipMasq,
    forwardRules: config.iptablesForwardRules,
    randomFullyDisable: config.ipMasqFullyRandomDisable,
    logger,
    clock,
  });
  await retryStartupStep(`setting up ${mode} rules`, (s) => manager.setup(s), {
    clock,
    logger,
    signal,
  });
  if (!config.ipMasq && !config.iptablesForwardRules) return undefined;
  logger.info(`${mode} rules in place`, {
    masquerade: config.ipMasq,
    forward: config.iptablesForwardRules,
  });
  const intervalMs = config.iptablesResyncSeconds * 1000;
  return {
    mode,
    inPlace: (s) => manager.inPlace(s),
    resync: (s) =>
      resyncTraffic(manager, { intervalMs, clock, logger, signal: s, onRepair: deps.onRepair }),
  };
}

/** Options of {@link resyncTraffic}. */
export interface ResyncOptions {
  readonly intervalMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  readonly onRepair?: ((restored: number) => void) | undefined;
}

/**
 * Every `intervalMs`, puts back missing rules (and removes duplicated or foreign ones) until the
 * signal aborts; `onRepair` hears how many. A transient failure is logged when a streak of them
 * starts and when it ends, whatever happens in between (issue 8), and retried next interval; any
 * other failure rejects (the supervisor restarts the task or stops the agent, by disposition).
 */
export async function resyncTraffic(
  manager: Pick<TrafficManager, 'ensure' | 'mode'>,
  { intervalMs, clock, logger, signal, onRepair }: ResyncOptions,
): Promise<void> {
  const streak = new FailureStreak({
    clock,
    logger,
    what: `${manager.mode} resync`,
    level: 'error',
  });
  while (!signal.aborted) {
    await clock.sleep(intervalMs, signal).catch(() => undefined);
    if (signal.aborted) return;
    let restored: number;
    try {
      restored = await manager.ensure(signal);
    } catch (err) {
      if (signal.aborted) return;
      if (dispositionOf(err) !== 'retry') throw err;
      streak.failed(err);
      continue;
    }
    streak.succeeded();
    if (restored > 0) onRepair?.(restored);
  }
}
