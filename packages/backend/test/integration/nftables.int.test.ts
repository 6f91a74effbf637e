import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noopLogger, parseCidr } from '@flannel-ts/core';
import type { Cidr } from '@flannel-ts/core';
import { createRecordingLogger } from '@flannel-ts/core/testing';
import { createTrafficManager, NFT_MISSING_MESSAGE, NftError } from '@flannel-ts/backend';
import type { CreateTrafficManagerOptions } from '@flannel-ts/backend';
import { describeAsRoot, nftGolden, withNetns } from './traffic-netns';

const cidr = (text: string) => parseCidr(text) as Cidr;
const families = { ipv4: { network: cidr('10.5.0.0/16'), subnet: cidr('10.5.3.0/24') } };

describeAsRoot('nftables mode in a throwaway network namespace', () => {
  const ns = withNetns('ftnft');
  const nft = (...args: string[]) =>
    execFileSync('ip', ['netns', 'exec', ns.name, 'nft', ...args], { encoding: 'utf8' });
  const iptables = (...args: string[]) =>
    execFileSync('ip', ['netns', 'exec', ns.name, 'iptables', ...args], { encoding: 'utf8' });
  const manager = (overrides: Partial<CreateTrafficManagerOptions> = {}) =>
    createTrafficManager({
      mode: 'nftables',
      netns: ns.name,
      families,
      ipMasq: true,
      forwardRules: true,
      randomFullyDisable: false,
      logger: noopLogger,
      ...overrides,
    });

  it.each([
    [true, true],
    [true, false],
    [false, true],
    [false, false],
  ])(
    "with --ip-masq=%s and forward rules=%s, `nft list ruleset` is upstream's, and nothing else",
    async (ipMasq, forwardRules) => {
      await manager({ ipMasq, forwardRules }).setup();
      const ruleset = nft('list', 'ruleset');
      process.stderr.write(
        `nft list ruleset (ip-masq ${ipMasq}, forward ${forwardRules}):\n${ruleset}`,
      );
      // The whole ruleset: also proves that removing iptables leftovers created no iptables table.
      expect(ruleset).toBe(
        nftGolden({ masq: ipMasq ? 'fully-random' : undefined, forward: forwardRules }),
      );
    },
  );

  it('masquerades without fully-random under --ip-masq-fully-random-disable', async () => {
    await manager({ randomFullyDisable: true }).setup();
    expect(nft('list', 'ruleset')).toBe(nftGolden({ masq: 'plain', forward: true }));
  });

  it('replaces what an earlier run left: a chain no longer wanted, a rule added by hand', async () => {
    await manager().setup();
    nft('add', 'rule', 'ip', 'flannel-ipv4', 'forward', 'tcp', 'dport', '22', 'drop');
    await manager({ ipMasq: false }).setup();
    expect(nft('list', 'ruleset')).toBe(nftGolden({ masq: undefined, forward: true }));
  });

  it('puts a deleted rule back on resync, counts it, then finds nothing to do', async () => {
    const logger = createRecordingLogger();
    const m = manager({ logger });
    await m.setup();
    const handle = /ip daddr 10\.5\.0\.0\/16 accept # handle (\d+)/.exec(
      nft('-a', 'list', 'chain', 'ip', 'flannel-ipv4', 'forward'),
    )?.[1];
    expect(handle).toBeDefined();
    nft('delete', 'rule', 'ip', 'flannel-ipv4', 'forward', 'handle', handle!);
    expect(nft('list', 'ruleset')).not.toBe(nftGolden({ masq: 'fully-random', forward: true }));
    await expect(m.ensure()).resolves.toBe(1);
    expect(logger.lines).toContainEqual({
      level: 'info',
      message: 'some nftables rules are missing or changed; re-applying the rule set',
    });
    expect(nft('list', 'ruleset')).toBe(nftGolden({ masq: 'fully-random', forward: true }));
    await expect(m.ensure()).resolves.toBe(0);
  });

  it('puts a deleted chain back on resync, counting each of its rules', async () => {
    const m = manager();
    await m.setup();
    nft('delete', 'chain', 'ip', 'flannel-ipv4', 'postrtg');
    await expect(m.ensure()).resolves.toBe(6);
    expect(nft('list', 'ruleset')).toBe(nftGolden({ masq: 'fully-random', forward: true }));
  });

  it('puts a deleted table back on resync', async () => {
    const m = manager();
    await m.setup();
    nft('delete', 'table', 'ip', 'flannel-ipv4');
    await expect(m.ensure()).resolves.toBe(8);
    expect(nft('list', 'ruleset')).toBe(nftGolden({ masq: 'fully-random', forward: true }));
  });

  it('reports the rules in place as nft lists them', async () => {
    const m = manager();
    await m.setup();
    const lines = await m.inPlace();
    expect(lines).toEqual(
      nft('list', 'ruleset')
        .split('\n')
        .filter((l) => l.trim() !== ''),
    );
    expect(lines).toContain('\t\tip saddr 10.5.0.0/16 accept');
  });

  it('survives 8 agents setting up at once in one namespace, leaving one rule set', async () => {
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => manager().setup()));
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    expect(nft('list', 'ruleset')).toBe(nftGolden({ masq: 'fully-random', forward: true }));
  }, 30_000);

  it('removes every FLANNEL chain and jump from iptables nat and filter (upstream misses FLANNEL-FWD)', async () => {
    const logger = createRecordingLogger();
    await manager({ mode: 'iptables', logger }).setup();
    // As an older release left them: the jump inserted at the top, and FLANNEL-FWD also in nat,
    // where upstream's nftables mode looks for it.
    iptables(
      '-I',
      'FORWARD',
      '-m',
      'comment',
      '--comment',
      'flanneld forward',
      '-j',
      'FLANNEL-FWD',
    );
    iptables('-t', 'nat', '-N', 'FLANNEL-FWD');
    expect(iptables('-t', 'nat', '-S')).toContain('FLANNEL-POSTRTG');
    expect(iptables('-t', 'filter', '-S')).toContain('FLANNEL-FWD');

    await manager({ logger }).setup();
    expect(iptables('-t', 'nat', '-S')).not.toMatch(/FLANNEL/);
    expect(iptables('-t', 'filter', '-S')).not.toMatch(/FLANNEL/);
    expect(logger.lines).toContainEqual({
      level: 'info',
      message: "removed flannel's iptables rules left by iptables mode",
    });
    expect(nft('list', 'table', 'ip', 'flannel-ipv4')).toContain('chain postrtg');
  });

  it('iptables mode deletes the nftables tables an nftables-mode run left', async () => {
    await manager().setup();
    expect(nft('list', 'tables')).toBe('table ip flannel-ipv4\ntable ip6 flannel-ipv6\n');
    const m = manager({ mode: 'iptables' });
    await m.setup();
    expect(nft('list', 'tables')).not.toMatch(/flannel/);
    expect(iptables('-t', 'nat', '-S')).toContain('-N FLANNEL-POSTRTG');
    await expect(m.inPlace()).resolves.toEqual(
      expect.arrayContaining([
        '-t nat -N FLANNEL-POSTRTG',
        '-t nat -A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
        '-t filter -A FLANNEL-FWD -d 10.5.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
      ]),
    );
  });

  it('iptables mode with neither rule set still deletes the nftables tables', async () => {
    await manager().setup();
    await manager({ mode: 'iptables', ipMasq: false, forwardRules: false }).setup();
    expect(nft('list', 'ruleset')).toBe('');
  });

  it('says to install nftables or turn EnableNFTables off when nft is missing in the namespace', async () => {
    // A PATH holding `ip` but neither nft nor iptables: `ip netns exec` then cannot exec nft.
    const dir = mkdtempSync(join(tmpdir(), 'ftnft-path-'));
    try {
      symlinkSync(execFileSync('which', ['ip'], { encoding: 'utf8' }).trim(), join(dir, 'ip'));
      const failure = manager({ searchPath: dir }).setup();
      await expect(failure).rejects.toBeInstanceOf(NftError);
      await expect(failure).rejects.toMatchObject({ disposition: 'fatal' });
      await expect(failure).rejects.toThrow(NFT_MISSING_MESSAGE);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('nftables mode without nft', () => {
  it('says to install nftables or turn EnableNFTables off (fatal)', async () => {
    const m = createTrafficManager({
      mode: 'nftables',
      searchPath: '/nonexistent',
      families,
      ipMasq: false,
      forwardRules: true,
      randomFullyDisable: false,
      logger: noopLogger,
    });
    const failure = m.setup();
    await expect(failure).rejects.toMatchObject({ code: 'NFTABLES_FAILED', disposition: 'fatal' });
    await expect(failure).rejects.toThrow(`nft -f - failed: ${NFT_MISSING_MESSAGE}`);
  });
});
