import { FlannelError } from '@flannel-ts/core';
import { runProcess } from '../run-process';
import type { CommandRunner } from './command-runner';

/** How long a command may run before it is killed: upstream waits for ever. */
export const COMMAND_TIMEOUT_MS = 60_000;

/** Options of {@link createShellCommandRunner}. */
export interface ShellCommandRunnerOptions {
  /** Default {@link COMMAND_TIMEOUT_MS}. */
  readonly timeoutMs?: number | undefined;
  /** @internal Runs the commands inside this network namespace (`ip netns exec`), for tests. */
  readonly netns?: string | undefined;
}

/**
 * Runs each command with `sh -c <command>`, as upstream v0.20.2 and upstream's documentation do,
 * so the documented examples (`$(…)`, `&&`, `read`) work. (Upstream HEAD, since v0.28.2, splits
 * the command on whitespace and runs it without a shell, expanding `$VAR` itself; commands
 * written for that also run under `sh -c`.) The command text comes from the network config, which
 * only etcd's writers control: it is meant to be shell syntax, unlike every other value the
 * backends pass to a process. Each command gets a process group of its own, so a timeout kills
 * what it started too.
 */
export function createShellCommandRunner(options: ShellCommandRunnerOptions = {}): CommandRunner {
  const timeoutMs = options.timeoutMs ?? COMMAND_TIMEOUT_MS;
  const prefix = options.netns === undefined ? [] : ['ip', 'netns', 'exec', options.netns];
  return {
    async run(command, signal) {
      const [binary = 'sh', ...args] = [...prefix, 'sh', '-c', command.script];
      try {
        const r = await runProcess(binary, args, {
          input: command.stdin,
          extraEnv: command.env,
          signal,
          timeoutMs,
          processGroup: true,
          mergeStderr: command.combineOutput ?? false,
        });
        return {
          exitCode: r.exitCode,
          signal: r.signal,
          timedOut: r.timedOut ?? false,
          timeoutMs,
          stdout: r.stdout,
          stderr: r.stderr,
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        throw new FlannelError(
          'SHELL_MISSING',
          `cannot run the extension backend's ${command.name}: ${binary} was not found in PATH; install it (Debian: dash provides sh)`,
          { cause: err },
        );
      }
    },
  };
}
