import { createRecordingLogger, ManualClock } from '@flannel-ts/core/testing';
import type { DataPlane, ExtensionBackendDeps } from '@flannel-ts/backend';
import { extensionBackend, network, own } from './extension-fixtures';
import { exit, extLease, gate, joined, keyOf, left } from './fake-command-runner';

// The extension data plane: what runs when, against a fake command runner and a manual clock.

const signal = new AbortController().signal;
const FILE_EXISTS = 'RTNETLINK answers: File exists';

async function setup(table: ExtensionBackendDeps['table'] = {}) {
  const clock = new ManualClock();
  const logger = createRecordingLogger();
  const { backend, runner } = extensionBackend(
    { SubnetAddCommand: 'add-it', SubnetRemoveCommand: 'remove-it' },
    { deps: { clock, table }, logger },
  );
  const dp = (await backend.start(own, { ipv4: network }, signal)) as DataPlane;
  return { dp, runner, clock, logger };
}

/** Lets every queued promise callback run (no timers involved). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('extension data plane: what runs', () => {
  it('runs the add command for a new peer once; a full pass does not run it again', async () => {
    const { dp, runner } = await setup();
    dp.update(joined(extLease(2)));
    expect(dp.pending).toBe(true);
    expect(await dp.apply(signal)).toEqual({
      changes: 1,
      repairs: 0,
      programmedPeers: 1,
      skippedPeers: [],
    });
    expect(dp.peerStates()).toEqual([{ key: keyOf(2), state: 'programmed' }]);
    expect(dp.pending).toBe(false);
    await dp.resync(signal);
    await dp.resync(signal);
    expect(runner.log).toEqual(['+add 10.5.2.0/24', '-add 10.5.2.0/24']);
  });

  it('runs nothing for a renewal (same value, new TTL lease)', async () => {
    const { dp, runner } = await setup();
    dp.update(joined(extLease(2)));
    await dp.apply(signal);
    dp.update(joined({ ...extLease(2), ttlLeaseId: '8' }));
    expect(dp.pending).toBe(false);
    await dp.resync(signal);
    expect(runner.runs).toHaveLength(1);
  });

  it('runs the add command again, and no remove, when a peer’s lease changes (as upstream)', async () => {
    const { dp, runner } = await setup();
    dp.update(joined(extLease(2)));
    await dp.apply(signal);
    dp.update(joined(extLease(2, 'aa:bb:cc:dd:ee:99')));
    await dp.apply(signal);
    expect(runner.runs.map((r) => [r.name, r.stdin])).toEqual([
      ['SubnetAddCommand', 'aa:bb:cc:dd:ee:02\n'],
      ['SubnetAddCommand', 'aa:bb:cc:dd:ee:99\n'],
    ]);
  });

  it('runs the remove command with the lease the add command was given', async () => {
    const { dp, runner } = await setup();
    dp.update(joined(extLease(2)));
    await dp.apply(signal);
    dp.update(left(2));
    await dp.apply(signal);
    expect(runner.runs[1]).toMatchObject({
      name: 'SubnetRemoveCommand',
      env: { SUBNET: '10.5.2.0/24', PUBLIC_IP: '192.0.2.2' },
      stdin: 'aa:bb:cc:dd:ee:02\n',
    });
    expect(dp.peerStates()).toEqual([]);
  });

  it('counts peers as programmed when no add command is configured, and still removes them', async () => {
    const { backend, runner } = extensionBackend({ SubnetRemoveCommand: 'remove-it' });
    const dp = (await backend.start(own, { ipv4: network }, signal)) as DataPlane;
    dp.update(joined(extLease(2)));
    expect((await dp.apply(signal)).programmedPeers).toBe(1);
    dp.update(left(2));
    await dp.apply(signal);
    expect(runner.log).toEqual(['+remove 10.5.2.0/24', '-remove 10.5.2.0/24']);
  });
});

describe('extension data plane: concurrency', () => {
  it('runs different subnets side by side, at most 8 at a time', async () => {
    const { dp, runner } = await setup();
    const held = gate();
    runner.answer = () => held.promise;
    dp.update(joined(...Array.from({ length: 12 }, (_, i) => extLease(i + 2))));
    const pass = dp.apply(signal);
    await runner.started(8);
    await settle();
    expect(runner.runs).toHaveLength(8);
    held.open();
    await pass;
    expect(runner.runs).toHaveLength(12);
    expect(runner.maxRunning).toBe(8);
  });

  it('never runs two commands of one subnet at once: a change waits for the running command', async () => {
    const { dp, runner } = await setup();
    const first = gate();
    runner.answer = () => (runner.runs.length === 1 ? first.promise : {});
    dp.update(joined(extLease(2)));
    const pass1 = dp.apply(signal);
    await runner.started(1);
    dp.update(joined(extLease(2, 'aa:bb:cc:dd:ee:99')));
    const pass2 = dp.apply(signal);
    await settle();
    expect(runner.runs).toHaveLength(1);
    first.open();
    await Promise.all([pass1, pass2]);
    expect(runner.log).toEqual([
      '+add 10.5.2.0/24',
      '-add 10.5.2.0/24',
      '+add 10.5.2.0/24',
      '-add 10.5.2.0/24',
    ]);
    expect(runner.runs[1]?.stdin).toBe('aa:bb:cc:dd:ee:99\n');
    expect(runner.maxRunningPerSubnet).toBe(1);
  });
});

describe('extension data plane: failures', () => {
  it('retries a failing add with back-off, the peer pending with the failure as reason', async () => {
    const { dp, runner, clock, logger } = await setup();
    runner.answer = () => exit(2, `${FILE_EXISTS}\n`);
    dp.update(joined(extLease(2)));
    // The pass itself succeeds: the failure is the peer's (see CommandTable).
    expect(await dp.apply(signal)).toMatchObject({ changes: 0, programmedPeers: 0 });
    const pending = { key: keyOf(2), state: 'pending', reason: `exit status 2: ${FILE_EXISTS}` };
    expect(dp.peerStates()).toEqual([pending]);

    // Not due yet: a full pass runs nothing.
    expect(dp.pending).toBe(false);
    await dp.resync(signal);
    expect(runner.runs).toHaveLength(1);

    clock.advance(1000);
    expect(dp.pending).toBe(true);
    await dp.resync(signal);
    expect(runner.runs).toHaveLength(2);

    // The delay doubles.
    clock.advance(1999);
    expect(dp.pending).toBe(false);
    clock.advance(1);
    expect(dp.pending).toBe(true);
    runner.answer = () => ({});
    expect(await dp.apply(signal)).toMatchObject({ changes: 1, programmedPeers: 1 });
    expect(runner.runs).toHaveLength(3);
    expect(dp.peerStates()).toEqual([{ key: keyOf(2), state: 'programmed' }]);

    // Warned once, the repeat is debug, the recovery is info.
    const lines = logger.lines.filter(
      (l) => l.message.startsWith('SubnetAddCommand') && !l.message.endsWith('output'),
    );
    expect(lines).toEqual([
      { level: 'warn', message: 'SubnetAddCommand failed; retrying' },
      { level: 'debug', message: 'SubnetAddCommand failed again' },
      { level: 'info', message: 'SubnetAddCommand succeeded after failing' },
    ]);
    const warned = logger.fields[logger.lines.indexOf(lines[0]!)];
    expect(warned).toEqual({
      subnet: '10.5.2.0/24',
      publicIp: '192.0.2.2',
      error: `exit status 2: ${FILE_EXISTS}`,
      attempts: 1,
      retryInMs: 1000,
    });
  });

  it('asks for a pass through watch() when a retry falls due, once per retry', async () => {
    const { dp, runner, clock } = await setup();
    runner.answer = () => exit(1);
    const watching = new AbortController();
    const calls: boolean[] = [];
    const watch = dp.watch((full) => calls.push(full), watching.signal);
    dp.update(joined(extLease(2)));
    await dp.apply(signal);
    await settle();
    clock.advance(999);
    await settle();
    expect(calls).toEqual([]);
    clock.advance(1);
    await settle();
    expect(calls).toEqual([false]);
    // Told once; the next call waits for the retry to have run and failed again (2 s later).
    clock.advance(5000);
    await settle();
    expect(calls).toEqual([false]);
    await dp.apply(signal);
    await settle();
    clock.advance(2000);
    await settle();
    expect(calls).toEqual([false, false]);
    watching.abort();
    await watch;
  });

  it('tries a changed lease at once, whatever the back-off', async () => {
    const { dp, runner } = await setup();
    runner.answer = () => exit(1);
    dp.update(joined(extLease(2)));
    await dp.apply(signal);
    runner.answer = () => ({});
    dp.update(joined(extLease(2, 'aa:bb:cc:dd:ee:99')));
    expect(dp.pending).toBe(true);
    await dp.apply(signal);
    expect(runner.runs).toHaveLength(2);
    expect(dp.peerStates()).toEqual([{ key: keyOf(2), state: 'programmed' }]);
  });

  it('gives a failing remove up after 5 runs, with an error saying what to do', async () => {
    const { dp, runner, clock, logger } = await setup();
    dp.update(joined(extLease(2)));
    await dp.apply(signal);
    runner.answer = (r) => (r.name === 'SubnetRemoveCommand' ? exit(2, 'No such process') : {});
    dp.update(left(2));
    for (let i = 0; i < 5; i++) {
      await dp.resync(signal);
      clock.advance(60_000);
    }
    expect(runner.runs.filter((r) => r.name === 'SubnetRemoveCommand')).toHaveLength(5);
    expect(logger.lines).toContainEqual({
      level: 'error',
      message: 'SubnetRemoveCommand keeps failing; giving it up',
    });
    expect(dp.pending).toBe(false);
    await dp.resync(signal);
    expect(runner.runs).toHaveLength(6);
  });
});

describe('extension data plane: a peer that leaves before its add is done', () => {
  it('runs nothing for a peer that leaves while its add waits for a turn', async () => {
    const { dp, runner } = await setup({ concurrency: 1 });
    const held = gate();
    runner.answer = () => held.promise;
    dp.update(joined(extLease(2), extLease(3)));
    const pass = dp.apply(signal);
    await runner.started(1);
    dp.update(left(3));
    held.open();
    await pass;
    await dp.apply(signal);
    await dp.resync(signal);
    expect(runner.log).toEqual(['+add 10.5.2.0/24', '-add 10.5.2.0/24']);
    expect(dp.peerStates()).toEqual([{ key: keyOf(2), state: 'programmed' }]);
  });

  it('removes a peer that left while its add ran, after the add, and never adds it again', async () => {
    const { dp, runner } = await setup();
    const held = gate();
    runner.answer = () => (runner.runs.length === 1 ? held.promise : {});
    dp.update(joined(extLease(2)));
    const pass = dp.apply(signal);
    await runner.started(1);
    dp.update(left(2));
    held.open();
    await pass;
    await dp.apply(signal);
    await dp.resync(signal);
    expect(runner.log).toEqual([
      '+add 10.5.2.0/24',
      '-add 10.5.2.0/24',
      '+remove 10.5.2.0/24',
      '-remove 10.5.2.0/24',
    ]);
  });

  it('removes a peer whose add was failing at once, and never retries the add', async () => {
    const { dp, runner, clock } = await setup();
    runner.answer = (r) => (r.name === 'SubnetAddCommand' ? exit(2, FILE_EXISTS) : {});
    dp.update(joined(extLease(2)));
    await dp.apply(signal);
    dp.update(left(2));
    expect(await dp.apply(signal)).toMatchObject({ changes: 1 });
    clock.advance(120_000);
    expect(dp.pending).toBe(false);
    await dp.resync(signal);
    expect(runner.log).toEqual([
      '+add 10.5.2.0/24',
      '-add 10.5.2.0/24',
      '+remove 10.5.2.0/24',
      '-remove 10.5.2.0/24',
    ]);
  });

  it('decides afresh after an abort: the peer is pending again', async () => {
    const { dp, runner } = await setup();
    const aborting = new AbortController();
    runner.answer = () =>
      Promise.reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
    dp.update(joined(extLease(2)));
    aborting.abort();
    await expect(dp.apply(aborting.signal)).rejects.toThrow('aborted');
    expect(dp.pending).toBe(true);
    runner.answer = () => ({});
    await dp.apply(signal);
    expect(dp.peerStates()).toEqual([{ key: keyOf(2), state: 'programmed' }]);
  });
});
