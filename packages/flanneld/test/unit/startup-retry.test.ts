import { FlannelError } from '@flannel-ts/core';
import type { Clock } from '@flannel-ts/core';
import { createRecordingLogger } from '@flannel-ts/core/testing';
import { IpCommandError } from '@flannel-ts/backend';
import { isTransient, retryStartupStep, StartupStepError } from '../../src/startup-retry';

/** A clock whose sleeps return at once and move time on; `sleeps` records each delay. */
function fakeClock(onSleep: () => void = () => undefined) {
  let t = 0;
  const sleeps: number[] = [];
  const clock: Clock = {
    now: () => t,
    sleep: (ms, signal) => {
      if (signal?.aborted) return Promise.reject(new Error('aborted'));
      sleeps.push(ms);
      t += ms;
      onSleep();
      return Promise.resolve();
    },
  };
  return { clock, sleeps };
}

const conflict = () =>
  new FlannelError('IPTABLES_FAILED', 'line 4 failed: Bad rule', { retryable: true });
const ipFailure = (message: string) =>
  new IpCommandError({
    binary: 'ip',
    args: ['-force', '-batch', '-'],
    exitCode: undefined,
    stderr: '',
    failedLines: [{ lineNumber: 1, line: 'link add flannel.1 …', message }],
  });

describe('retryStartupStep', () => {
  it('retries a transient failure with back-off: one warning, then one line on success', async () => {
    const logger = createRecordingLogger();
    const { clock, sleeps } = fakeClock();
    let calls = 0;
    const fn = () => (++calls <= 4 ? Promise.reject(conflict()) : Promise.resolve('done'));
    const signal = new AbortController().signal;
    await expect(
      retryStartupStep('setting up iptables rules', fn, { clock, logger, signal }),
    ).resolves.toBe('done');
    expect(sleeps).toEqual([250, 500, 1000, 2000]);
    expect(logger.lines.filter((l) => l.level !== 'debug')).toEqual([
      { level: 'warn', message: 'start-up step failing; retrying' },
      { level: 'info', message: 'start-up step recovered' },
    ]);
    expect(logger.fields[0]).toMatchObject({
      step: 'setting up iptables rules',
      error: 'line 4 failed: Bad rule',
    });
    expect(logger.fields.at(-1)).toEqual({
      step: 'setting up iptables rules',
      failingForMs: 3750,
      failedAttempts: 4,
    });
  });

  it('logs nothing when the step works at once', async () => {
    const logger = createRecordingLogger();
    const signal = new AbortController().signal;
    await retryStartupStep('x', () => Promise.resolve(1), {
      clock: fakeClock().clock,
      logger,
      signal,
    });
    expect(logger.lines).toEqual([]);
  });

  it('rejects at once, naming the step and keeping the code, when retrying cannot help', async () => {
    const missing = new FlannelError('IPTABLES_FAILED', 'install the iptables package');
    const signal = new AbortController().signal;
    const { clock, sleeps } = fakeClock();
    const failure = retryStartupStep('setting up iptables rules', () => Promise.reject(missing), {
      clock,
      logger: createRecordingLogger(),
      signal,
    });
    await expect(failure).rejects.toBeInstanceOf(StartupStepError);
    await expect(failure).rejects.toMatchObject({
      code: 'IPTABLES_FAILED',
      message: 'setting up iptables rules failed: install the iptables package',
    });
    expect(sleeps).toEqual([]);
  });

  it('stops retrying when the signal aborts', async () => {
    const ctl = new AbortController();
    const { clock } = fakeClock(() => ctl.abort());
    const failure = retryStartupStep('x', () => Promise.reject(conflict()), {
      clock,
      logger: createRecordingLogger(),
      signal: ctl.signal,
    });
    await expect(failure).rejects.toThrow('line 4 failed');
  });
});

describe('isTransient', () => {
  it.each([
    ['a retryable FlannelError', conflict(), true],
    ['a FlannelError not marked retryable', new FlannelError('X', 'bad flag'), false],
    [
      'ip: File exists (another agent created it)',
      ipFailure('RTNETLINK answers: File exists'),
      true,
    ],
    [
      'ip: Cannot find device (another agent deleted it)',
      ipFailure('Cannot find device "flannel.1"'),
      true,
    ],
    [
      'ip: Operation not supported (no vxlan module)',
      ipFailure('RTNETLINK answers: Operation not supported'),
      false,
    ],
    ['a plain Error', new Error('EACCES'), false],
  ])('%s', (_what, err, expected) => {
    expect(isTransient(err)).toBe(expected);
  });
});
