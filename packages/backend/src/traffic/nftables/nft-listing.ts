/** The rules of one chain, read from `nft list table` output. */
export interface ListedChain {
  /** `ip flannel-ipv4 postrtg`. */
  readonly id: string;
  /** The rule lines, trimmed, as nft prints them (`meta mark 0x00004000 return`). */
  readonly rules: readonly string[];
}

/** How the rules in place differ from the ones setup left. */
export interface NftDifference {
  /** `ip flannel-ipv4 postrtg: <rule>` for each rule that should be there and is not. */
  readonly missing: readonly string[];
  /** The same for each rule that is there and should not be (extra or duplicated). */
  readonly unexpected: readonly string[];
  /** True when anything differs at all: also a lost table or chain, a changed hook, the order. */
  readonly changed: boolean;
}

// nft prints these as the first lines of a chain; they describe it, they are not rules.
const CHAIN_PROPERTY = /^(type|comment|policy|devices|flags) /;

/**
 * The chains in `nft list table …` output (several tables may be concatenated), in order. nft
 * indents with tabs: `table` at column 0, `chain` at one tab, its contents at two.
 */
export function parseNftChains(listing: string): ListedChain[] {
  const chains: { id: string; rules: string[] }[] = [];
  let table = '';
  let chain: { id: string; rules: string[] } | undefined;
  for (const raw of listing.split('\n')) {
    const line = raw.trim();
    const tableHead = /^table (\S+ \S+) \{$/.exec(raw);
    const chainHead = /^\tchain (\S+) \{$/.exec(raw);
    if (tableHead?.[1] !== undefined) table = tableHead[1];
    else if (chainHead?.[1] !== undefined) {
      chain = { id: `${table} ${chainHead[1]}`, rules: [] };
      chains.push(chain);
    } else if (raw === '\t}') chain = undefined;
    else if (chain && line !== '' && !CHAIN_PROPERTY.test(line)) chain.rules.push(line);
  }
  return chains;
}

/**
 * Compares the listing read now with the listing read right after setup applied the rules. The
 * reference is nft's own print-out rather than text we compose, because nft normalises what it
 * is given (`0x4000` → `0x00004000`, `priority 100` → `srcnat`) and versions differ in that;
 * comparing with our own rendering would see a difference on every resync on some hosts.
 */
export function diffNftListings(expected: string, live: string): NftDifference {
  const want = ruleLines(parseNftChains(expected));
  const have = ruleLines(parseNftChains(live));
  return {
    missing: multisetMinus(want, have),
    unexpected: multisetMinus(have, want),
    changed: normalise(expected) !== normalise(live),
  };
}

/**
 * How many rules a re-apply puts back or removes for `diff`; at least 1 when anything changed
 * (a re-created empty table, a chain put back in order), so a repair is never counted as none.
 */
export function repairCount(diff: NftDifference): number {
  if (!diff.changed) return 0;
  return Math.max(1, diff.missing.length + diff.unexpected.length);
}

/** The non-empty lines of a listing, as `inPlace` reports them. */
export function listingLines(listing: string): string[] {
  return listing.split('\n').filter((line) => line.trim() !== '');
}

function ruleLines(chains: readonly ListedChain[]): string[] {
  return chains.flatMap((c) => c.rules.map((rule) => `${c.id}: ${rule}`));
}

/** The items of `a` not matched one-for-one in `b` (so a duplicate counts once per extra copy). */
function multisetMinus(a: readonly string[], b: readonly string[]): string[] {
  const left = new Map<string, number>();
  for (const item of b) left.set(item, (left.get(item) ?? 0) + 1);
  return a.filter((item) => {
    const n = left.get(item) ?? 0;
    if (n > 0) left.set(item, n - 1);
    return n === 0;
  });
}

function normalise(listing: string): string {
  return listingLines(listing)
    .map((line) => line.trimEnd())
    .join('\n');
}
