import { execFileSync } from 'node:child_process';
import { noopLogger, parseCidr } from '@flannel-ts/core';
import type { Cidr } from '@flannel-ts/core';
import { createTrafficManager } from '@flannel-ts/backend';
import type { CreateTrafficManagerOptions, TrafficFamilies } from '@flannel-ts/backend';
import { describeAsRoot, withNetns } from './traffic-netns';

const cidr = (text: string) => parseCidr(text) as Cidr;
const V4 = { network: cidr('10.5.0.0/16'), subnet: cidr('10.5.3.0/24') };
const V6 = { network: cidr('fd00:5::/56'), subnet: cidr('fd00:5:0:3::/64') };

// Golden `ip6tables -S` lines: upstream HEAD masqIP6Rules and forwardRules
// (pkg/trafficmngr/iptables/iptables.go) with N = fd00:5::/56, S = fd00:5:0:3::/64.
const M = '-m comment --comment "flanneld masq"';
const F = '-m comment --comment "flanneld forward"';
const IP6_NAT = [
  '-P PREROUTING ACCEPT',
  '-P INPUT ACCEPT',
  '-P OUTPUT ACCEPT',
  '-P POSTROUTING ACCEPT',
  '-N FLANNEL-POSTRTG',
  `-A POSTROUTING ${M} -j FLANNEL-POSTRTG`,
  `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 ${M} -j RETURN`,
  `-A FLANNEL-POSTRTG -s fd00:5:0:3::/64 -d fd00:5::/56 ${M} -j RETURN`,
  `-A FLANNEL-POSTRTG -s fd00:5::/56 -d fd00:5:0:3::/64 ${M} -j RETURN`,
  `-A FLANNEL-POSTRTG ! -s fd00:5::/56 -d fd00:5:0:3::/64 ${M} -j RETURN`,
  `-A FLANNEL-POSTRTG -s fd00:5::/56 ! -d ff00::/8 ${M} -j MASQUERADE --random-fully`,
  `-A FLANNEL-POSTRTG ! -s fd00:5::/56 -d fd00:5::/56 ${M} -j MASQUERADE --random-fully`,
];
const IP6_FILTER = [
  '-P INPUT ACCEPT',
  '-P FORWARD ACCEPT',
  '-P OUTPUT ACCEPT',
  '-N FLANNEL-FWD',
  `-A FORWARD ${F} -j FLANNEL-FWD`,
  `-A FLANNEL-FWD -s fd00:5::/56 ${F} -j ACCEPT`,
  `-A FLANNEL-FWD -d fd00:5::/56 ${F} -j ACCEPT`,
];

// Golden `nft list table ip6 flannel-ipv6` (upstream HEAD pkg/trafficmngr/nftables addMasqRules
// and SetupAndEnsureForwardRules for IPv6; nft 1.0.6 printing).
const NFT_IP6 = [
  'table ip6 flannel-ipv6 {',
  '\tcomment "rules for flannel-ipv6"',
  '\tchain postrtg {',
  '\t\tcomment "chain to manage traffic masquerading by flannel"',
  '\t\ttype nat hook postrouting priority srcnat; policy accept;',
  '\t\tmeta mark 0x00004000 return',
  '\t\tip6 saddr fd00:5:0:3::/64 ip6 daddr fd00:5::/56 return',
  '\t\tip6 saddr fd00:5::/56 ip6 daddr fd00:5:0:3::/64 return',
  '\t\tip6 saddr != fd00:5:0:3::/64 ip6 daddr fd00:5::/56 return',
  '\t\tip6 saddr fd00:5::/56 ip6 daddr != ff00::/8 masquerade fully-random',
  '\t\tip6 saddr != fd00:5::/56 ip6 daddr fd00:5::/56 masquerade fully-random',
  '\t}',
  '',
  '\tchain forward {',
  '\t\tcomment "chain to accept flannel traffic"',
  '\t\ttype filter hook forward priority filter; policy accept;',
  '\t\tip6 saddr fd00:5::/56 accept',
  '\t\tip6 daddr fd00:5::/56 accept',
  '\t}',
  '}',
  '',
].join('\n');

describeAsRoot('IPv6 traffic rules in a throwaway network namespace', () => {
  const ns = withNetns('ftip6');
  const run = (bin: string, ...args: string[]) =>
    execFileSync('ip', ['netns', 'exec', ns.name, bin, ...args], { encoding: 'utf8' });
  const lines = (bin: string, table: string) =>
    run(bin, '-t', table, '-S')
      .split('\n')
      .filter((l) => l !== '');
  const manager = (mode: 'iptables' | 'nftables', families: TrafficFamilies) => {
    const options: CreateTrafficManagerOptions = {
      mode,
      netns: ns.name,
      families,
      ipMasq: true,
      forwardRules: true,
      randomFullyDisable: false,
      logger: noopLogger,
    };
    return createTrafficManager(options);
  };

  it('iptables mode, IPv6-only: exactly the golden ip6tables rules, and no IPv4 rule', async () => {
    await manager('iptables', { ipv6: V6 }).setup();
    expect(lines('ip6tables', 'nat')).toEqual(IP6_NAT);
    expect(lines('ip6tables', 'filter')).toEqual(IP6_FILTER);
    expect(run('iptables-save')).not.toMatch(/FLANNEL/);
  });

  it('iptables mode, dual stack: both families, and a deleted IPv6 rule is put back on resync', async () => {
    const m = manager('iptables', { ipv4: V4, ipv6: V6 });
    await m.setup();
    expect(run('iptables-save')).toMatch(
      /-A FLANNEL-POSTRTG -s 10\.5\.0\.0\/16 ! -d 224\.0\.0\.0\/4/,
    );
    const masquerade = ['-s', 'fd00:5::/56', '!', '-d', 'ff00::/8'];
    const comment = ['-m', 'comment', '--comment', 'flanneld masq'];
    const target = ['-j', 'MASQUERADE', '--random-fully'];
    run('ip6tables', '-t', 'nat', '-D', 'FLANNEL-POSTRTG', ...masquerade, ...comment, ...target);
    await expect(m.ensure()).resolves.toBeGreaterThan(0);
    expect(lines('ip6tables', 'nat')).toEqual(IP6_NAT);
    await expect(m.ensure()).resolves.toBe(0);
    const inPlace = await m.inPlace();
    expect(inPlace).toContain(`ip6tables -t filter -A FLANNEL-FWD -s fd00:5::/56 ${F} -j ACCEPT`);
    expect(inPlace).toContain(`-t filter -A FLANNEL-FWD -s 10.5.0.0/16 ${F} -j ACCEPT`);
  });

  it('nftables mode: the ip6 flannel-ipv6 table as upstream HEAD builds it, resynced', async () => {
    const m = manager('nftables', { ipv6: V6 });
    await m.setup();
    expect(run('nft', 'list', 'table', 'ip6', 'flannel-ipv6')).toBe(NFT_IP6);
    // Upstream creates both tables; on an IPv6-only host the IPv4 one stays empty.
    expect(run('nft', 'list', 'table', 'ip', 'flannel-ipv4')).toBe(
      'table ip flannel-ipv4 {\n\tcomment "rules for flannel-ipv4"\n}\n',
    );
    run('nft', 'delete', 'chain', 'ip6', 'flannel-ipv6', 'forward');
    await expect(m.ensure()).resolves.toBeGreaterThan(0);
    expect(run('nft', 'list', 'table', 'ip6', 'flannel-ipv6')).toBe(NFT_IP6);
  });

  it('nftables mode removes an iptables-mode run’s ip6tables chains', async () => {
    await manager('iptables', { ipv6: V6 }).setup();
    await manager('nftables', { ipv6: V6 }).setup();
    expect(run('ip6tables-save')).not.toMatch(/FLANNEL/);
    expect(run('nft', 'list', 'table', 'ip6', 'flannel-ipv6')).toBe(NFT_IP6);
  });
});
