import { FORWARD_CHAIN, MASQ_CHAIN } from './iptables-rules';
import type { IptablesTable } from './iptables-rules';

/** The tables flannel's chains can be in. Upstream's cleanup looks for both chains in nat only. */
export const FLANNEL_TABLES: readonly IptablesTable[] = ['nat', 'filter'];

const OUR_CHAINS = new Set([MASQ_CHAIN, FORWARD_CHAIN]);

/** What of flannel's one table of an `iptables-save` listing holds. */
export interface OursInTable {
  readonly table: string;
  /** Our chains declared in the table (`FLANNEL-POSTRTG`). */
  readonly chains: readonly string[];
  /** `-A` lines, verbatim, in our chains or jumping (`-j`/`-g`) to one of them. */
  readonly rules: readonly string[];
}

/**
 * flannel's chains and rules in `iptables-save` output (one or more `*table … COMMIT` blocks);
 * tables without anything of ours are left out.
 */
export function findOurs(listing: string): OursInTable[] {
  const found: { table: string; chains: string[]; rules: string[] }[] = [];
  let current: (typeof found)[number] | undefined;
  for (const line of listing.split('\n')) {
    if (line.startsWith('*')) {
      current = { table: line.slice(1).trim(), chains: [], rules: [] };
      found.push(current);
      continue;
    }
    if (!current) continue;
    const declared = /^:(\S+) /.exec(line)?.[1];
    if (declared !== undefined && OUR_CHAINS.has(declared)) current.chains.push(declared);
    const words = line.split(' ');
    if (words[0] !== '-A') continue;
    const target = words.findIndex((w, i) => (w === '-j' || w === '-g') && i > 1);
    const jumpsToUs = target > 0 && OUR_CHAINS.has(words[target + 1] ?? '');
    if (OUR_CHAINS.has(words[1] ?? '') || jumpsToUs) current.rules.push(line);
  }
  return found.filter((t) => t.chains.length > 0 || t.rules.length > 0);
}

/**
 * Our rules as `iptables -S` prints them, each with its table so the line stands alone:
 * `-t nat -N FLANNEL-POSTRTG`, `-t nat -A POSTROUTING … -j FLANNEL-POSTRTG`.
 */
export function oursAsLines(ours: readonly OursInTable[]): string[] {
  return ours.flatMap((t) => [
    ...t.chains.map((chain) => `-t ${t.table} -N ${chain}`),
    ...t.rules.map((rule) => `-t ${t.table} ${rule}`),
  ]);
}

/**
 * The `iptables-restore --noflush` payload removing everything `ours` lists: each jump to one of
 * our chains (from whichever chain: older releases inserted them at the top), then our chains,
 * flushed and deleted. Empty when there is nothing to remove, so a host that never had iptables
 * rules gets no iptables tables created by a cleanup.
 */
export function renderRemoval(ours: readonly OursInTable[]): string {
  const lines: string[] = [];
  for (const t of ours) {
    lines.push(`*${t.table}`);
    for (const rule of t.rules) {
      // A rule inside our own chains goes with the flush; deleting it as well would fail.
      if (!OUR_CHAINS.has(rule.split(' ')[1] ?? '')) lines.push(rule.replace(/^-A /, '-D '));
    }
    for (const chain of t.chains) lines.push(`-F ${chain}`, `-X ${chain}`);
    lines.push('COMMIT');
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
