import { FlannelError, systemClock } from '@flannel-ts/core';
import { IptablesError } from '../iptables/iptables-runner';
import type { IptablesRunner } from '../iptables/iptables-runner';
import { removeFlannelIptables } from '../iptables/iptables-removal';
import { OtherModeCleanup } from '../other-mode-cleanup';
import type { TrafficManager, TrafficOptions } from '../traffic-manager';
import { diffNftListings, listingLines, parseNftChains, repairCount } from './nft-listing';
import { NFT_TABLES, nftTables, renderNftReplace, renderRandomFullyProbe } from './nft-rules';
import type { NftTable } from './nft-rules';
import type { NftRunner } from './nft-runner';

/** Options of {@link createNftablesManager}. */
export interface NftablesManagerOptions extends TrafficOptions {
  readonly nft: NftRunner;
  /** For removing an iptables-mode run's chains. */
  readonly iptables: IptablesRunner;
  /** For removing an iptables-mode run's IPv6 chains (ip6tables), when given. */
  readonly ip6tables?: IptablesRunner | undefined;
}

/**
 * flannel's rules in nftables (`"EnableNFTables": true`), as upstream HEAD lays them out (SPEC
 * 6.3): tables `ip flannel-ipv4` and `ip6 flannel-ipv6`, chains `postrtg` and `forward`. Setup
 * replaces both tables in one `nft -f` transaction and removes flannel's iptables chains. Unlike
 * upstream, the rules are also checked and restored on the resync interval: `ensure` compares
 * them with what nft listed right after setup, and re-applies the whole set on any difference.
 */
export function createNftablesManager(options: NftablesManagerOptions): TrafficManager {
  const { nft, logger } = options;
  const cleanup = new OtherModeCleanup({
    other: 'iptables',
    // Both families' chains, as upstream's CleanUp does (ip6tables: nothing when not installed).
    remove: async (signal) => {
      const clock = options.clock ?? systemClock;
      const v4 = await removeFlannelIptables(options.iptables, { clock, signal });
      // Without an IPv6 network, a host whose ip6tables cannot be read has nothing of ours there.
      const v6 = options.ip6tables
        ? await removeFlannelIptables(options.ip6tables, { clock, signal }).catch(
            (err: unknown) => {
              if (!options.families.ipv6 && err instanceof IptablesError) return [];
              throw err;
            },
          )
        : [];
      return [...v4, ...v6.map((line) => `ip6tables ${line}`)];
    },
    byHand:
      'iptables -t nat -D POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG; ' +
      'iptables -t nat -F FLANNEL-POSTRTG; iptables -t nat -X FLANNEL-POSTRTG; ' +
      'iptables -D FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD; ' +
      'iptables -F FLANNEL-FWD; iptables -X FLANNEL-FWD',
    logger,
  });

  // The probe runs nft, so it is made on first use, then kept (the kernel will not change).
  let randomFully: Promise<boolean> | undefined;
  const probeRandomFully = (signal?: AbortSignal): Promise<boolean> => {
    if (!options.ipMasq || options.randomFullyDisable) return Promise.resolve(false);
    randomFully ??= nft.check(renderRandomFullyProbe(), signal).then(
      (supported) => {
        if (!supported) {
          logger.warn(
            'this kernel cannot masquerade with fully random ports; masquerading without',
          );
        }
        return supported;
      },
      (err: unknown) => {
        randomFully = undefined;
        throw err;
      },
    );
    return randomFully;
  };

  const readOurs = async (signal?: AbortSignal): Promise<string> => {
    const listings = await Promise.all(NFT_TABLES.map((t) => nft.listTable(t, signal)));
    return listings.filter((l) => l !== undefined).join('');
  };

  // What nft listed right after our last apply: the reference a resync compares with.
  let applied: string | undefined;
  const apply = async (signal?: AbortSignal): Promise<NftTable[]> => {
    const tables = nftTables(options, { randomFully: await probeRandomFully(signal) });
    await nft.apply(renderNftReplace(tables), signal);
    const listing = await readOurs(signal);
    checkReadBack(tables, listing);
    applied = listing;
    return tables;
  };

  // A resync tick must not interleave with setup (or another tick): both read, then write.
  let tail: Promise<unknown> = Promise.resolve();
  const serial = <T>(task: () => Promise<T>): Promise<T> => {
    const result = tail.then(task, task);
    tail = result.catch(() => undefined);
    return result;
  };

  return {
    mode: 'nftables',
    setup: (signal) =>
      serial(async () => {
        await cleanup.run(signal);
        const tables = await apply(signal);
        logger.info('nftables rules set up', {
          ipMasq: options.ipMasq,
          forward: options.forwardRules,
          chains: tables.flatMap((t) => t.chains.map((c) => `${t.family} ${t.name} ${c.name}`)),
        });
      }),

    ensure: (signal) =>
      serial(async () => {
        await cleanup.retry(signal);
        if (applied === undefined) {
          // Setup never went through: everything we install now counts as put back.
          const tables = await apply(signal);
          return Math.max(1, tables.flatMap((t) => t.chains.flatMap((c) => c.rules)).length);
        }
        const diff = diffNftListings(applied, await readOurs(signal));
        const count = repairCount(diff);
        if (count === 0) return 0;
        logger.info('some nftables rules are missing or changed; re-applying the rule set', {
          missing: diff.missing,
          unexpected: diff.unexpected,
        });
        await apply(signal);
        return count;
      }),

    inPlace: async (signal) => listingLines(await readOurs(signal)),
  };
}

/**
 * Fails when nft lists our chains with other rule counts than we just applied: another program
 * changed our tables in the same instant, and a resync compared with that would keep it.
 */
function checkReadBack(tables: readonly NftTable[], listing: string): void {
  const listed = new Map(parseNftChains(listing).map((c) => [c.id, c.rules.length]));
  for (const table of tables) {
    for (const chain of table.chains) {
      const id = `${table.family} ${table.name} ${chain.name}`;
      if (listed.get(id) !== chain.rules.length) {
        throw new FlannelError(
          'NFTABLES_READBACK',
          `nft lists chain ${id} with ${listed.get(id) ?? 'no'} rules right after flannel set ` +
            `${chain.rules.length}; another program changed flannel's tables at the same moment; ` +
            'retrying',
          { disposition: 'retry' },
        );
      }
    }
  }
}
