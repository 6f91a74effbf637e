import { spawn } from 'node:child_process';
import { IpBinaryNotFoundError, IpCommandError, parseBatchStderr } from './ip-runner';
import type { IpRunner } from './ip-runner';

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

interface ProcessResult {
  readonly exitCode: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
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

  return {
    async run(args, signal) {
      const argv = [...prefix, ...args];
      const result = await execute(binary, argv, { env, signal });
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
      const result = await execute(binary, argv, { env, signal, input: `${lines.join('\n')}\n` });
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

interface ExecuteOptions {
  readonly input?: string;
  readonly signal: AbortSignal | undefined;
  readonly env: NodeJS.ProcessEnv | undefined;
}

function execute(
  binary: string,
  argv: readonly string[],
  { input, signal, env }: ExecuteOptions,
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, argv, {
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(signal === undefined ? {} : { signal }),
      ...(env === undefined ? {} : { env }),
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (err: NodeJS.ErrnoException) => {
      // ENOENT from spawn means the binary itself is missing (a missing netns is ip's own error).
      reject(err.code === 'ENOENT' ? new IpBinaryNotFoundError(binary, { cause: err }) : err);
    });
    child.on('close', (code) => {
      resolve({
        exitCode: code ?? undefined,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    });
    if (input !== undefined && child.stdin) {
      // ip may exit before reading everything (argument errors); the resulting EPIPE is expected
      // and the exit status tells the story.
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    }
  });
}
