import { spawn } from 'node:child_process';

/** How a finished child process ended. */
export interface ProcessResult {
  /** Exit status; undefined when the process was killed by a signal. */
  readonly exitCode: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@link runProcess}. */
export interface RunProcessOptions {
  /** Written to stdin, which is then closed; without it stdin is not connected. */
  readonly input?: string | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly env?: NodeJS.ProcessEnv | undefined;
}

/**
 * Runs a binary with an argument list, never through a shell, so no value (an interface name, an
 * address, a rule comment) can be read as syntax. Resolves with the exit status and output whatever
 * the status; rejects only when the process could not be started (a missing binary: the error's
 * `code` is ENOENT). The one place the backends start processes.
 * @internal
 */
export function runProcess(
  binary: string,
  args: readonly string[],
  { input, signal, env }: RunProcessOptions = {},
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, {
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(signal === undefined ? {} : { signal }),
      ...(env === undefined ? {} : { env }),
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({
        exitCode: code ?? undefined,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
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
