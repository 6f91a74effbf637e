import { formatCidr } from '@flannel-ts/core';
import type { Cidr } from '@flannel-ts/core';

/** The iptables tables flannel writes to. */
export type IptablesTable = 'nat' | 'filter';

/** One rule: `-A <chain> <args…>` in `table`. `args` are exactly what iptables prints back. */
export interface IptablesRule {
  readonly table: IptablesTable;
  readonly chain: string;
  readonly args: readonly string[];
}

/** The nat chain holding the masquerade rules (SPEC 6.1); upstream's name, kept for coexistence. */
export const MASQ_CHAIN = 'FLANNEL-POSTRTG';
/** The filter chain holding the forward-accept rules (SPEC 6.2). */
export const FORWARD_CHAIN = 'FLANNEL-FWD';

const MASQ_COMMENT = ['-m', 'comment', '--comment', 'flanneld masq'];
const FORWARD_COMMENT = ['-m', 'comment', '--comment', 'flanneld forward'];
// kube-proxy marks packets it will masquerade itself; NATing them twice breaks some kernels.
const KUBE_PROXY_MARK = '0x4000/0x4000';
// Chains the kernel provides: they always exist and must never be declared (that would flush them).
const BUILTIN_CHAINS = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);

/**
 * The masquerade rule set for `network` (N) and our own `subnet` (S), in upstream HEAD order
 * (SPEC 6.1): the jump appended to POSTROUTING, then the six FLANNEL-POSTRTG rules.
 * Port of flannel pkg/trafficmngr/iptables/iptables.go masqRules.
 */
export function masqRules(
  network: Cidr,
  subnet: Cidr,
  opts: { readonly randomFully: boolean },
): IptablesRule[] {
  const n = formatCidr(network);
  const s = formatCidr(subnet);
  const multicast = network.family === 4 ? '224.0.0.0/4' : 'ff00::/8';
  const masquerade = opts.randomFully ? ['MASQUERADE', '--random-fully'] : ['MASQUERADE'];
  const chainRule = (match: string[], target: string[]): IptablesRule => ({
    table: 'nat',
    chain: MASQ_CHAIN,
    args: [...match, ...MASQ_COMMENT, '-j', ...target],
  });
  return [
    { table: 'nat', chain: 'POSTROUTING', args: [...MASQ_COMMENT, '-j', MASQ_CHAIN] },
    chainRule(['-m', 'mark', '--mark', KUBE_PROXY_MARK], ['RETURN']),
    chainRule(['-s', s, '-d', n], ['RETURN']),
    chainRule(['-s', n, '-d', s], ['RETURN']),
    chainRule(['!', '-s', n, '-d', s], ['RETURN']),
    chainRule(['-s', n, '!', '-d', multicast], masquerade),
    chainRule(['!', '-s', n, '-d', n], masquerade),
  ];
}

/**
 * The forward-accept rule set for `network` (SPEC 6.2): the jump appended to FORWARD, then
 * ACCEPT from and to the network. Docker ≥ 1.13 sets the FORWARD policy to DROP, hence these.
 */
export function forwardRules(network: Cidr): IptablesRule[] {
  const n = formatCidr(network);
  const accept = (dir: '-s' | '-d'): IptablesRule => ({
    table: 'filter',
    chain: FORWARD_CHAIN,
    args: [dir, n, ...FORWARD_COMMENT, '-j', 'ACCEPT'],
  });
  return [
    { table: 'filter', chain: 'FORWARD', args: [...FORWARD_COMMENT, '-j', FORWARD_CHAIN] },
    accept('-s'),
    accept('-d'),
  ];
}

/**
 * One rule as an iptables command line (`-A CHAIN args`), quoting as iptables-save does, so the
 * result is both valid iptables-restore input and comparable with `iptables -S` output.
 */
export function formatRule(rule: IptablesRule, action: '-A' | '-D' = '-A'): string {
  const words = rule.args.map((arg, i) => {
    if (/[\r\n]/.test(arg)) throw new TypeError(`iptables argument contains a newline: ${arg}`);
    const quote = rule.args[i - 1] === '--comment' || /[\s"\\]/.test(arg);
    return quote ? `"${arg.replace(/["\\]/g, '\\$&')}"` : arg;
  });
  return [action, rule.chain, ...words].join(' ');
}

/** Options of {@link renderRestore}. */
export interface RenderRestoreOptions {
  /** Rules of an earlier run to delete in the same transaction (recycling, SPEC 6.1). */
  readonly remove?: readonly IptablesRule[];
}

/**
 * The `iptables-restore --noflush` payload that installs `rules`, given `present`: what
 * `iptables-save -t <table>` (or `iptables -t <table> -S`) printed for the tables involved.
 *
 * Per table: our own chains are declared (`:FLANNEL-POSTRTG - [0:0]`), which creates them or, even
 * under --noflush, flushes them; that is upstream's "create or flush the chain" done inside the
 * transaction, so stale or foreign rules in our chains cannot survive and the order is always the
 * golden one. A rule in a built-in chain (the jumps) gets one `-D` per copy present, then its `-A`,
 * so re-applying leaves exactly one jump, at the end of POSTROUTING/FORWARD. Ends with `COMMIT`.
 */
export function renderRestore(
  rules: readonly IptablesRule[],
  present: string,
  options: RenderRestoreOptions = {},
): string {
  const remove = options.remove ?? [];
  const listed = parseListing(present);
  const deleted = new Set<string>();
  const lines: string[] = [];
  // Deletes every present copy, once per distinct rule, so a rule both removed and re-added
  // (the recycled jump) is not deleted more often than it exists.
  const deleteLines = (rule: IptablesRule): string[] => {
    const key = `${rule.table}\0${ruleKey(rule.chain, rule.args)}`;
    if (deleted.has(key)) return [];
    deleted.add(key);
    const copies = listed.filter((row) => matches(row, rule)).length;
    return Array.from({ length: copies }, () => formatRule(rule, '-D'));
  };
  for (const table of tablesOf([...rules, ...remove])) {
    const ours = rules.filter((r) => r.table === table);
    const declared = [...new Set(ours.map((r) => r.chain))].filter((c) => !BUILTIN_CHAINS.has(c));
    lines.push(`*${table}`, ...declared.map((chain) => `:${chain} - [0:0]`));
    for (const rule of remove.filter((r) => r.table === table)) {
      // A rule in a chain declared above is already gone with the flush; deleting it would fail.
      if (!declared.includes(rule.chain)) lines.push(...deleteLines(rule));
    }
    for (const rule of ours) {
      if (!declared.includes(rule.chain)) lines.push(...deleteLines(rule));
      lines.push(formatRule(rule));
    }
    lines.push('COMMIT');
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/**
 * The rules of `rules` that `listing` (iptables-save or `iptables -S` text) does not contain; a
 * missing chain makes all of its rules missing. Lines without a `*table` header (the `-S` form)
 * are matched against rules of any table, since that output does not name its table.
 */
export function missingRules(rules: readonly IptablesRule[], listing: string): IptablesRule[] {
  const listed = parseListing(listing);
  return rules.filter((rule) => !listed.some((row) => matches(row, rule)));
}

/**
 * The rules of `rules` that `listing` contains more than once: agents starting at the same moment
 * each saw no jump and each appended one. A resync re-applies the set, which leaves one copy.
 */
export function duplicatedRules(rules: readonly IptablesRule[], listing: string): IptablesRule[] {
  const listed = parseListing(listing);
  return rules.filter((rule) => listed.filter((row) => matches(row, rule)).length > 1);
}

/** The distinct tables of `rules`, in order of first appearance. */
export function tablesOf(rules: readonly IptablesRule[]): IptablesTable[] {
  return [...new Set(rules.map((r) => r.table))];
}

interface ListedRule {
  readonly table: string | undefined;
  readonly key: string;
}

function parseListing(text: string): ListedRule[] {
  const rows: ListedRule[] = [];
  let table: string | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim();
    const [action, chain, ...args] = tokenize(line);
    if (action === '-A' && chain !== undefined) rows.push({ table, key: ruleKey(chain, args) });
  }
  return rows;
}

function matches(row: ListedRule, rule: IptablesRule): boolean {
  return (
    (row.table === undefined || row.table === rule.table) &&
    row.key === ruleKey(rule.chain, rule.args)
  );
}

function ruleKey(chain: string, args: readonly string[]): string {
  return [chain, ...args].join('\0');
}

/** Splits an iptables-save line into words, honouring double quotes and backslash escapes. */
function tokenize(line: string): string[] {
  const words: string[] = [];
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) {
    words.push(m[1] === undefined ? (m[2] ?? '') : m[1].replace(/\\(.)/g, '$1'));
  }
  return words;
}
