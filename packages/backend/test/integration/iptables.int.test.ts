import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noopLogger, parseCidr } from '@flannel-ts/core';
import type { Cidr, Logger } from '@flannel-ts/core';
import { createIptablesManager, createIptablesRunner, IptablesError } from '@flannel-ts/backend';
import type { IptablesManagerOptions } from '@flannel-ts/backend';

// These tests need root (they create a network namespace). CI runs as root; elsewhere they skip,
// and say so, because a silent skip would look like a pass.
const isRoot = process.getuid?.() === 0;
if (!isRoot) {
  process.stderr.write('SKIPPED iptables integration tests: they need root (ip netns add)\n');
}
const describeAsRoot = isRoot ? describe : describe.skip;

const cidr = (text: string) => parseCidr(text) as Cidr;
const N = cidr('10.5.0.0/16');
const S = cidr('10.5.3.0/24');

// Golden `iptables -S` lines of SPEC 6.1 / 6.2 with N = 10.5.0.0/16, S = 10.5.3.0/24.
const MASQ_JUMP = '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG';
const MASQ_CHAIN = [
  '-N FLANNEL-POSTRTG',
  '-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN',
  '-A FLANNEL-POSTRTG -s 10.5.3.0/24 -d 10.5.0.0/16 -m comment --comment "flanneld masq" -j RETURN',
  '-A FLANNEL-POSTRTG -s 10.5.0.0/16 -d 10.5.3.0/24 -m comment --comment "flanneld masq" -j RETURN',
  '-A FLANNEL-POSTRTG ! -s 10.5.0.0/16 -d 10.5.3.0/24 -m comment --comment "flanneld masq" -j RETURN',
  '-A FLANNEL-POSTRTG -s 10.5.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
  '-A FLANNEL-POSTRTG ! -s 10.5.0.0/16 -d 10.5.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
];
const FWD_JUMP = '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD';
const FWD_CHAIN = [
  '-N FLANNEL-FWD',
  '-A FLANNEL-FWD -s 10.5.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
  '-A FLANNEL-FWD -d 10.5.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
];

describeAsRoot('iptables manager in a throwaway network namespace', () => {
  let netns = '';
  const iptables = (...args: string[]) =>
    execFileSync('ip', ['netns', 'exec', netns, 'iptables', ...args], { encoding: 'utf8' });
  const listing = (table: string, chain?: string) =>
    iptables('-t', table, '-S', ...(chain === undefined ? [] : [chain]))
      .split('\n')
      .filter((l) => l !== '');
  const jumps = (table: string, chain: string) =>
    listing(table, chain).filter((l) => l.startsWith(`-A ${chain} `));
  const manager = (overrides: Partial<IptablesManagerOptions> = {}) =>
    createIptablesManager({
      runner: createIptablesRunner({ netns }),
      logger: noopLogger,
      network: N,
      subnet: S,
      ipMasq: true,
      forwardRules: true,
      randomFullyDisable: false,
      ...overrides,
    });

  beforeEach(() => {
    netns = `fti-${randomBytes(4).toString('hex')}`;
    execFileSync('ip', ['netns', 'add', netns]);
  });
  afterEach(() => {
    // Runs even when a test failed, so no namespace is left behind.
    execFileSync('ip', ['netns', 'del', netns]);
  });

  it('installs exactly the golden masquerade and forward rules', async () => {
    await manager().setup();
    expect(jumps('nat', 'POSTROUTING')).toEqual([MASQ_JUMP]);
    expect(listing('nat', 'FLANNEL-POSTRTG')).toEqual(MASQ_CHAIN);
    expect(jumps('filter', 'FORWARD')).toEqual([FWD_JUMP]);
    expect(listing('filter', 'FLANNEL-FWD')).toEqual(FWD_CHAIN);
    // Nothing else was written: the whole table is the policies plus the golden lines.
    expect(listing('nat').filter((l) => !l.startsWith('-P '))).toEqual([
      '-N FLANNEL-POSTRTG',
      MASQ_JUMP,
      ...MASQ_CHAIN.slice(1),
    ]);
    process.stderr.write(`iptables -t nat -S in ${netns}:\n${iptables('-t', 'nat', '-S')}`);
  });

  it('leaves one copy of everything when applied twice', async () => {
    await manager().setup();
    const nat = listing('nat');
    const filter = listing('filter');
    await manager().setup();
    expect(listing('nat')).toEqual(nat);
    expect(listing('filter')).toEqual(filter);
  });

  it('restores a rule deleted by hand on resync, then finds nothing to do', async () => {
    const messages: string[] = [];
    const logger: Logger = { ...noopLogger, info: (m) => messages.push(m) };
    const m = manager({ logger });
    await m.setup();
    const comment = ['-m', 'comment', '--comment', 'flanneld masq'];
    iptables(
      '-t',
      'nat',
      '-D',
      'FLANNEL-POSTRTG',
      '-s',
      '10.5.0.0/16',
      '-d',
      '10.5.3.0/24',
      ...comment,
      '-j',
      'RETURN',
    );
    expect(listing('nat', 'FLANNEL-POSTRTG')).toHaveLength(MASQ_CHAIN.length - 1);
    await expect(m.ensure()).resolves.toBe(1);
    expect(messages).toContain('Some iptables rules are missing; deleting and recreating rules');
    expect(listing('nat', 'FLANNEL-POSTRTG')).toEqual(MASQ_CHAIN);
    expect(jumps('nat', 'POSTROUTING')).toEqual([MASQ_JUMP]);
    await expect(m.ensure()).resolves.toBe(0);
  });

  it('recreates a deleted chain and its jump on resync', async () => {
    const m = manager();
    await m.setup();
    iptables(
      '-D',
      'FORWARD',
      '-m',
      'comment',
      '--comment',
      'flanneld forward',
      '-j',
      'FLANNEL-FWD',
    );
    iptables('-F', 'FLANNEL-FWD');
    iptables('-X', 'FLANNEL-FWD');
    await expect(m.ensure()).resolves.toBe(3);
    expect(jumps('filter', 'FORWARD')).toEqual([FWD_JUMP]);
    expect(listing('filter', 'FLANNEL-FWD')).toEqual(FWD_CHAIN);
  });

  it('recycles the rules of the previous subnet', async () => {
    await manager({ subnet: cidr('10.5.9.0/24') }).setup();
    expect(iptables('-t', 'nat', '-S')).toContain('10.5.9.0/24');
    await manager({ previous: { network: N, subnet: cidr('10.5.9.0/24') } }).setup();
    expect(iptables('-t', 'nat', '-S')).not.toContain('10.5.9.0');
    expect(iptables('-t', 'filter', '-S')).not.toContain('10.5.9.0');
    expect(listing('nat', 'FLANNEL-POSTRTG')).toEqual(MASQ_CHAIN);
    expect(jumps('nat', 'POSTROUTING')).toEqual([MASQ_JUMP]);
  });

  it.each([8, 40])(
    'survives %i concurrent setups in one namespace, three times, and keeps one set of rules after a resync',
    async (agents) => {
      // Agents starting at once (a restart overlap): each reads the tables, then writes; a copy of a
      // jump one of them saw may be gone by the time it writes (issue 8).
      for (let round = 0; round < 3; round++) {
        const managers = Array.from({ length: agents }, () => manager());
        const results = await Promise.allSettled(managers.map((m) => m.setup()));
        expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
        await Promise.all(managers.map((m) => m.ensure()));
        expect(jumps('nat', 'POSTROUTING')).toEqual([MASQ_JUMP]);
        expect(listing('nat', 'FLANNEL-POSTRTG')).toEqual(MASQ_CHAIN);
        expect(jumps('filter', 'FORWARD')).toEqual([FWD_JUMP]);
        expect(listing('filter', 'FLANNEL-FWD')).toEqual(FWD_CHAIN);
      }
    },
    60_000,
  );

  it('appends its jumps after Docker-like rules and leaves those untouched', async () => {
    iptables('-N', 'DOCKER-USER');
    iptables('-A', 'FORWARD', '-j', 'DOCKER-USER');
    iptables('-A', 'FORWARD', '-o', 'docker0', '-j', 'ACCEPT');
    iptables(
      '-t',
      'nat',
      '-A',
      'POSTROUTING',
      '-s',
      '172.17.0.0/16',
      '!',
      '-o',
      'docker0',
      '-j',
      'MASQUERADE',
    );
    const docker = ['-A FORWARD -j DOCKER-USER', '-A FORWARD -o docker0 -j ACCEPT'];
    const dockerNat = '-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE';
    const m = manager();
    await m.setup();
    expect(jumps('filter', 'FORWARD')).toEqual([...docker, FWD_JUMP]);
    expect(jumps('nat', 'POSTROUTING')).toEqual([dockerNat, MASQ_JUMP]);
    expect(listing('filter', 'DOCKER-USER')).toEqual(['-N DOCKER-USER']);
    // Docker adds a rule after ours (a restart); the next setup moves our jump back to the end.
    iptables('-A', 'FORWARD', '-i', 'docker0', '-j', 'ACCEPT');
    await m.setup();
    expect(jumps('filter', 'FORWARD')).toEqual([
      ...docker,
      '-A FORWARD -i docker0 -j ACCEPT',
      FWD_JUMP,
    ]);
    await expect(m.ensure()).resolves.toBe(0);
  });
});

describeAsRoot('createIptablesRunner', () => {
  const netns = `fti-${randomBytes(4).toString('hex')}`;
  const runner = createIptablesRunner({ netns });
  beforeAll(() => execFileSync('ip', ['netns', 'add', netns]));
  afterAll(() => execFileSync('ip', ['netns', 'del', netns]));

  it('reports a failing restore with its command, exit code and stderr', async () => {
    const failure = runner.restore('*nat\n-A NO-SUCH-CHAIN -j RETURN\nCOMMIT\n');
    await expect(failure).rejects.toBeInstanceOf(IptablesError);
    await expect(failure).rejects.toMatchObject({ code: 'IPTABLES_FAILED', retryable: true });
    await expect(failure).rejects.toThrow(
      new RegExp(
        `^ip netns exec ${netns} iptables-restore --noflush --wait failed \\(exit [1-9]\\d*\\): .*NO-SUCH-CHAIN`,
        's',
      ),
    );
  });

  it('knows that this iptables supports --random-fully', async () => {
    await expect(runner.supportsRandomFully()).resolves.toBe(true);
  });

  it('says the iptables package is missing when the namespace has no iptables on PATH', async () => {
    // A PATH holding `ip` but no iptables: `ip netns exec` then fails to exec iptables-save.
    const dir = mkdtempSync(join(tmpdir(), 'fti-path-'));
    symlinkSync(execFileSync('which', ['ip'], { encoding: 'utf8' }).trim(), join(dir, 'ip'));
    const bare = createIptablesRunner({ netns, searchPath: dir });
    const failure = bare.save('filter');
    await failure.catch(() => undefined);
    rmSync(dir, { recursive: true });
    await expect(failure).rejects.toThrow(
      /`iptables-save` command was not found: install the iptables package/,
    );
  });
});

describe('createIptablesRunner without iptables', () => {
  it('says the iptables package is missing', async () => {
    const failure = createIptablesRunner({ searchPath: '/nonexistent' }).save('nat');
    await expect(failure).rejects.toMatchObject({ code: 'IPTABLES_FAILED', retryable: false });
    await expect(failure).rejects.toThrow(
      'iptables-save -t nat failed: the `iptables-save` command was not found: install the iptables package',
    );
  });
});
