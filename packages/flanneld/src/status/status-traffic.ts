import { createIptablesRunner } from '@flannel-ts/backend';
import type { IptablesRunner } from '@flannel-ts/backend';

/** Reads flannel's traffic rules from the kernel, as the running agent left them. */
export interface TrafficRulesReader {
  /**
   * flannel's rules, one per entry: iptables as `-t <table> -A …` lines (what `iptables -S`
   * prints, with the table), nftables as `nft list` prints them. Rejects when they cannot be read.
   */
  read(mode: 'iptables' | 'nftables', signal?: AbortSignal): Promise<readonly string[]>;
}

/**
 * The `-A` lines of an `iptables-save -t <table>` listing that belong to flannel: rules of its
 * chains (`FLANNEL-POSTRTG`, `FLANNEL-FWD`) and the jumps into them. Pure.
 */
export function flannelIptablesLines(table: string, save: string): string[] {
  return save
    .split('\n')
    .filter((l) => l.startsWith('-A ') && /\bFLANNEL-/.test(l))
    .map((l) => `-t ${table} ${l}`);
}

/** The {@link TrafficRulesReader} over the real iptables binaries (through the iptables seam). */
export function createTrafficRulesReader(
  runner: IptablesRunner = createIptablesRunner(),
): TrafficRulesReader {
  return {
    async read(mode, signal) {
      if (mode === 'nftables') {
        throw new Error('reading nftables rules is not supported by this build of flanneld status');
      }
      const [nat, filter] = await Promise.all([
        runner.save('nat', signal),
        runner.save('filter', signal),
      ]);
      return [...flannelIptablesLines('nat', nat), ...flannelIptablesLines('filter', filter)];
    },
  };
}
