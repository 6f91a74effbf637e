import { parseCidr } from '@flannel-ts/core';
import type { Cidr } from '@flannel-ts/core';
import {
  nftForwardChain,
  nftMasqChain,
  nftTables,
  renderNftReplace,
} from '../../src/traffic/nftables/nft-rules';
import { renderNftDelete, renderRandomFullyProbe } from '../../src/traffic/nftables/nft-rules';

const cidr = (text: string) => parseCidr(text) as Cidr;
const N = cidr('10.5.0.0/16');
const S = cidr('10.5.3.0/24');
const families = { ipv4: { network: N, subnet: S } };

describe('nftMasqChain', () => {
  it("builds upstream's postrtg chain: six rules in order, fully random masquerade", () => {
    expect(nftMasqChain(N, S, { randomFully: true })).toEqual({
      name: 'postrtg',
      comment: 'chain to manage traffic masquerading by flannel',
      type: 'nat',
      hook: 'postrouting',
      priority: 'srcnat',
      rules: [
        'meta mark 0x4000 return',
        'ip saddr 10.5.3.0/24 ip daddr 10.5.0.0/16 return',
        'ip saddr 10.5.0.0/16 ip daddr 10.5.3.0/24 return',
        // Upstream's nftables rule 4 differs from iptables' `! -s N -d S` (SPEC 6.3): kept.
        'ip saddr != 10.5.3.0/24 ip daddr 10.5.0.0/16 return',
        'ip saddr 10.5.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random',
        'ip saddr != 10.5.0.0/16 ip daddr 10.5.0.0/16 masquerade fully-random',
      ],
    });
  });

  it('masquerades without fully-random when that is off', () => {
    const rules = nftMasqChain(N, S, { randomFully: false }).rules;
    expect(rules.slice(4)).toEqual([
      'ip saddr 10.5.0.0/16 ip daddr != 224.0.0.0/4 masquerade',
      'ip saddr != 10.5.0.0/16 ip daddr 10.5.0.0/16 masquerade',
    ]);
  });

  it('uses ip6 matches and the IPv6 multicast range for an IPv6 network', () => {
    const rules = nftMasqChain(cidr('fd00:5::/56'), cidr('fd00:5:0:3::/64'), {
      randomFully: false,
    }).rules;
    expect(rules[1]).toBe('ip6 saddr fd00:5:0:3::/64 ip6 daddr fd00:5::/56 return');
    expect(rules[4]).toBe('ip6 saddr fd00:5::/56 ip6 daddr != ff00::/8 masquerade');
  });
});

describe('nftForwardChain', () => {
  it("builds upstream's forward chain accepting from and to the network", () => {
    expect(nftForwardChain(N)).toEqual({
      name: 'forward',
      comment: 'chain to accept flannel traffic',
      type: 'filter',
      hook: 'forward',
      priority: 'filter',
      rules: ['ip saddr 10.5.0.0/16 accept', 'ip daddr 10.5.0.0/16 accept'],
    });
  });
});

describe('nftTables', () => {
  const chainsOf = (ipMasq: boolean, forwardRules: boolean) =>
    nftTables({ families, ipMasq, forwardRules }, { randomFully: true }).map((t) => [
      `${t.family} ${t.name}`,
      t.chains.map((c) => c.name),
    ]);

  it.each([
    [true, true, ['postrtg', 'forward']],
    [true, false, ['postrtg']],
    [false, true, ['forward']],
    [false, false, []],
  ])('with --ip-masq=%s and forward rules %s: both tables, IPv4 chains %j', (masq, fwd, chains) => {
    expect(chainsOf(masq, fwd)).toEqual([
      ['ip flannel-ipv4', chains],
      ['ip6 flannel-ipv6', []],
    ]);
  });

  it('comments each table as upstream does', () => {
    const tables = nftTables(
      { families, ipMasq: false, forwardRules: false },
      { randomFully: false },
    );
    expect(tables.map((t) => t.comment)).toEqual([
      'rules for flannel-ipv4',
      'rules for flannel-ipv6',
    ]);
  });
});

describe('renderNftReplace', () => {
  it('replaces both tables whole in one script: add, delete, add, then chains and rules', () => {
    const tables = nftTables({ families, ipMasq: true, forwardRules: true }, { randomFully: true });
    expect(renderNftReplace(tables).split('\n')).toEqual([
      'add table ip flannel-ipv4 { comment "rules for flannel-ipv4" ; }',
      'delete table ip flannel-ipv4',
      'add table ip flannel-ipv4 { comment "rules for flannel-ipv4" ; }',
      'add chain ip flannel-ipv4 postrtg { type nat hook postrouting priority srcnat ; comment "chain to manage traffic masquerading by flannel" ; }',
      'add rule ip flannel-ipv4 postrtg meta mark 0x4000 return',
      'add rule ip flannel-ipv4 postrtg ip saddr 10.5.3.0/24 ip daddr 10.5.0.0/16 return',
      'add rule ip flannel-ipv4 postrtg ip saddr 10.5.0.0/16 ip daddr 10.5.3.0/24 return',
      'add rule ip flannel-ipv4 postrtg ip saddr != 10.5.3.0/24 ip daddr 10.5.0.0/16 return',
      'add rule ip flannel-ipv4 postrtg ip saddr 10.5.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random',
      'add rule ip flannel-ipv4 postrtg ip saddr != 10.5.0.0/16 ip daddr 10.5.0.0/16 masquerade fully-random',
      'add chain ip flannel-ipv4 forward { type filter hook forward priority filter ; comment "chain to accept flannel traffic" ; }',
      'add rule ip flannel-ipv4 forward ip saddr 10.5.0.0/16 accept',
      'add rule ip flannel-ipv4 forward ip daddr 10.5.0.0/16 accept',
      'add table ip6 flannel-ipv6 { comment "rules for flannel-ipv6" ; }',
      'delete table ip6 flannel-ipv6',
      'add table ip6 flannel-ipv6 { comment "rules for flannel-ipv6" ; }',
      '',
    ]);
  });
});

describe('renderNftDelete / renderRandomFullyProbe', () => {
  it('deletes the given tables', () => {
    expect(renderNftDelete([{ family: 'ip6', name: 'flannel-ipv6' }])).toBe(
      'delete table ip6 flannel-ipv6\n',
    );
  });

  it("dry-runs upstream's probe chain in our IPv4 table", () => {
    expect(renderRandomFullyProbe()).toContain(
      'add rule ip flannel-ipv4 masqueradeTest ip saddr != 127.0.0.1 masquerade fully-random',
    );
  });
});
