import { Backoff, FlannelError, errorMessage } from '@flannel-ts/core';
import type { Clock, Logger } from '@flannel-ts/core';
import { IpCommandError, saysDeviceMissing } from '@flannel-ts/backend';
import { FailureStreak } from './failure-streak';

/** Options of {@link retryStartupStep}. */
export interface StartupRetryOptions {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Aborting stops the retries: the step rejects with the abort. */
  readonly signal: AbortSignal;
  /** First delay after a failure (doubling up to `maxDelayMs`); 250 ms by default. */
  readonly initialDelayMs?: number;
  /** Longest delay between attempts; 10 s by default. */
  readonly maxDelayMs?: number;
}

/**
 * A start-up step failed in a way retrying cannot fix (a missing binary, an invalid setting, an
 * incompatible device): the agent exits. Keeps the `code` of the cause, so the exit names it.
 */
export class StartupStepError extends FlannelError {
  readonly step: string;

  constructor(step: string, cause: unknown) {
    super(
      cause instanceof FlannelError ? cause.code : 'STARTUP_STEP_FAILED',
      `${step} failed: ${errorMessage(cause)}`,
      { cause },
    );
    this.step = step;
  }
}

// iproute2's answers when the kernel state changed between our read and our write (another agent
// starting at the same moment): the next attempt reads the new state and decides again.
const KERNEL_RACE =
  /File exists|Address not found|Address already assigned|Cannot assign requested address|Device or resource busy|Resource temporarily unavailable/i;

/**
 * True when trying again can succeed: a FlannelError marked `retryable` (an iptables conflict, a
 * device that kept changing, etcd unavailable), or an iproute2 failure whose every refused line
 * says the kernel state changed under us. iproute2 errors carry no flag of their own, so they are
 * judged here, once, by their answer.
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof IpCommandError) {
    const answers =
      err.failedLines.length > 0 ? err.failedLines.map((l) => l.message) : [err.stderr];
    return answers.every((a) => KERNEL_RACE.test(a) || saysDeviceMissing(a));
  }
  return err instanceof FlannelError && err.retryable;
}

/**
 * Runs one start-up step (`fn`), retrying transient failures ({@link isTransient}) with
 * exponential back-off until it succeeds or the signal aborts; anything else rejects at once with
 * a {@link StartupStepError} naming the step. Logs one warning when the step starts failing and
 * one line when it succeeds after failures (see {@link FailureStreak}), never one per attempt.
 */
export async function retryStartupStep<T>(
  step: string,
  fn: (signal: AbortSignal) => Promise<T>,
  options: StartupRetryOptions,
): Promise<T> {
  const { clock, logger, signal } = options;
  const backoff = new Backoff(options.initialDelayMs ?? 250, options.maxDelayMs ?? 10_000);
  const streak = new FailureStreak({ clock, logger, what: 'start-up step', fields: { step } });
  for (;;) {
    try {
      const result = await fn(signal);
      streak.succeeded();
      return result;
    } catch (err) {
      if (signal.aborted) throw err;
      if (!isTransient(err)) throw new StartupStepError(step, err);
      const retryInMs = backoff.next();
      streak.failed(err, { retryInMs });
      await clock.sleep(retryInMs, signal);
    }
  }
}
