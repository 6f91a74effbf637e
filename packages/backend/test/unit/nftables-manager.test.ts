import { noopLogger, parseCidr } from '@flannel-ts/core';
import type { Cidr, Clock } from '@flannel-ts/core';
import { createRecordingLogger } from '@flannel-ts/core/testing';
import type { IptablesRunner, NftRunner, NftTableId } from '@flannel-ts/backend';
import { createNftablesManager, NFT_MISSING_MESSAGE, NftError } from '@flannel-ts/backend';
import type { NftablesManagerOptions } from '@flannel-ts/backend';

const cidr = (text: string) => parseCidr(text) as Cidr;
const families = { ipv4: { network: cidr('10.5.0.0/16'), subnet: cidr('10.5.3.0/24') } };
const clock: Clock = { now: () => 0, sleep: () => Promise.resolve() };

const TABLES = ['ip flannel-ipv4', 'ip6 flannel-ipv6'];

/**
 * An nft whose tables are strings: apply prints each table it replaces the way nft lists it
 * (close enough for a diff), tests then edit them. `hide` leaves rules containing it out of the
 * print-out, like another program deleting one in the same instant.
 */
function fakeNft(options: { randomFully?: boolean; hide?: string } = {}) {
  const tables = new Map<string, string>();
  const scripts: string[] = [];
  const checks: string[] = [];
  const print = (script: string, table: string): string => {
    const chains = new Map<string, string[]>();
    for (const line of script.split('\n')) {
      const words = line.split(' ');
      const [verb, kind, family, name, chain] = words;
      if (verb !== 'add' || `${family} ${name}` !== table || chain === undefined) continue;
      if (kind === 'chain') chains.set(chain, []);
      const rule = words.slice(5).join(' ');
      if (kind === 'rule' && !(options.hide && rule.includes(options.hide))) {
        chains.get(chain)?.push(rule);
      }
    }
    const body = [...chains].flatMap(([name, rules]) => [
      `\tchain ${name} {`,
      '\t\ttype filter hook forward priority filter; policy accept;',
      ...rules.map((r) => `\t\t${r}`),
      '\t}',
    ]);
    return [`table ${table} {`, ...body, '}', ''].join('\n');
  };
  const nft: NftRunner = {
    apply: (script) => {
      scripts.push(script);
      for (const t of TABLES)
        if (script.includes(`delete table ${t}\n`)) tables.set(t, print(script, t));
      return Promise.resolve();
    },
    check: (script) => {
      checks.push(script);
      return Promise.resolve(options.randomFully ?? true);
    },
    listTable: (t: NftTableId) => Promise.resolve(tables.get(`${t.family} ${t.name}`)),
    listTables: () => Promise.resolve([]),
  };
  return { nft, tables, scripts, checks };
}

/** An iptables with no rules of ours, or one whose save fails `failures` times. */
function fakeIptables(failures = 0) {
  let saves = 0;
  const iptables: IptablesRunner = {
    save: (table) => {
      saves++;
      return saves <= failures * 2
        ? Promise.reject(new Error('iptables-save: cannot initialize table'))
        : Promise.resolve(`*${table}\nCOMMIT\n`);
    },
    restore: () => Promise.resolve(),
    supportsRandomFully: () => Promise.resolve(true),
  };
  return { iptables, saves: () => saves };
}

function manager(
  overrides: Partial<NftablesManagerOptions> = {},
  fake: ReturnType<typeof fakeNft> = fakeNft(),
) {
  const m = createNftablesManager({
    families,
    ipMasq: false,
    forwardRules: true,
    randomFullyDisable: false,
    logger: noopLogger,
    clock,
    nft: fake.nft,
    iptables: fakeIptables().iptables,
    ...overrides,
  });
  return { m, ...fake };
}

describe('nftables manager', () => {
  it('applies the whole rule set in one script and finds nothing to do right after', async () => {
    const { m, scripts } = manager();
    await m.setup();
    expect(scripts).toHaveLength(1);
    expect(scripts[0]).toContain('add rule ip flannel-ipv4 forward ip daddr 10.5.0.0/16 accept');
    await expect(m.ensure()).resolves.toBe(0);
    expect(scripts).toHaveLength(1);
  });

  it('puts a deleted rule back on resync and says how many it restored', async () => {
    const logger = createRecordingLogger();
    const { m, tables, scripts } = manager({ logger });
    await m.setup();
    const v4 = tables.get('ip flannel-ipv4')!;
    tables.set('ip flannel-ipv4', v4.replace('\t\tip daddr 10.5.0.0/16 accept\n', ''));
    await expect(m.ensure()).resolves.toBe(1);
    expect(scripts).toHaveLength(2);
    expect(tables.get('ip flannel-ipv4')).toBe(v4);
    const i = logger.lines.findIndex((l) => l.message.startsWith('some nftables rules'));
    expect(logger.fields[i]).toEqual({
      missing: ['ip flannel-ipv4 forward: ip daddr 10.5.0.0/16 accept'],
      unexpected: [],
    });
  });

  it('re-creates a deleted table on resync and counts it as one repair', async () => {
    const { m, tables } = manager();
    await m.setup();
    const v6 = tables.get('ip6 flannel-ipv6')!;
    tables.delete('ip6 flannel-ipv6');
    await expect(m.ensure()).resolves.toBe(1);
    expect(tables.get('ip6 flannel-ipv6')).toBe(v6);
  });

  it('probes fully-random once, only for masquerading, and not when disabled', async () => {
    const masq = manager({ ipMasq: true });
    await masq.m.setup();
    await masq.m.setup();
    expect(masq.checks).toHaveLength(1);
    expect(masq.scripts[0]).toContain('masquerade fully-random');
    const disabled = manager({ ipMasq: true, randomFullyDisable: true });
    await disabled.m.setup();
    expect(disabled.checks).toEqual([]);
    expect(disabled.scripts[0]).not.toContain('fully-random');
    const forwardOnly = manager();
    await forwardOnly.m.setup();
    expect(forwardOnly.checks).toEqual([]);
  });

  it('masquerades without fully-random, and warns, when the kernel refuses it', async () => {
    const logger = createRecordingLogger();
    const { m, scripts } = manager({ logger, ipMasq: true }, fakeNft({ randomFully: false }));
    await m.setup();
    expect(scripts[0]).toContain('ip daddr != 224.0.0.0/4 masquerade\n');
    expect(scripts[0]).not.toContain('fully-random');
    expect(logger.lines).toContainEqual({
      level: 'warn',
      message: 'this kernel cannot masquerade with fully random ports; masquerading without',
    });
  });

  it('fails (to be retried) when nft lists other rules than it was just given', async () => {
    const { m } = manager({ ipMasq: true }, fakeNft({ hide: 'meta mark' }));
    await expect(m.setup()).rejects.toMatchObject({
      code: 'NFTABLES_READBACK',
      disposition: 'retry',
    });
  });

  it('warns once when the iptables leftovers cannot be removed, and retries on resync', async () => {
    const logger = createRecordingLogger();
    const ipt = fakeIptables(2);
    const { m } = manager({ logger, iptables: ipt.iptables });
    await m.setup();
    expect(logger.lines.filter((l) => l.level === 'warn')).toEqual([
      {
        level: 'warn',
        message:
          "could not remove flannel's iptables rules left by iptables mode; retrying at each resync",
      },
    ]);
    await m.ensure(); // fails again, quietly
    await m.ensure(); // works
    await m.ensure(); // nothing pending: no more reads
    expect(ipt.saves()).toBe(6);
    expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
  });

  it('fills the ip6 flannel-ipv6 table for an IPv6 network (upstream HEAD rules, ff00::/8)', async () => {
    const v6 = { network: cidr('fd00:5::/56'), subnet: cidr('fd00:5:0:3::/64') };
    const { m, scripts } = manager({ families: { ...families, ipv6: v6 }, ipMasq: true });
    await m.setup();
    expect(scripts).toHaveLength(1);
    expect(scripts[0]).toContain(
      'add rule ip6 flannel-ipv6 postrtg ip6 saddr fd00:5::/56 ip6 daddr != ff00::/8 masquerade fully-random',
    );
    expect(scripts[0]).toContain('add rule ip6 flannel-ipv6 forward ip6 daddr fd00:5::/56 accept');
    await expect(m.ensure()).resolves.toBe(0);
  });

  it('removes both iptables and ip6tables leftovers of an iptables-mode run', async () => {
    const payloads: string[] = [];
    const leftover = (bin: string): IptablesRunner => ({
      save: (table) =>
        Promise.resolve(
          table === 'filter'
            ? `*filter\n:FLANNEL-FWD - [0:0]\n-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD\nCOMMIT\n`
            : `*${table}\nCOMMIT\n`,
        ),
      restore: (payload) => {
        payloads.push(`${bin}: ${payload}`);
        return Promise.resolve();
      },
      supportsRandomFully: () => Promise.resolve(true),
    });
    const { m } = manager({ iptables: leftover('iptables'), ip6tables: leftover('ip6tables') });
    await m.setup();
    expect(payloads.map((p) => p.split(':')[0])).toEqual(['iptables', 'ip6tables']);
  });
});

describe('NftError', () => {
  it('says to install nftables or turn EnableNFTables off when nft is missing (fatal)', () => {
    const err = new NftError({ kind: 'missing', command: ['nft', '-f', '-'], binary: 'nft' });
    expect(err.message).toBe(`nft -f - failed: ${NFT_MISSING_MESSAGE}`);
    expect(err.disposition).toBe('fatal');
  });

  it.each([
    ['Error: Could not process rule: Operation not permitted', 'fatal'],
    ['netlink: Error: Could not process rule: Device or resource busy', 'retry'],
    ['Error: Could not process rule: No such file or directory', 'restart'],
  ])('classifies %j as %s', (stderr, disposition) => {
    const err = new NftError({
      kind: 'exited',
      command: ['nft', '-f', '-'],
      exitCode: 1,
      stdout: '',
      stderr,
    });
    expect(err.disposition).toBe(disposition);
    expect(err.message).toContain(`nft -f - failed (exit 1): ${stderr}`);
  });
});
