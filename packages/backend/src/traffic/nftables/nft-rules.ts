import { formatCidr } from '@flannel-ts/core';
import type { Cidr } from '@flannel-ts/core';
import type { TrafficFamilies } from '../traffic-manager';

/** The nftables address families flannel uses (nft's keyword is also its address match). */
export type NftFamily = 'ip' | 'ip6';

/** A table by family and name: `ip flannel-ipv4`. */
export interface NftTableId {
  readonly family: NftFamily;
  readonly name: string;
}

/** One base chain and its rules, in nft syntax as written (nft prints some parts differently). */
export interface NftChain {
  readonly name: string;
  readonly comment: string;
  readonly type: 'nat' | 'filter';
  readonly hook: 'postrouting' | 'forward';
  /** nft's named priorities: `srcnat` (100) for nat/postrouting, `filter` (0) for forward. */
  readonly priority: 'srcnat' | 'filter';
  readonly rules: readonly string[];
}

/** One of flannel's tables and the chains it should hold, in order. */
export interface NftTable extends NftTableId {
  readonly comment: string;
  readonly chains: readonly NftChain[];
}

// Upstream's names (pkg/trafficmngr/nftables): kept, so `nft list ruleset` reads the same on a
// fleet that mixes upstream flanneld and flannel-ts, and either agent cleans up after the other.
/** flannel's IPv4 table. */
export const NFT_TABLE_IPV4: NftTableId = { family: 'ip', name: 'flannel-ipv4' };
/** flannel's IPv6 table (created empty on an IPv4-only host, as upstream does). */
export const NFT_TABLE_IPV6: NftTableId = { family: 'ip6', name: 'flannel-ipv6' };
/** Both tables, IPv4 first. */
export const NFT_TABLES: readonly NftTableId[] = [NFT_TABLE_IPV4, NFT_TABLE_IPV6];

// kube-proxy marks packets it will masquerade itself; NATing them twice breaks some kernels.
// Upstream matches the mark exactly here (the iptables rule masks it: 0x4000/0x4000).
const KUBE_PROXY_MARK = '0x4000';

/**
 * The masquerade chain `postrtg` for `network` (N) and our `subnet` (S), in upstream order:
 * skip kube-proxy-marked packets; no NAT within the overlay, in either direction; no NAT for
 * traffic from outside to our own containers (note `saddr != S`, where iptables has `! -s N`);
 * NAT container traffic leaving the overlay except multicast; NAT host traffic entering it.
 * Port of flannel pkg/trafficmngr/nftables/nftables.go addMasqRules.
 */
export function nftMasqChain(
  network: Cidr,
  subnet: Cidr,
  opts: { readonly randomFully: boolean },
): NftChain {
  const f = familyOf(network);
  const n = formatCidr(network);
  const s = formatCidr(subnet);
  const multicast = f === 'ip' ? '224.0.0.0/4' : 'ff00::/8';
  const masquerade = opts.randomFully ? 'masquerade fully-random' : 'masquerade';
  return {
    name: 'postrtg',
    comment: 'chain to manage traffic masquerading by flannel',
    type: 'nat',
    hook: 'postrouting',
    priority: 'srcnat',
    rules: [
      `meta mark ${KUBE_PROXY_MARK} return`,
      `${f} saddr ${s} ${f} daddr ${n} return`,
      `${f} saddr ${n} ${f} daddr ${s} return`,
      `${f} saddr != ${s} ${f} daddr ${n} return`,
      `${f} saddr ${n} ${f} daddr != ${multicast} ${masquerade}`,
      `${f} saddr != ${n} ${f} daddr ${n} ${masquerade}`,
    ],
  };
}

/**
 * The forward chain accepting traffic from and to `network` (Docker ≥ 1.13 sets the FORWARD
 * policy to DROP). Its policy stays accept: a drop policy here would cut the host off.
 * Port of flannel pkg/trafficmngr/nftables/nftables.go SetupAndEnsureForwardRules.
 */
export function nftForwardChain(network: Cidr): NftChain {
  const f = familyOf(network);
  const n = formatCidr(network);
  return {
    name: 'forward',
    comment: 'chain to accept flannel traffic',
    type: 'filter',
    hook: 'forward',
    priority: 'filter',
    rules: [`${f} saddr ${n} accept`, `${f} daddr ${n} accept`],
  };
}

/** What {@link nftTables} builds the rule set from. */
export interface NftRulesetInput {
  readonly families: TrafficFamilies;
  readonly ipMasq: boolean;
  readonly forwardRules: boolean;
}

/**
 * flannel's whole nftables state: both tables always (upstream creates both at start), each with
 * `postrtg` (when `--ip-masq`) then `forward` (when forward rules are on) for a configured family.
 * Upstream installs the masquerade chain first, so `nft list` shows it first.
 */
export function nftTables(
  input: NftRulesetInput,
  opts: { readonly randomFully: boolean },
): NftTable[] {
  const tables: [NftTableId, TrafficFamilies['ipv4']][] = [
    [NFT_TABLE_IPV4, input.families.ipv4],
    [NFT_TABLE_IPV6, input.families.ipv6],
  ];
  return tables.map(([id, nets]) => ({
    ...id,
    comment: `rules for ${id.name}`,
    chains: nets
      ? [
          ...(input.ipMasq ? [nftMasqChain(nets.network, nets.subnet, opts)] : []),
          ...(input.forwardRules ? [nftForwardChain(nets.network)] : []),
        ]
      : [],
  }));
}

/**
 * The `nft -f` script that makes `tables` exactly so, as one transaction: each table is added (so
 * the delete cannot fail), deleted and built again, all committed at once, so packets see either
 * the old rules or the new ones. Replacing the table, where upstream flushes its chains, also
 * removes chains of ours that are no longer wanted (`--ip-masq` turned off) and anything added to
 * our tables by hand.
 */
export function renderNftReplace(tables: readonly NftTable[]): string {
  const lines: string[] = [];
  for (const table of tables) {
    const t = `${table.family} ${table.name}`;
    const add = `add table ${t} { comment ${quote(table.comment)} ; }`;
    lines.push(add, `delete table ${t}`, add);
    for (const chain of table.chains) {
      lines.push(
        `add chain ${t} ${chain.name} { type ${chain.type} hook ${chain.hook} ` +
          `priority ${chain.priority} ; comment ${quote(chain.comment)} ; }`,
        ...chain.rules.map((rule) => `add rule ${t} ${chain.name} ${rule}`),
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The `nft -f` script deleting `tables`, which must exist (one transaction). */
export function renderNftDelete(tables: readonly NftTableId[]): string {
  return tables.map((t) => `delete table ${t.family} ${t.name}\n`).join('');
}

/**
 * The script upstream dry-runs (`nft --check`) to learn whether the kernel can masquerade with
 * fully random ports: a throwaway chain in our table. Nothing is committed.
 * Port of flannel pkg/trafficmngr/nftables/utils.go checkRandomfully.
 */
export function renderRandomFullyProbe(): string {
  const t = `${NFT_TABLE_IPV4.family} ${NFT_TABLE_IPV4.name}`;
  return [
    `add table ${t}`,
    `add chain ${t} masqueradeTest { type nat hook postrouting priority srcnat ; ` +
      `comment ${quote('chain to test if masquerade random fully is supported')} ; }`,
    `add rule ${t} masqueradeTest ip saddr != 127.0.0.1 masquerade fully-random`,
    '',
  ].join('\n');
}

function familyOf(cidr: Cidr): NftFamily {
  return cidr.family === 4 ? 'ip' : 'ip6';
}

function quote(text: string): string {
  // Our comments are constants; refuse rather than escape anything nft would read as syntax.
  if (/["\\\r\n]/.test(text)) throw new TypeError(`nft comment needs no quoting: ${text}`);
  return `"${text}"`;
}
