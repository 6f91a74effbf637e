import type { Logger } from '@flannel-ts/core';
import {
  IpBinaryNotFoundError,
  IpCommandError,
  parseBatchStderr,
  saysDeviceMissing,
} from '../ip-runner';
import type { IpRunner } from '../ip-runner';
import { runProcess } from '../run-process';
import type { RunProcessOptions } from '../run-process';
import { BatchChild } from './batch-child';
import { createSpawnChild } from './child-process';
import type { SpawnChild } from './child-process';

/** Batches longer than this go to a one-shot process instead of the long-lived child. */
export const BULK_BATCH_LINES = 1000;

/** Options of {@link createIproute2Runner}. */
export interface Iproute2RunnerOptions {
  /**
   * Network namespace to run in (`ip -n <netns>`), so integration tests exercise the real code in a
   * throwaway namespace. Both `ip` and `bridge` accept `-n`.
   */
  readonly netns?: string;
  /** Which iproute2 tool to drive; `bridge` is for FDB entries. Default `ip`. */
  readonly binary?: 'ip' | 'bridge';
  readonly logger?: Logger;
  /** @internal PATH to search instead of the process's, for tests of a host without iproute2. */
  readonly searchPath?: string;
  /** @internal Replaces process spawning of the long-lived child (unit tests). */
  readonly spawn?: SpawnChild;
  /** @internal Lines after which the long-lived child is replaced. */
  readonly recycleAfterLines?: number;
}

/**
 * An {@link IpRunner} over iproute2, never through a shell. Queries (`run`) are one-shot processes.
 * Changes (`batch`) go through one long-lived `-force -batch -` child, so a lease event costs a
 * pipe write, not a process start; a bulk batch (thousands of entries, e.g. start-up with 5000
 * peers) runs in a one-shot process of its own, where iproute2's per-line memory dies with it.
 * Batches through the child run in the order they were submitted; a bulk batch runs at once,
 * beside anything else, so a caller that needs one batch to follow another awaits it (the
 * kernel table does: one pass at a time).
 */
export function createIproute2Runner(options: Iproute2RunnerOptions = {}): IpRunner {
  const binary = options.binary ?? 'ip';
  const prefix = options.netns === undefined ? [] : ['-n', options.netns];
  const env =
    options.searchPath === undefined ? undefined : { ...process.env, PATH: options.searchPath };
  const child = new BatchChild({
    binary,
    prefix,
    spawn: options.spawn ?? createSpawnChild(env),
    ...(options.recycleAfterLines === undefined
      ? {}
      : { recycleAfterLines: options.recycleAfterLines }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  const batchArgs = [...prefix, '-force', '-batch', '-'];

  const execute = async (argv: readonly string[], opts: RunProcessOptions) => {
    try {
      return await runProcess(binary, argv, opts);
    } catch (err) {
      // ENOENT from spawn means the binary itself is missing (a missing netns is ip's own error).
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      throw missing ? new IpBinaryNotFoundError(binary, { cause: err }) : err;
    }
  };

  /** One-shot `-force -batch -`: every line attempted; argument errors end the process early. */
  const oneShot = async (lines: readonly string[], signal?: AbortSignal): Promise<void> => {
    const result = await execute(batchArgs, { env, signal, input: `${lines.join('\n')}\n` });
    if (result.exitCode === 0) return;
    const { failedLines, unattributed } = parseBatchStderr(result.stderr, lines);
    throw new IpCommandError({
      binary,
      args: batchArgs,
      exitCode: result.exitCode,
      stderr: result.stderr,
      failedLines,
      // Argument errors make iproute2 exit on the spot, skipping the remaining lines.
      ...(unattributed === '' ? {} : { batchAbort: unattributed }),
    });
  };

  const runBatch = async (lines: readonly string[], signal?: AbortSignal): Promise<void> => {
    signal?.throwIfAborted();
    if (lines.length > BULK_BATCH_LINES) return oneShot(lines, signal);
    let failedLines = await child.submit(lines);
    const stale = failedLines.filter((f) => saysDeviceMissing(f.message));
    if (stale.length > 0) {
      // The device may have been re-created under the child's cached index: once more, fresh.
      child.recycle();
      const again = await child.submit(stale.map((f) => f.line ?? ''));
      const kept = failedLines.filter((f) => !stale.includes(f));
      const retried = again.map((f) => ({ ...f, lineNumber: stale[f.lineNumber - 1]!.lineNumber }));
      failedLines = [...kept, ...retried].sort((a, b) => a.lineNumber - b.lineNumber);
    }
    if (failedLines.length === 0) return;
    throw new IpCommandError({
      binary,
      args: batchArgs,
      exitCode: undefined,
      stderr: failedLines.map((f) => f.message).join('\n'),
      failedLines,
    });
  };

  return {
    async run(args, signal) {
      const argv = [...prefix, ...args];
      const result = await execute(argv, { env, signal });
      if (result.exitCode !== 0) {
        throw new IpCommandError({ binary, args: argv, ...result });
      }
      return { stdout: result.stdout };
    },

    batch(lines, signal) {
      if (lines.length === 0) return Promise.resolve();
      const bad = lines.find((l) => /[\r\n]/.test(l));
      // A newline would silently split one command into two; that is a caller bug, not an ip error.
      if (bad !== undefined)
        return Promise.reject(new TypeError(`batch line contains a newline: ${bad}`));
      return runBatch(lines, signal);
    },

    close() {
      child.close();
    },
  };
}
