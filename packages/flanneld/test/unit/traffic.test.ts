import { FlannelError, parseCidr } from '@flannel-ts/core';
import type { Cidr, Clock, Disposition } from '@flannel-ts/core';
import { createRecordingLogger } from '@flannel-ts/core/testing';
import { createTrafficManager } from '@flannel-ts/backend';
import type { CreateTrafficManagerOptions, TrafficManager } from '@flannel-ts/backend';
import { parseConfig } from '../../src/config';
import type { Config } from '../../src/config';
import { resyncTraffic, setupTraffic } from '../../src/traffic';
import { StartupStepError } from '../../src/startup-retry';

const cidr = (text: string) => parseCidr(text) as Cidr;
const input = { network: cidr('10.5.0.0/16'), subnet: cidr('10.5.3.0/24') };

function config(...argv: string[]): Config {
  const result = parseConfig({ argv, env: {} });
  if (result.kind !== 'run') throw new Error(`bad test flags: ${argv.join(' ')}`);
  return result.config;
}

/** A clock whose sleeps return at once and move time on; `onSleep` runs after each. */
function fakeClock(onSleep: () => void = () => undefined): Clock {
  let t = 0;
  return {
    now: () => t,
    sleep: (ms, signal) => {
      if (signal?.aborted) return Promise.reject(new Error('aborted'));
      t += ms;
      onSleep();
      return Promise.resolve();
    },
  };
}

const failure = (disposition: Disposition) =>
  new FlannelError('NFTABLES_FAILED', `nft failed (${disposition})`, { disposition });

/** A manager that records what it was built with and answers `ensure` from a script. */
function fakeManager(ensure: () => Promise<number> = () => Promise.resolve(0)) {
  const built: CreateTrafficManagerOptions[] = [];
  const calls: string[] = [];
  const create = (options: CreateTrafficManagerOptions): TrafficManager => {
    built.push(options);
    return {
      mode: options.mode,
      setup: () => {
        calls.push('setup');
        return Promise.resolve();
      },
      ensure,
      inPlace: () => Promise.resolve(['table ip flannel-ipv4 {']),
    };
  };
  return { create, built, calls };
}

describe('setupTraffic', () => {
  const deps = (nftables: boolean, create: (o: CreateTrafficManagerOptions) => TrafficManager) => ({
    clock: fakeClock(),
    logger: createRecordingLogger(),
    signal: new AbortController().signal,
    nftables,
    createManager: create,
  });

  it('builds an nftables manager from EnableNFTables and the flags, and sets it up', async () => {
    const fake = fakeManager();
    const cfg = config('--ip-masq', '--ip-masq-fully-random-disable');
    const rules = await setupTraffic(cfg, { ipv4: input }, deps(true, fake.create));
    expect(rules?.mode).toBe('nftables');
    expect(fake.calls).toEqual(['setup']);
    expect(fake.built[0]).toMatchObject({
      mode: 'nftables',
      families: { ipv4: input },
      ipMasq: true,
      forwardRules: true,
      randomFullyDisable: true,
    });
    await expect(rules?.inPlace()).resolves.toEqual(['table ip flannel-ipv4 {']);
  });

  it('uses iptables mode without EnableNFTables', async () => {
    const fake = fakeManager();
    const rules = await setupTraffic(config(), { ipv4: input }, deps(false, fake.create));
    expect(rules?.mode).toBe('iptables');
    expect(fake.built[0]).toMatchObject({ mode: 'iptables', ipMasq: false, forwardRules: true });
  });

  it('still sets up (cleaning the other mode) but keeps nothing when no rules are wanted', async () => {
    const fake = fakeManager();
    const cfg = config('--iptables-forward-rules=false');
    await expect(
      setupTraffic(cfg, { ipv4: input }, deps(true, fake.create)),
    ).resolves.toBeUndefined();
    expect(fake.calls).toEqual(['setup']);
  });

  it('exits at once, naming the step, when setup fails in a way retrying cannot fix', async () => {
    const create = (o: CreateTrafficManagerOptions): TrafficManager => ({
      ...fakeManager().create(o),
      setup: () => Promise.reject(failure('fatal')),
    });
    const result = setupTraffic(config(), { ipv4: input }, deps(true, create));
    await expect(result).rejects.toBeInstanceOf(StartupStepError);
    await expect(result).rejects.toThrow('setting up nftables rules failed: nft failed (fatal)');
  });

  it('in nftables mode, says to install nftables when nft is missing, and exits (no retry)', async () => {
    // A PATH without any binary: nothing runs, so this needs neither root nor a namespace.
    const create = (o: CreateTrafficManagerOptions) =>
      createTrafficManager({ ...o, searchPath: '/nonexistent' });
    const d = deps(true, create);
    const result = setupTraffic(config(), { ipv4: input }, d);
    await expect(result).rejects.toBeInstanceOf(StartupStepError);
    await expect(result).rejects.toThrow(
      "setting up nftables rules failed: nft -f - failed: nft not found: install Debian's " +
        'nftables package, or set EnableNFTables to false',
    );
    expect(d.logger.lines.filter((l) => l.level !== 'debug')).toEqual([]);
  });
});

describe('resyncTraffic', () => {
  it('logs a transient failure streak once and its recovery once', async () => {
    const logger = createRecordingLogger();
    const ctl = new AbortController();
    const results = [true, ...Array<boolean>(20).fill(false), true, true, false, true];
    let ticks = 0;
    const clock = fakeClock(() => {
      if (++ticks > results.length) ctl.abort();
    });
    const manager = {
      mode: 'iptables' as const,
      ensure: () => (results[ticks - 1] ? Promise.resolve(0) : Promise.reject(failure('retry'))),
    };
    await resyncTraffic(manager, { intervalMs: 5000, clock, logger, signal: ctl.signal });
    expect(logger.lines.filter((l) => l.level !== 'debug')).toEqual([
      { level: 'error', message: 'iptables resync failing; retrying' },
      { level: 'info', message: 'iptables resync recovered' },
      { level: 'error', message: 'iptables resync failing; retrying' },
      { level: 'info', message: 'iptables resync recovered' },
    ]);
    const recovered = logger.fields[logger.lines.findIndex((l) => l.level === 'info')];
    expect(recovered).toEqual({ failingForMs: 100_000, failedAttempts: 20 });
  });

  it.each<Disposition>(['fatal', 'restart'])(
    'throws a %s failure to its caller instead of retrying it',
    async (disposition) => {
      const ctl = new AbortController();
      let calls = 0;
      const manager = {
        mode: 'nftables' as const,
        ensure: () => (++calls === 1 ? Promise.resolve(0) : Promise.reject(failure(disposition))),
      };
      const clock = fakeClock();
      const run = resyncTraffic(manager, {
        intervalMs: 5000,
        clock,
        logger: createRecordingLogger(),
        signal: ctl.signal,
      });
      await expect(run).rejects.toThrow(`nft failed (${disposition})`);
      expect(calls).toBe(2);
    },
  );

  it('reports each repair with its count, and nothing for a tick with nothing to do', async () => {
    const ctl = new AbortController();
    const answers = [0, 3, 0, 1];
    const repairs: number[] = [];
    const manager = {
      mode: 'nftables' as const,
      ensure: () => {
        const n = answers.shift();
        if (answers.length === 0) ctl.abort();
        return Promise.resolve(n ?? 0);
      },
    };
    const logger = createRecordingLogger();
    await resyncTraffic(manager, {
      intervalMs: 5000,
      clock: fakeClock(),
      logger,
      signal: ctl.signal,
      onRepair: (n) => repairs.push(n),
    });
    expect(repairs).toEqual([3, 1]);
  });

  it('waits the resync interval before each check and stops when the signal aborts', async () => {
    const ctl = new AbortController();
    const sleeps: number[] = [];
    const clock: Clock = {
      now: () => 0,
      sleep: (ms) => {
        sleeps.push(ms);
        if (sleeps.length === 3) ctl.abort();
        return Promise.resolve();
      },
    };
    let checks = 0;
    const manager = { mode: 'iptables' as const, ensure: () => Promise.resolve(checks++ * 0) };
    await resyncTraffic(manager, {
      intervalMs: 7000,
      clock,
      logger: createRecordingLogger(),
      signal: ctl.signal,
    });
    expect(sleeps).toEqual([7000, 7000, 7000]);
    expect(checks).toBe(2);
  });
});
