import { removeFlannelNftTables } from '../nftables/nft-removal';
import type { NftRunner } from '../nftables/nft-runner';
import { OtherModeCleanup } from '../other-mode-cleanup';
import type { FamilyNetworks, TrafficManager, TrafficOptions } from '../traffic-manager';
import { createIptablesManager } from './iptables-manager';
import type { IptablesManager } from './iptables-manager';
import { FLANNEL_TABLES, findOurs, oursAsLines } from './iptables-ours';
import { IptablesError } from './iptables-runner';
import type { IptablesRunner } from './iptables-runner';

/** Options of {@link createIptablesTrafficManager}. */
export interface IptablesTrafficOptions extends TrafficOptions {
  readonly iptables: IptablesRunner;
  /** The IPv6 runner (`ip6tables`): required when `families.ipv6` is given. */
  readonly ip6tables?: IptablesRunner | undefined;
  /** For removing an nftables-mode run's tables. */
  readonly nft: NftRunner;
}

/**
 * flannel's rules in iptables, the default mode: per family, the {@link IptablesManager}'s rules
 * (SPEC 6.1, 6.2), in iptables for IPv4 and in ip6tables for IPv6 with the same rule text (the
 * IPv6 masquerade rule excludes ff00::/8, upstream's masqIP6Rules), after deleting flannel's
 * nftables tables that an nftables-mode run left (as upstream's iptables mode does at start).
 */
export function createIptablesTrafficManager(options: IptablesTrafficOptions): TrafficManager {
  const { iptables, ip6tables, logger } = options;
  const managerFor = (
    runner: IptablesRunner,
    nets: FamilyNetworks,
    log: typeof logger,
  ): IptablesManager =>
    createIptablesManager({
      runner,
      logger: log,
      clock: options.clock,
      network: nets.network,
      subnet: nets.subnet,
      ...(nets.previous ? { previous: nets.previous } : {}),
      ipMasq: options.ipMasq,
      forwardRules: options.forwardRules,
      randomFullyDisable: options.randomFullyDisable,
    });
  const v6 = options.families.ipv6;
  if (v6 && !ip6tables) {
    throw new TypeError('an IPv6 network needs the ip6tables runner (options.ip6tables)');
  }
  const managers = [
    options.families.ipv4 && managerFor(iptables, options.families.ipv4, logger),
    v6 && ip6tables && managerFor(ip6tables, v6, logger.child({ family: 'ipv6' })),
  ].filter((m): m is IptablesManager => !!m);
  const cleanup = new OtherModeCleanup({
    other: 'nftables',
    remove: (signal) => removeFlannelNftTables(options.nft, signal),
    byHand: 'nft delete table ip flannel-ipv4; nft delete table ip6 flannel-ipv6',
    logger,
  });
  const ours = async (runner: IptablesRunner, signal?: AbortSignal) => {
    const listings = await Promise.all(FLANNEL_TABLES.map((t) => runner.save(t, signal)));
    return oursAsLines(findOurs(listings.join('\n')));
  };

  return {
    mode: 'iptables',
    async setup(signal) {
      await cleanup.run(signal);
      for (const m of managers) await m.setup(signal);
    },
    async ensure(signal) {
      await cleanup.retry(signal);
      let restored = 0;
      for (const m of managers) restored += await m.ensure(signal);
      return restored;
    },
    async inPlace(signal) {
      const v4 = await ours(iptables, signal);
      if (!ip6tables) return v4;
      // Without an IPv6 network, a host lacking ip6tables (or its nat table) has none of ours.
      const v6Lines = await ours(ip6tables, signal).catch((err: unknown) => {
        if (!v6 && err instanceof IptablesError) return [];
        throw err;
      });
      return [...v4, ...v6Lines.map((line) => `ip6tables ${line}`)];
    },
  };
}
