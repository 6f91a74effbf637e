import { spawn } from 'node:child_process';

/** How a finished child process ended. */
export interface ProcessResult {
  /** Exit status; undefined when the process was killed by a signal. */
  readonly exitCode: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
  /** The signal that ended the process, when one did. */
  readonly signal?: NodeJS.Signals | undefined;
  /** True when it ran longer than `timeoutMs` and was killed. */
  readonly timedOut?: boolean | undefined;
}

/** Options of {@link runProcess}. */
export interface RunProcessOptions {
  /** Written to stdin, which is then closed; without it stdin is not connected. */
  readonly input?: string | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly env?: NodeJS.ProcessEnv | undefined;
  /** Variables set on top of `env` (or of this process's environment when `env` is not given). */
  readonly extraEnv?: Readonly<Record<string, string>> | undefined;
  /**
   * Ends the process after this long: SIGTERM, then SIGKILL {@link KILL_GRACE_MS} later. The
   * result then says `timedOut`.
   */
  readonly timeoutMs?: number | undefined;
  /**
   * Starts the process in a process group of its own and sends the timeout's and the abort's
   * signals to the whole group: what a shell started dies with it, instead of living on and holding
   * the output pipes open (which would keep this call waiting).
   */
  readonly processGroup?: boolean | undefined;
  /**
   * Sends stderr down the stdout pipe, interleaved in the order written (what Go's
   * `CombinedOutput` captures); `stderr` is then empty.
   */
  readonly mergeStderr?: boolean | undefined;
}

/**
 * `binary args` run through `prefix` (a command that runs another, like `['ip', 'netns', 'exec',
 * ns]`), as the file and argument list for {@link runProcess}; without a prefix, unchanged.
 * @internal
 */
export function prefixed(
  prefix: readonly string[],
  binary: string,
  args: readonly string[],
): [string, string[]] {
  return prefix.length > 0
    ? [prefix[0]!, [...prefix.slice(1), binary, ...args]]
    : [binary, [...args]];
}

/** Between the SIGTERM and the SIGKILL of a timeout or an abort (process groups). */
export const KILL_GRACE_MS = 2000;

// Node cannot hand a child one pipe as both fd 1 and fd 2, so a fixed script does it and then
// execs the real binary. Its text never changes and the binary and arguments arrive as positional
// parameters ("$@"), so nothing of them is read as shell syntax.
const MERGE_STDERR = ['-c', 'exec "$@" 2>&1', 'sh'];

/**
 * Runs a binary with an argument list, never through a shell, so no value (an interface name, an
 * address, a rule comment) can be read as syntax. Resolves with the exit status and output whatever
 * the status; rejects only when the process could not be started (a missing binary: the error's
 * `code` is ENOENT) or `signal` aborted it. The one place the backends start processes.
 * @internal
 */
export function runProcess(
  binary: string,
  args: readonly string[],
  options: RunProcessOptions = {},
): Promise<ProcessResult> {
  const { input, signal, timeoutMs, processGroup = false } = options;
  const env =
    options.extraEnv === undefined
      ? options.env
      : { ...(options.env ?? process.env), ...options.extraEnv };
  const [file, argv] = options.mergeStderr
    ? ['sh', [...MERGE_STDERR, binary, ...args]]
    : [binary, args];
  return new Promise((resolve, reject) => {
    if (processGroup && signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const child = spawn(file, argv, {
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      // A process group handles the abort itself (below), to reach the whole group.
      ...(signal === undefined || processGroup ? {} : { signal }),
      ...(env === undefined ? {} : { env }),
      ...(processGroup ? { detached: true } : {}),
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    const timers: NodeJS.Timeout[] = [];
    let timedOut = false;
    let aborted = false;
    const kill = (sig: NodeJS.Signals): void => {
      try {
        if (processGroup && child.pid !== undefined) process.kill(-child.pid, sig);
        else child.kill(sig);
      } catch {
        // Already gone.
      }
    };
    const stop = (): void => {
      kill('SIGTERM');
      timers.push(
        setTimeout(() => {
          kill('SIGKILL');
          // Whatever escaped the group and still holds a pipe must not keep us waiting.
          timers.push(
            setTimeout(() => {
              child.stdout?.destroy();
              child.stderr?.destroy();
            }, KILL_GRACE_MS),
          );
        }, KILL_GRACE_MS),
      );
    };
    if (timeoutMs !== undefined) {
      timers.push(
        setTimeout(() => {
          timedOut = true;
          stop();
        }, timeoutMs),
      );
    }
    const onAbort = (): void => {
      aborted = true;
      stop();
    };
    if (processGroup) signal?.addEventListener('abort', onAbort, { once: true });
    const done = (): void => {
      for (const t of timers) clearTimeout(t);
      if (processGroup) signal?.removeEventListener('abort', onAbort);
    };
    child.on('error', (err) => {
      done();
      reject(err);
    });
    child.on('close', (code, killedBy) => {
      done();
      if (aborted && signal) {
        reject(abortError(signal));
        return;
      }
      resolve({
        exitCode: code ?? undefined,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        ...(killedBy === null ? {} : { signal: killedBy }),
        ...(timedOut ? { timedOut } : {}),
      });
    });
    if (input !== undefined && child.stdin) {
      // The binary may exit before reading everything (an argument error); the resulting EPIPE is
      // expected and the exit status tells the story.
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    }
  });
}

/** The rejection of an aborted run, shaped as Node's own (`name` AbortError, the signal's reason). */
function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), {
    name: 'AbortError',
    code: 'ABORT_ERR',
  });
}
