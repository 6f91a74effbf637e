import { errorMessage, noopLogger } from '@flannel-ts/core';
import { createTrafficManager } from '@flannel-ts/backend';
import type { TrafficMode } from '@flannel-ts/backend';

/** Reads flannel's traffic rules from the kernel, as the running agent left them. */
export interface TrafficRulesReader {
  /**
   * flannel's rules in place, one per entry: iptables as `-t <table> -A …` lines (what
   * `iptables -S` prints, with the table), nftables as the lines of `nft list table`. Rejects when
   * they cannot be read (no binary, no permission).
   */
  read(mode: TrafficMode, signal?: AbortSignal): Promise<readonly string[]>;
}

/**
 * The {@link TrafficRulesReader} over the real iptables and nft binaries: the agent's own
 * TrafficManager of that mode, asked only what is in place (it changes nothing).
 */
export function createTrafficRulesReader(): TrafficRulesReader {
  return {
    read: (mode, signal) =>
      createTrafficManager({
        mode,
        // No networks: this manager only reads (`inPlace`), it never sets up rules.
        families: {},
        ipMasq: false,
        forwardRules: false,
        randomFullyDisable: false,
        logger: noopLogger,
      }).inPlace(signal),
  };
}

/** What was found of flannel's traffic rules, in which mode, and what could not be read. */
export interface TrafficRead {
  readonly mode: TrafficMode | 'off';
  readonly rules: readonly string[];
  /** Why the rules could not be read, or what had to be guessed. */
  readonly problems: readonly string[];
}

/**
 * Reads flannel's rules in the mode the network config names (`enableNftables`). When the config
 * could not be read (undefined), both modes are read and the one holding rules is shown, with a
 * note saying so. With neither `--ip-masq` nor `--iptables-forward-rules` there is nothing to read.
 * Never throws.
 */
export async function readTraffic(
  reader: TrafficRulesReader,
  flags: { readonly ipMasq: boolean; readonly iptablesForwardRules: boolean },
  enableNftables: boolean | undefined,
  signal?: AbortSignal,
): Promise<TrafficRead> {
  if (!flags.ipMasq && !flags.iptablesForwardRules) return { mode: 'off', rules: [], problems: [] };
  const read = (mode: TrafficMode): Promise<TrafficRead> =>
    reader.read(mode, signal).then(
      (rules) => ({ mode, rules, problems: [] }),
      (err: unknown) => ({ mode, rules: [], problems: [`traffic rules: ${errorMessage(err)}`] }),
    );
  if (enableNftables !== undefined) return read(enableNftables ? 'nftables' : 'iptables');
  const [nft, ipt] = await Promise.all([read('nftables'), read('iptables')]);
  const found = nft.rules.length > 0 && ipt.rules.length === 0 ? nft : ipt;
  const guess =
    `EnableNFTables is unknown (no network config was read): showing the ${found.mode} rules ` +
    `found (nftables: ${nft.rules.length} lines, iptables: ${ipt.rules.length})`;
  return { ...found, problems: [...found.problems, guess] };
}
