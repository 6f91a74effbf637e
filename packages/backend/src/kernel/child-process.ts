import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * What the kernel layer needs of a long-lived child process: text in on stdin, text out on stdout
 * and stderr as it arrives, and one notice when it has gone. A seam so the batch and monitor
 * protocols are unit-tested against a scripted fake child.
 */
export interface ChildHandle {
  /** Writes to stdin; ignored once the child has gone. */
  write(text: string): void;
  /** Closes stdin: iproute2 finishes what it read and exits. */
  end(): void;
  kill(): void;
  readonly pid: number | undefined;
}

/** Where a child's output and end go. */
export interface ChildListeners {
  stdout(text: string): void;
  stderr(text: string): void;
  /**
   * Called once: `code` is the exit status (undefined when killed by a signal); `error` is set when
   * the process could not be started at all (ENOENT: the binary is missing).
   */
  exit(code: number | undefined, error?: NodeJS.ErrnoException): void;
}

/** Starts `binary args` with piped stdio and hands its output to `listeners`. */
export type SpawnChild = (
  binary: string,
  args: readonly string[],
  listeners: ChildListeners,
) => ChildHandle;

/** The first executable `name` on PATH, or undefined. */
function onPath(name: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * How to start `binary args` so that it dies with us: through util-linux's `setpriv --pdeathsig`,
 * when both exist. A batch child ends by itself when our end of its stdin closes, but `ip monitor`
 * reads no stdin: an agent killed with SIGKILL would leave it running for ever (and, in a network
 * namespace, keep that namespace alive). A missing binary is spawned directly, so its ENOENT still
 * names it.
 */
function command(
  binary: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv | undefined,
): [string, readonly string[]] {
  const path = (env ?? process.env).PATH;
  const setpriv = onPath('setpriv', path);
  if (setpriv === undefined || onPath(binary, path) === undefined) return [binary, args];
  return [setpriv, ['--pdeathsig', 'SIGKILL', '--', binary, ...args]];
}

/**
 * The real {@link SpawnChild}: an argument list, never a shell. A live child keeps Node running
 * (a pending batch must be awaited), so its owner ends it with `end()` or `kill()`; if we die
 * first, the kernel kills it (see {@link command}).
 */
export function createSpawnChild(env?: NodeJS.ProcessEnv): SpawnChild {
  return (binary, args, listeners) => {
    const [file, argv] = command(binary, args, env);
    const child = spawn(file, argv, {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(env === undefined ? {} : { env }),
    });
    let ended = false;
    const finish = (code: number | undefined, error?: NodeJS.ErrnoException): void => {
      if (ended) return;
      ended = true;
      listeners.exit(code, error);
    };
    child.stdout.setEncoding('utf8').on('data', (t: string) => listeners.stdout(t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => listeners.stderr(t));
    // EPIPE when the child exits before reading everything: its exit tells the story.
    child.stdin.on('error', () => undefined);
    child.on('error', (err: NodeJS.ErrnoException) => finish(undefined, err));
    child.on('close', (code) => finish(code ?? undefined));
    return {
      pid: child.pid,
      write: (text) => {
        if (!ended && child.stdin.writable) child.stdin.write(text);
      },
      end: () => child.stdin.end(),
      kill: () => {
        if (!ended) child.kill('SIGKILL');
      },
    };
  };
}
