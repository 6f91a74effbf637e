import { FlannelError } from '@flannel-ts/core';
import { createRecordingLogger, ManualClock, waitUntil } from '@flannel-ts/core/testing';
import { FatalTaskError, Supervisor } from '../../src/supervisor';
import type { Task } from '../../src/supervisor';

const retryable = (msg: string) => new FlannelError('STORE_UNAVAILABLE', msg, { retryable: true });
const permanent = (msg: string) => new FlannelError('BINARY_MISSING', msg);

/** A task that runs `attempt(n)` on its n-th run (1-based), then waits for its signal. */
function scripted(
  name: string,
  attempt: (n: number) => 'fail' | 'end' | 'run',
  err: () => unknown,
) {
  const runs = { count: 0, stopped: 0 };
  const task: Task = {
    name,
    run: async (signal) => {
      const what = attempt(++runs.count);
      if (what === 'fail') throw err();
      if (what === 'end') return;
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
      runs.stopped++;
    },
  };
  return { task, runs };
}

function setup(options: { maxRestarts?: number } = {}) {
  const clock = new ManualClock();
  const logger = createRecordingLogger();
  const supervisor = new Supervisor({ clock, logger, stableAfterMs: 30_000, ...options });
  const ctl = new AbortController();
  const done = supervisor.run(ctl.signal);
  return { clock, logger, supervisor, ctl, done };
}

/** Waits until task `i` is backing off (its back-off sleep is then registered), then moves time on. */
async function advanceWhenBackingOff(
  supervisor: Supervisor,
  clock: ManualClock,
  ms: number,
  i = 0,
): Promise<void> {
  await waitUntil(() => supervisor.tasks()[i]?.state === 'backing-off', 'a task to back off');
  clock.advance(ms);
}

describe('Supervisor', () => {
  it('retries a retry-disposition failure with back-off, logging the streak once and the recovery once', async () => {
    const { clock, logger, supervisor, ctl, done } = setup();
    const { task, runs } = scripted(
      'peer watch',
      (n) => (n <= 3 ? 'fail' : 'run'),
      () => retryable('etcd unreachable'),
    );
    supervisor.start(task);
    await waitUntil(() => runs.count === 1, 'the first run');
    expect(supervisor.tasks()[0]).toMatchObject({
      state: 'backing-off',
      lastError: 'etcd unreachable',
    });
    expect(supervisor.trouble()).toEqual({ task: 'peer watch', error: 'etcd unreachable' });
    // Back-off doubles: 1 s, 2 s, 4 s.
    for (const [i, ms] of [1000, 2000, 4000].entries()) {
      await advanceWhenBackingOff(supervisor, clock, ms - 1);
      await new Promise((r) => setTimeout(r, 20));
      expect(runs.count).toBe(i + 1);
      clock.advance(1);
      await waitUntil(() => runs.count === i + 2, 'the rerun');
    }
    expect(runs.count).toBe(4);
    expect(supervisor.tasks()[0]).toMatchObject({ state: 'running', restarts: 3 });
    // It has not run stably yet: still reported as failing until the stability time passes.
    expect(logger.lines.filter((l) => l.message === 'task recovered')).toHaveLength(0);
    clock.advance(30_000);
    await waitUntil(() => logger.lines.some((l) => l.message === 'task recovered'), 'recovery');
    expect(supervisor.trouble()).toBeUndefined();
    expect(logger.lines.filter((l) => l.level !== 'debug')).toEqual([
      { level: 'warn', message: 'task failing; retrying' },
      { level: 'info', message: 'task recovered' },
    ]);
    ctl.abort();
    await expect(done).resolves.toBeUndefined();
    expect(runs.stopped).toBe(1);
    expect(supervisor.tasks()[0]?.state).toBe('stopped');
  });

  it('restarts a task that ended by itself (a watch stream that closed)', async () => {
    const { clock, logger, supervisor, ctl, done } = setup();
    const { task, runs } = scripted(
      'own-lease watch',
      (n) => (n === 1 ? 'end' : 'run'),
      () => 0,
    );
    supervisor.start(task);
    await advanceWhenBackingOff(supervisor, clock, 1000);
    await waitUntil(() => runs.count === 2, 'the restart');
    expect(logger.fields[0]).toMatchObject({
      task: 'own-lease watch',
      error: 'own-lease watch ended unexpectedly',
      disposition: 'restart',
    });
    ctl.abort();
    await done;
  });

  it('gives up on a task that keeps failing (more than maxRestarts within the window) and stops the rest', async () => {
    const { clock, supervisor, done } = setup({ maxRestarts: 2 });
    // Handled from the start: the rejection comes while the test is still advancing time.
    const outcome = done.then(
      () => undefined,
      (e: unknown) => e,
    );
    const other = scripted(
      'data plane',
      () => 'run',
      () => 0,
    );
    const failing = scripted(
      'kernel monitor',
      () => 'fail',
      () => new Error('monitor crashed'),
    );
    supervisor.start(other.task);
    supervisor.start(failing.task);
    await advanceWhenBackingOff(supervisor, clock, 1000, 1);
    await waitUntil(() => failing.runs.count === 2, 'second run');
    await advanceWhenBackingOff(supervisor, clock, 2000, 1);
    await waitUntil(() => failing.runs.count === 3, 'third run');
    const err = await outcome;
    expect(err).toBeInstanceOf(FatalTaskError);
    expect((err as FatalTaskError).task).toBe('kernel monitor');
    expect((err as Error).message).toBe(
      'kernel monitor: failed 3 times within 10 minutes; last: monitor crashed',
    );
    expect(other.runs.stopped).toBe(1);
    expect(supervisor.tasks().map((t) => t.state)).toEqual(['stopped', 'failed']);
    expect(supervisor.trouble()?.error).toMatch(
      /failed 3 times within 10 minutes; last: monitor crashed/,
    );
  });

  it('stops everything at once on a fatal error and rejects with it, keeping its code', async () => {
    const { supervisor, done, logger } = setup();
    const other = scripted(
      'lease',
      () => 'run',
      () => 0,
    );
    supervisor.start(other.task);
    supervisor.start(
      scripted(
        'traffic rules',
        () => 'fail',
        () => permanent('nft not found: install nftables'),
      ).task,
    );
    await expect(done).rejects.toMatchObject({
      code: 'BINARY_MISSING',
      message: 'traffic rules: nft not found: install nftables',
    });
    expect(other.runs.stopped).toBe(1);
    expect(supervisor.signal.aborted).toBe(true);
    expect(logger.lines).toContainEqual({
      level: 'error',
      message: 'task failed; stopping the agent',
    });
    // Nothing starts after the end.
    const late = scripted(
      'late',
      () => 'run',
      () => 0,
    );
    supervisor.start(late.task);
    expect(late.runs.count).toBe(0);
  });

  it('resolves once stopped, after every task has returned', async () => {
    const { supervisor, ctl, done } = setup();
    const a = scripted(
      'a',
      () => 'run',
      () => 0,
    );
    const b = scripted(
      'b',
      () => 'run',
      () => 0,
    );
    supervisor.start(a.task);
    supervisor.start(b.task);
    await waitUntil(() => a.runs.count === 1 && b.runs.count === 1, 'both running');
    ctl.abort();
    await done;
    expect([a.runs.stopped, b.runs.stopped]).toEqual([1, 1]);
  });
});
