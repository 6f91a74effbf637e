import {
  diffNftListings,
  listingLines,
  parseNftChains,
  repairCount,
} from '../../src/traffic/nftables/nft-listing';
import { parseTables } from '../../src/traffic/nftables/nft-runner';

// What `nft list table ip flannel-ipv4` printed (nft 1.0.6) after setup, N = 10.5.0.0/16,
// S = 10.5.3.0/24.
const LISTED = [
  'table ip flannel-ipv4 {',
  '\tcomment "rules for flannel-ipv4"',
  '\tchain postrtg {',
  '\t\tcomment "chain to manage traffic masquerading by flannel"',
  '\t\ttype nat hook postrouting priority srcnat; policy accept;',
  '\t\tmeta mark 0x00004000 return',
  '\t\tip saddr 10.5.3.0/24 ip daddr 10.5.0.0/16 return',
  '\t\tip saddr 10.5.0.0/16 ip daddr 10.5.3.0/24 return',
  '\t\tip saddr != 10.5.3.0/24 ip daddr 10.5.0.0/16 return',
  '\t\tip saddr 10.5.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random',
  '\t\tip saddr != 10.5.0.0/16 ip daddr 10.5.0.0/16 masquerade fully-random',
  '\t}',
  '',
  '\tchain forward {',
  '\t\tcomment "chain to accept flannel traffic"',
  '\t\ttype filter hook forward priority filter; policy accept;',
  '\t\tip saddr 10.5.0.0/16 accept',
  '\t\tip daddr 10.5.0.0/16 accept',
  '\t}',
  '}',
  'table ip6 flannel-ipv6 {',
  '\tcomment "rules for flannel-ipv6"',
  '}',
  '',
].join('\n');

const without = (text: string, line: string) =>
  text
    .split('\n')
    .filter((l) => l !== line)
    .join('\n');

describe('parseNftChains', () => {
  it('finds each chain with its rules, leaving out the chain properties', () => {
    const chains = parseNftChains(LISTED);
    expect(chains.map((c) => [c.id, c.rules.length])).toEqual([
      ['ip flannel-ipv4 postrtg', 6],
      ['ip flannel-ipv4 forward', 2],
    ]);
    expect(chains[1]?.rules).toEqual([
      'ip saddr 10.5.0.0/16 accept',
      'ip daddr 10.5.0.0/16 accept',
    ]);
  });
});

describe('diffNftListings / repairCount', () => {
  it('finds nothing to repair in an unchanged listing', () => {
    const diff = diffNftListings(LISTED, LISTED);
    expect(diff).toEqual({ missing: [], unexpected: [], changed: false });
    expect(repairCount(diff)).toBe(0);
  });

  it('names a rule deleted by hand and counts it', () => {
    const diff = diffNftListings(LISTED, without(LISTED, '\t\tip daddr 10.5.0.0/16 accept'));
    expect(diff.missing).toEqual(['ip flannel-ipv4 forward: ip daddr 10.5.0.0/16 accept']);
    expect(repairCount(diff)).toBe(1);
  });

  it('counts every rule of a deleted chain', () => {
    const live = LISTED.replace(/\tchain postrtg \{[^}]*\}\n\n/, '');
    expect(live).not.toContain('postrtg');
    expect(repairCount(diffNftListings(LISTED, live))).toBe(6);
  });

  it('counts a rule added to our chain and a duplicated one', () => {
    const live = LISTED.replace(
      '\t\tip daddr 10.5.0.0/16 accept\n',
      '\t\tip daddr 10.5.0.0/16 accept\n\t\tip daddr 10.5.0.0/16 accept\n\t\ttcp dport 22 drop\n',
    );
    const diff = diffNftListings(LISTED, live);
    expect(diff.unexpected).toEqual([
      'ip flannel-ipv4 forward: ip daddr 10.5.0.0/16 accept',
      'ip flannel-ipv4 forward: tcp dport 22 drop',
    ]);
    expect(repairCount(diff)).toBe(2);
  });

  it('counts at least one repair when only a table or the order changed', () => {
    const noIpv6 = LISTED.replace(/table ip6[^}]*\}\n/, '');
    expect(repairCount(diffNftListings(LISTED, noIpv6))).toBe(1);
    const swapped = LISTED.replace(
      '\t\tip saddr 10.5.0.0/16 accept\n\t\tip daddr 10.5.0.0/16 accept',
      '\t\tip daddr 10.5.0.0/16 accept\n\t\tip saddr 10.5.0.0/16 accept',
    );
    const diff = diffNftListings(LISTED, swapped);
    expect(diff).toMatchObject({ missing: [], unexpected: [], changed: true });
    expect(repairCount(diff)).toBe(1);
  });

  it('sees a changed chain hook, which is no rule', () => {
    const live = LISTED.replace('priority srcnat', 'priority dstnat');
    expect(repairCount(diffNftListings(LISTED, live))).toBe(1);
  });
});

describe('listingLines', () => {
  it('keeps every non-empty line as nft printed it', () => {
    const lines = listingLines(LISTED);
    expect(lines[0]).toBe('table ip flannel-ipv4 {');
    expect(lines).toHaveLength(LISTED.split('\n').length - 2);
  });
});

describe('parseTables', () => {
  it('reads ip and ip6 tables from `nft list tables`, ignoring other families', () => {
    const text =
      'table ip nat\ntable ip flannel-ipv4\ntable inet firewalld\ntable ip6 flannel-ipv6\n';
    expect(parseTables(text)).toEqual([
      { family: 'ip', name: 'nat' },
      { family: 'ip', name: 'flannel-ipv4' },
      { family: 'ip6', name: 'flannel-ipv6' },
    ]);
  });
});
