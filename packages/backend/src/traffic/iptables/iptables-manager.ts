import { cidrEquals, formatCidr, systemClock } from '@flannel-ts/core';
import type { Cidr, Clock, Logger } from '@flannel-ts/core';
import { applyRules, readTables } from './iptables-apply';
import {
  forwardRules as buildForwardRules,
  duplicatedRules,
  formatRule,
  masqRules,
  missingRules,
} from './iptables-rules';
import type { IptablesRule } from './iptables-rules';
import type { IptablesRunner } from './iptables-runner';

/** What {@link planIptables} needs to know: the flags and the values the rules are built from. */
export interface IptablesPlanInput {
  readonly network: Cidr;
  readonly subnet: Cidr;
  /** `--ip-masq`: install the FLANNEL-POSTRTG masquerade rules (SPEC 6.1). */
  readonly ipMasq: boolean;
  /** `--iptables-forward-rules`: install the FLANNEL-FWD accept rules (SPEC 6.2). */
  readonly forwardRules: boolean;
  /**
   * FLANNEL_NETWORK / FLANNEL_SUBNET of the previous run (from the subnet file), whose masquerade
   * rules are recycled when they differ from the current values. Absent when there was no file.
   */
  readonly previous?: { readonly network?: Cidr; readonly subnet?: Cidr };
}

/** Options of {@link createIptablesManager}. */
export interface IptablesManagerOptions extends IptablesPlanInput {
  readonly runner: IptablesRunner;
  readonly logger: Logger;
  /** `--ip-masq-fully-random-disable`: never add `--random-fully`. */
  readonly randomFullyDisable: boolean;
  /** Paces the retries after a conflict with another writer; the system clock by default. */
  readonly clock?: Clock;
}

/** The rules to install, and the rules of an earlier run to delete first. */
export interface IptablesPlan {
  readonly desired: readonly IptablesRule[];
  /** Masquerade rules built from the previous network/subnet; empty when nothing changed. */
  readonly stale: readonly IptablesRule[];
}

/**
 * Installs flannel's iptables rules and keeps them there. There is deliberately no teardown:
 * like upstream, the rules stay when the agent stops, so traffic keeps flowing across restarts.
 * Callers run {@link IptablesManager.ensure} every `--iptables-resync` seconds.
 */
export interface IptablesManager {
  /**
   * Recycles the previous run's rules if network or subnet changed, then installs the whole set
   * in one iptables-restore transaction (SPEC 6.1 mechanics), recomputed when another writer
   * changed the same rules in between (see applyRules). Rejects with IptablesError.
   */
  setup(signal?: AbortSignal): Promise<void>;
  /**
   * Resync: when any of our chains or rules is missing, or a jump is there more than once (agents
   * that started together each appended one), re-applies the whole set and resolves with how
   * many rules were missing or duplicated; resolves 0 when everything is in place exactly once.
   */
  ensure(signal?: AbortSignal): Promise<number>;
}

/**
 * Decides which rules to install and which to recycle; pure, so it is tested without iptables.
 * Recycling follows upstream: only the masquerade set (the forward set depends on the network
 * alone and its chain is rebuilt anyway), and only when a previous value differs. A previous value
 * that is absent is taken to equal the current one.
 */
export function planIptables(input: IptablesPlanInput, randomFully: boolean): IptablesPlan {
  const { network, subnet, previous } = input;
  const desired = [
    ...(input.ipMasq ? masqRules(network, subnet, { randomFully }) : []),
    ...(input.forwardRules ? buildForwardRules(network) : []),
  ];
  const prevNetwork = previous?.network ?? network;
  const prevSubnet = previous?.subnet ?? subnet;
  const changed = !cidrEquals(prevNetwork, network) || !cidrEquals(prevSubnet, subnet);
  const stale = input.ipMasq && changed ? masqRules(prevNetwork, prevSubnet, { randomFully }) : [];
  return { desired, stale };
}

/** Builds the {@link IptablesManager}; nothing touches iptables until `setup` is called. */
export function createIptablesManager(options: IptablesManagerOptions): IptablesManager {
  const { runner, logger } = options;
  const apply = (
    desired: readonly IptablesRule[],
    stale: readonly IptablesRule[],
    signal?: AbortSignal,
    present?: string,
  ) =>
    applyRules(desired, stale, {
      runner,
      logger,
      clock: options.clock ?? systemClock,
      signal,
      present,
    });
  let plan: Promise<IptablesPlan> | undefined;
  // The random-fully probe runs iptables, so the plan is made on first use, then kept.
  const getPlan = (signal?: AbortSignal): Promise<IptablesPlan> => {
    plan ??= (async () => {
      const randomFully =
        options.ipMasq && !options.randomFullyDisable && (await runner.supportsRandomFully(signal));
      return planIptables(options, randomFully);
    })().catch((err: unknown) => {
      plan = undefined;
      throw err;
    });
    return plan;
  };
  // A resync tick must not interleave with setup (or another tick): both read, then write.
  let tail: Promise<unknown> = Promise.resolve();
  const serial = <T>(task: () => Promise<T>): Promise<T> => {
    const result = tail.then(task, task);
    tail = result.catch(() => undefined);
    return result;
  };

  return {
    setup: (signal) =>
      serial(async () => {
        const { desired, stale } = await getPlan(signal);
        if (stale.length > 0) {
          logger.info(
            'network or subnet changed since the previous run; recycling iptables rules',
            {
              network: formatCidr(options.network),
              subnet: formatCidr(options.subnet),
              previousNetwork: options.previous?.network && formatCidr(options.previous.network),
              previousSubnet: options.previous?.subnet && formatCidr(options.previous.subnet),
            },
          );
        }
        if (desired.length === 0 && stale.length === 0) return;
        await apply(desired, stale, signal);
        logger.info('iptables rules set up', {
          ipMasq: options.ipMasq,
          forward: options.forwardRules,
        });
      }),

    ensure: (signal) =>
      serial(async () => {
        const { desired } = await getPlan(signal);
        if (desired.length === 0) return 0;
        const present = await readTables(desired, runner, signal);
        const missing = missingRules(desired, present);
        const duplicated = duplicatedRules(desired, present);
        if (missing.length === 0 && duplicated.length === 0) return 0;
        const describe = (rules: IptablesRule[]) =>
          rules.map((rule) => `-t ${rule.table} ${formatRule(rule)}`);
        if (missing.length > 0) {
          logger.info('Some iptables rules are missing; deleting and recreating rules', {
            missing: describe(missing),
          });
        } else {
          logger.info('some iptables rules are there more than once; keeping one copy', {
            duplicated: describe(duplicated),
          });
        }
        await apply(desired, [], signal, present);
        return missing.length + duplicated.length;
      }),
  };
}
