import { errorMessage } from '@flannel-ts/core';
import type { Clock, LogFields, Logger } from '@flannel-ts/core';

/** Options of {@link FailureStreak}. */
export interface FailureStreakOptions {
  readonly clock: Clock;
  readonly logger: Logger;
  /** What fails, as the start of a fixed message: `iptables resync`, `start-up step`. */
  readonly what: string;
  /** Fields on both lines, e.g. `{ step: 'setting up iptables rules' }`. */
  readonly fields?: LogFields;
  /** Level of the "failing" line: `error` for a loop that keeps running, `warn` by default. */
  readonly level?: 'warn' | 'error';
}

/**
 * Logs a retried operation on its transitions only: one line when it starts failing (with the
 * error), one when it works again (how long it failed, how many attempts failed); the failures in
 * between go to debug, so an outage of an hour is two lines, not one per attempt (issue 8).
 */
export class FailureStreak {
  private since: number | undefined;
  private failures = 0;

  constructor(private readonly options: FailureStreakOptions) {}

  /** True between a failure and the next success. */
  get failing(): boolean {
    return this.since !== undefined;
  }

  /** Records a failed attempt; logs only the first of a streak. */
  failed(err: unknown, fields: LogFields = {}): void {
    const { logger, what, level = 'warn' } = this.options;
    const line = { ...this.options.fields, error: errorMessage(err), ...fields };
    this.failures++;
    if (this.since === undefined) {
      this.since = this.options.clock.now();
      logger[level](`${what} failing; retrying`, line);
    } else {
      logger.debug(`${what} still failing`, { ...line, failedAttempts: this.failures });
    }
  }

  /** Records a successful attempt; logs the recovery when a streak of failures ends. */
  succeeded(): void {
    if (this.since === undefined) return;
    this.options.logger.info(`${this.options.what} recovered`, {
      ...this.options.fields,
      failingForMs: this.options.clock.now() - this.since,
      failedAttempts: this.failures,
    });
    this.since = undefined;
    this.failures = 0;
  }
}
