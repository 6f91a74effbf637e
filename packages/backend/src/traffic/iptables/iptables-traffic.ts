import { removeFlannelNftTables } from '../nftables/nft-removal';
import type { NftRunner } from '../nftables/nft-runner';
import { OtherModeCleanup } from '../other-mode-cleanup';
import { refuseIpv6 } from '../traffic-manager';
import type { TrafficManager, TrafficOptions } from '../traffic-manager';
import { createIptablesManager } from './iptables-manager';
import { FLANNEL_TABLES, findOurs, oursAsLines } from './iptables-ours';
import type { IptablesRunner } from './iptables-runner';

/** Options of {@link createIptablesTrafficManager}. */
export interface IptablesTrafficOptions extends TrafficOptions {
  readonly iptables: IptablesRunner;
  /** For removing an nftables-mode run's tables. */
  readonly nft: NftRunner;
}

/**
 * flannel's rules in iptables, the default mode: the {@link IptablesManager}'s rules (SPEC 6.1,
 * 6.2; unchanged), after deleting flannel's nftables tables that an nftables-mode run left (as
 * upstream's iptables mode does at start).
 */
export function createIptablesTrafficManager(options: IptablesTrafficOptions): TrafficManager {
  refuseIpv6(options.families);
  const { iptables, logger } = options;
  const v4 = options.families.ipv4;
  const manager =
    v4 &&
    createIptablesManager({
      runner: iptables,
      logger,
      clock: options.clock,
      network: v4.network,
      subnet: v4.subnet,
      ...(v4.previous ? { previous: v4.previous } : {}),
      ipMasq: options.ipMasq,
      forwardRules: options.forwardRules,
      randomFullyDisable: options.randomFullyDisable,
    });
  const cleanup = new OtherModeCleanup({
    other: 'nftables',
    remove: (signal) => removeFlannelNftTables(options.nft, signal),
    byHand: 'nft delete table ip flannel-ipv4; nft delete table ip6 flannel-ipv6',
    logger,
  });

  return {
    mode: 'iptables',
    async setup(signal) {
      await cleanup.run(signal);
      await manager?.setup(signal);
    },
    async ensure(signal) {
      await cleanup.retry(signal);
      return (await manager?.ensure(signal)) ?? 0;
    },
    async inPlace(signal) {
      const listings = await Promise.all(FLANNEL_TABLES.map((t) => iptables.save(t, signal)));
      return oursAsLines(findOurs(listings.join('\n')));
    },
  };
}
