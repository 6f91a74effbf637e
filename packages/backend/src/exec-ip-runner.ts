import { IpBinaryNotFoundError, IpCommandError, parseBatchStderr } from './ip-runner';
import type { IpRunner } from './ip-runner';
import { runProcess } from './run-process';
import type { RunProcessOptions } from './run-process';

/** Options of {@link createExecIpRunner}. */
export interface ExecIpRunnerOptions {
  /**
   * Network namespace to run in (`ip -n <netns>`), so integration tests exercise the real code in a
   * throwaway namespace. Both `ip` and `bridge` accept `-n`.
   */
  readonly netns?: string;
  /** Which iproute2 tool to drive; `bridge` is for FDB entries. Default `ip`. */
  readonly binary?: 'ip' | 'bridge';
  /** @internal PATH to search instead of the process's, for tests of a host without iproute2. */
  readonly searchPath?: string;
}

/**
 * An {@link IpRunner} that executes iproute2 as a child process, without a shell: arguments go to
 * the binary as a list, so no value (interface name, address) can ever be interpreted as syntax.
 */
export function createExecIpRunner(options: ExecIpRunnerOptions = {}): IpRunner {
  const binary = options.binary ?? 'ip';
  const prefix = options.netns === undefined ? [] : ['-n', options.netns];
  const env =
    options.searchPath === undefined ? undefined : { ...process.env, PATH: options.searchPath };

  const execute = async (argv: readonly string[], opts: RunProcessOptions) => {
    try {
      return await runProcess(binary, argv, opts);
    } catch (err) {
      // ENOENT from spawn means the binary itself is missing (a missing netns is ip's own error).
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      throw missing ? new IpBinaryNotFoundError(binary, { cause: err }) : err;
    }
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

    async batch(lines, signal) {
      if (lines.length === 0) return;
      const bad = lines.find((l) => /[\r\n]/.test(l));
      // A newline would silently split one command into two; that is a caller bug, not an ip error.
      if (bad !== undefined) throw new TypeError(`batch line contains a newline: ${bad}`);
      // -force: keep going after a failing line so one stale entry cannot block the other 4999.
      const argv = [...prefix, '-force', '-batch', '-'];
      const result = await execute(argv, { env, signal, input: `${lines.join('\n')}\n` });
      if (result.exitCode === 0) return;
      const { failedLines, unattributed } = parseBatchStderr(result.stderr, lines);
      throw new IpCommandError({
        binary,
        args: argv,
        exitCode: result.exitCode,
        stderr: result.stderr,
        failedLines,
        // Argument errors make iproute2 exit on the spot, skipping the remaining lines.
        ...(unattributed === '' ? {} : { batchAbort: unattributed }),
      });
    },
  };
}
