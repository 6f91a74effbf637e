import { IpCommandError } from '../ip-runner';
import type { IpRunner } from '../ip-runner';

/**
 * A canned answer: the stdout to return, or a function computing it (which may throw an
 * {@link IpCommandError} to simulate a failing command).
 */
export type FakeIpAnswer = string | ((args: readonly string[]) => string);

/** Options of {@link FakeIpRunner}. */
export interface FakeIpRunnerOptions {
  /** Answers keyed by `args.join(' ')`, e.g. `'-json addr show'`. */
  readonly answers?: Readonly<Record<string, FakeIpAnswer>>;
  /** Called with every batch; throw to simulate failing lines. */
  readonly onBatch?: (lines: readonly string[]) => void;
}

/**
 * A test double for {@link IpRunner}: answers `run` from a table and records every call, so
 * orchestration code is tested without root or a kernel. Unknown commands fail loudly (as an
 * {@link IpCommandError}, like a real `ip` would) so a test never passes on an unplanned call.
 */
export class FakeIpRunner implements IpRunner {
  /** Every `run` call's arguments, in order. */
  readonly calls: (readonly string[])[] = [];
  /** Every batch, in order. */
  readonly batches: (readonly string[])[] = [];
  /** Every command in the order it was given: `run` arguments space-joined, and batch lines. */
  readonly history: string[] = [];
  private readonly answers = new Map<string, FakeIpAnswer>();
  private readonly onBatch: ((lines: readonly string[]) => void) | undefined;

  constructor(options: FakeIpRunnerOptions = {}) {
    for (const [key, answer] of Object.entries(options.answers ?? {}))
      this.answers.set(key, answer);
    this.onBatch = options.onBatch;
  }

  /** Every line of every batch, flattened in order. */
  get batchLines(): readonly string[] {
    return this.batches.flat();
  }

  /** Adds or replaces the answer for `args` (space-joined). */
  answer(args: string, answer: FakeIpAnswer): this {
    this.answers.set(args, answer);
    return this;
  }

  run(args: readonly string[], signal?: AbortSignal): Promise<{ stdout: string }> {
    this.calls.push([...args]);
    this.history.push(args.join(' '));
    try {
      signal?.throwIfAborted();
      const answer = this.answers.get(args.join(' '));
      if (answer === undefined) {
        throw new IpCommandError({
          binary: 'ip',
          args,
          exitCode: 1,
          stderr: `FakeIpRunner: no answer for "${args.join(' ')}"`,
        });
      }
      return Promise.resolve({ stdout: typeof answer === 'string' ? answer : answer(args) });
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  batch(lines: readonly string[], signal?: AbortSignal): Promise<void> {
    this.batches.push([...lines]);
    this.history.push(...lines);
    try {
      signal?.throwIfAborted();
      this.onBatch?.(lines);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Nothing to end: the fake keeps no child. */
  close(): void {
    this.closed = true;
  }

  /** True once {@link close} was called. */
  closed = false;
}
