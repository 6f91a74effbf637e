import { runProcess } from '../run-process';

/** Where a traffic-rule command runs; both fields exist for tests. */
export interface CommandPlace {
  /** Network namespace to run in (`ip netns exec <netns> …`), for tests in a throwaway namespace. */
  readonly netns?: string | undefined;
  /** @internal PATH to search instead of the process's, for tests of a host without the binary. */
  readonly searchPath?: string | undefined;
}

/** How a command ended: it ran (whatever its status), or its binary does not exist. */
export type CommandOutcome =
  | {
      readonly kind: 'exited';
      /** The full command line as run, for error messages. */
      readonly command: readonly string[];
      /** Undefined when the process was killed by a signal. */
      readonly exitCode: number | undefined;
      readonly stdout: string;
      readonly stderr: string;
    }
  | { readonly kind: 'missing'; readonly command: readonly string[]; readonly binary: string };

/**
 * Runs `argv` (an argument list, never a shell string) for the iptables and nftables runners,
 * inside `place.netns` when given. A missing binary is an outcome, not an exception, because the
 * callers treat it differently: fatal for the flavour in use, "nothing to clean up" for the other.
 * @internal
 */
export async function runTrafficCommand(
  argv: readonly string[],
  place: CommandPlace,
  options: { readonly signal?: AbortSignal | undefined; readonly input?: string | undefined } = {},
): Promise<CommandOutcome> {
  const prefix = place.netns === undefined ? [] : ['ip', 'netns', 'exec', place.netns];
  const command = [...prefix, ...argv];
  const env =
    place.searchPath === undefined ? undefined : { ...process.env, PATH: place.searchPath };
  const [binary = '', ...args] = command;
  let result;
  try {
    result = await runProcess(binary, args, { env, signal: options.signal, input: options.input });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return { kind: 'missing', command, binary };
  }
  // Inside a namespace, `ip netns exec` reports a missing binary itself (and exits 255).
  const missing = /exec of "([^"]+)" failed: No such file or directory/.exec(result.stderr);
  if (result.exitCode !== 0 && missing?.[1] !== undefined) {
    return { kind: 'missing', command, binary: missing[1] };
  }
  return { kind: 'exited', command, ...result };
}
