import { setMaxListeners } from 'node:events';
import { Backoff, FlannelError, dispositionOf, errorMessage } from '@flannel-ts/core';
import type { Clock, Disposition, Logger } from '@flannel-ts/core';
import type { TaskStatus } from './status/status-model';

/** One long-running part of the agent: runs until `signal` aborts. */
export interface Task {
  /** Names the task in logs, `/status` and `/readyz`: `lease`, `peer watch`, `data plane`… */
  readonly name: string;
  /**
   * Runs the task until `signal` aborts. Returning earlier is a failure (a watch that ended), so
   * the task is restarted; throwing is a failure whose error's disposition decides what happens.
   */
  run(signal: AbortSignal): Promise<void>;
}

/** Options of {@link Supervisor}. */
export interface SupervisorOptions {
  readonly clock: Clock;
  readonly logger: Logger;
  /** First delay before a task is run again (doubling up to `maxDelayMs`); 1 s by default. */
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  /** A task restarted more than this many times within `restartWindowMs` is fatal; 5 by default. */
  readonly maxRestarts?: number;
  /** 10 minutes by default. */
  readonly restartWindowMs?: number;
  /** A run that lasts this long counts as a recovery: back-off and failure streak reset; 30 s. */
  readonly stableAfterMs?: number;
}

/** A task ended although nobody asked it to stop (a watch stream that closed, say). */
export class TaskEndedError extends FlannelError {
  constructor(task: string) {
    super('TASK_ENDED', `${task} ended unexpectedly`, { disposition: 'restart' });
  }
}

/** A task failed in a way that ends the agent; carries the task's name and its error's code. */
export class FatalTaskError extends FlannelError {
  constructor(
    readonly task: string,
    message: string,
    cause: unknown,
  ) {
    super(cause instanceof FlannelError ? cause.code : 'TASK_FAILED', message, { cause });
  }
}

interface Slot {
  readonly task: Task;
  status: TaskStatus['state'];
  restarts: number;
  /** Times of the restarts that the `restart` disposition caused, within the window. */
  readonly restartTimes: number[];
  lastError?: string;
  failingSince?: number;
}

/**
 * Runs every long-running task of the agent and alone decides what a failure means, from the
 * error's disposition (core `Disposition`): `retry` runs the task again with back-off for as long
 * as it takes; `restart` does the same but gives up (fatal) when the task failed more than
 * `maxRestarts` times within `restartWindowMs`; `fatal` stops every task and makes {@link run}
 * reject, so the agent exits and its service manager restarts it. A task that returns before it
 * is stopped has ended unexpectedly, which is a `restart`. Logs transitions only: one line when a
 * task starts failing, one when it has run stably again; the retries in between go to debug.
 */
export class Supervisor {
  private readonly slots: Slot[] = [];
  private readonly running = new Set<Promise<void>>();
  private readonly ctl = new AbortController();
  private fatal: FatalTaskError | undefined;

  constructor(private readonly options: SupervisorOptions) {
    // Every task, and what each starts, listens on this one signal: a dozen listeners is the
    // design, not a leak (Node warns from 11 on).
    setMaxListeners(0, this.ctl.signal);
  }

  /** Tasks and their state, for `/status` and readiness. */
  tasks(): readonly TaskStatus[] {
    return this.slots.map((s) => ({
      name: s.task.name,
      state: s.status,
      restarts: s.restarts,
      ...(s.lastError === undefined ? {} : { lastError: s.lastError }),
    }));
  }

  /** The first task that is not running as it should, with why; undefined when all are fine. */
  trouble(): { readonly task: string; readonly error: string } | undefined {
    const s = this.slots.find((x) => x.status === 'backing-off' || x.status === 'failed');
    return s ? { task: s.task.name, error: s.lastError ?? 'failing' } : undefined;
  }

  /** Aborted when a task failed fatally (or {@link stop} was called): the agent is stopping. */
  get signal(): AbortSignal {
    return this.ctl.signal;
  }

  /** Starts a task now; tasks can be added at any time until the supervisor stops. */
  start(task: Task): void {
    if (this.ctl.signal.aborted) return;
    const slot: Slot = { task, status: 'starting', restarts: 0, restartTimes: [] };
    this.slots.push(slot);
    const p = this.keep(slot).finally(() => this.running.delete(p));
    this.running.add(p);
  }

  /** Stops every task (they see their signal abort) and lets {@link run} resolve. */
  stop(): void {
    this.ctl.abort();
  }

  /**
   * Resolves when `signal` aborts (or {@link stop} is called) and every task has returned;
   * rejects with the {@link FatalTaskError} of the first task that failed fatally, after every
   * other task has stopped.
   */
  async run(signal: AbortSignal): Promise<void> {
    const stop = (): void => this.ctl.abort();
    signal.addEventListener('abort', stop, { once: true });
    if (signal.aborted) stop();
    try {
      await new Promise<void>((resolve) => {
        if (this.ctl.signal.aborted) resolve();
        else this.ctl.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      // No task starts once aborted; wait for those still stopping (they never reject).
      while (this.running.size > 0) await Promise.allSettled([...this.running]);
    } finally {
      signal.removeEventListener('abort', stop);
    }
    if (this.fatal) throw this.fatal;
  }

  private async keep(slot: Slot): Promise<void> {
    const { clock } = this.options;
    const signal = this.ctl.signal;
    const backoff = new Backoff(
      this.options.initialDelayMs ?? 1000,
      this.options.maxDelayMs ?? 30_000,
    );
    const stableAfterMs = this.options.stableAfterMs ?? 30_000;
    while (!signal.aborted) {
      slot.status = 'running';
      const startedAt = clock.now();
      // Once the run has lasted long enough, the task counts as recovered.
      const stable = setStable(clock, stableAfterMs, signal, () => this.recovered(slot, backoff));
      let error: unknown;
      try {
        await slot.task.run(signal);
        error = signal.aborted ? undefined : new TaskEndedError(slot.task.name);
      } catch (err) {
        error = err;
      } finally {
        stable.cancel();
      }
      if (signal.aborted) break;
      if (clock.now() - startedAt >= stableAfterMs) this.recovered(slot, backoff);
      const disposition = this.decide(slot, error);
      if (disposition === 'fatal') {
        slot.status = 'failed';
        this.fatal ??= new FatalTaskError(
          slot.task.name,
          `${slot.task.name}: ${slot.lastError ?? errorMessage(error)}`,
          error,
        );
        this.ctl.abort();
        break;
      }
      slot.status = 'backing-off';
      slot.restarts++;
      await clock.sleep(backoff.next(), signal).catch(() => undefined);
    }
    if (slot.status !== 'failed') slot.status = 'stopped';
  }

  /** Decides what `error` means for the task and logs it (on transitions only). */
  private decide(slot: Slot, error: unknown): Disposition {
    const { clock, logger } = this.options;
    const now = clock.now();
    let disposition = dispositionOf(error);
    const message = errorMessage(error);
    if (disposition === 'restart') {
      const windowMs = this.options.restartWindowMs ?? 600_000;
      const max = this.options.maxRestarts ?? 5;
      slot.restartTimes.push(now);
      while (slot.restartTimes.length > 0 && (slot.restartTimes[0] ?? now) < now - windowMs) {
        slot.restartTimes.shift();
      }
      if (slot.restartTimes.length > max) {
        disposition = 'fatal';
        slot.lastError = `failed ${slot.restartTimes.length} times within ${Math.round(windowMs / 60_000)} minutes; last: ${message}`;
        logger.error('task keeps failing; stopping the agent so its service manager restarts it', {
          task: slot.task.name,
          failures: slot.restartTimes.length,
          error: message,
        });
        return disposition;
      }
    }
    slot.lastError = message;
    const fields = {
      task: slot.task.name,
      error: message,
      ...(error instanceof FlannelError ? { code: error.code } : {}),
    };
    if (disposition === 'fatal') {
      logger.error('task failed; stopping the agent', fields);
    } else if (slot.failingSince === undefined) {
      slot.failingSince = now;
      logger.warn(
        disposition === 'retry' ? 'task failing; retrying' : 'task failed; restarting it',
        { ...fields, disposition },
      );
    } else {
      logger.debug('task still failing', { ...fields, restarts: slot.restarts });
    }
    return disposition;
  }

  private recovered(slot: Slot, backoff: Backoff): void {
    backoff.reset();
    if (slot.failingSince === undefined) return;
    this.options.logger.info('task recovered', {
      task: slot.task.name,
      failingForMs: this.options.clock.now() - slot.failingSince,
      restarts: slot.restarts,
    });
    slot.failingSince = undefined;
    slot.lastError = undefined;
  }
}

/** Calls `fn` once `ms` from now unless cancelled first (or the signal aborts). */
function setStable(
  clock: Clock,
  ms: number,
  signal: AbortSignal,
  fn: () => void,
): { cancel(): void } {
  const ctl = new AbortController();
  const stop = (): void => ctl.abort();
  signal.addEventListener('abort', stop, { once: true });
  clock.sleep(ms, ctl.signal).then(
    () => {
      if (!ctl.signal.aborted) fn();
    },
    () => undefined,
  );
  return {
    cancel: () => {
      signal.removeEventListener('abort', stop);
      ctl.abort();
    },
  };
}
