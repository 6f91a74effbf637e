import type { CommandName } from './extension-options';

/** One run of a configured command. */
export interface CommandRun {
  readonly name: CommandName;
  /** The command as configured, for `sh -c`. */
  readonly script: string;
  /** Variables set for it, on top of the agent's own environment (as upstream appends them). */
  readonly env: Readonly<Record<string, string>>;
  /** Written to its stdin, which is then closed (upstream always writes at least a newline). */
  readonly stdin: string;
  /**
   * stdout and stderr in one stream, in the order written: what upstream captures, and for
   * PreStartupCommand stores in the lease.
   */
  readonly combineOutput?: boolean;
}

/** How a command ended. */
export interface CommandResult {
  /** Undefined when a signal ended it. */
  readonly exitCode: number | undefined;
  readonly signal?: string | undefined;
  /** It ran past the timeout (`timeoutMs`) and was killed, with everything it started. */
  readonly timedOut: boolean;
  readonly timeoutMs?: number | undefined;
  readonly stdout: string;
  /** Empty when `combineOutput` was asked for. */
  readonly stderr: string;
}

/** Runs the extension backend's commands: the seam tests replace. */
export interface CommandRunner {
  run(command: CommandRun, signal?: AbortSignal): Promise<CommandResult>;
}

/** Longest piece of a command's output quoted in a message or a log line. */
const QUOTE_CHARS = 500;

/** `text` trimmed and cut to {@link QUOTE_CHARS}, for messages. */
export function quoteOutput(text: string): string {
  const t = text.trim();
  return t.length > QUOTE_CHARS ? `${t.slice(0, QUOTE_CHARS)}…` : t;
}

/**
 * Why a command failed, in one line (exit status and trimmed stderr; stdout when stderr says
 * nothing), or undefined when it succeeded (exit status 0).
 */
export function failureOf(r: CommandResult): string | undefined {
  if (r.exitCode === 0 && !r.timedOut) return undefined;
  if (r.timedOut) {
    const after = r.timeoutMs === undefined ? '' : ` after ${r.timeoutMs / 1000} s`;
    return `timed out${after} and was killed, with every process it started`;
  }
  if (r.exitCode === undefined) return `killed by ${r.signal ?? 'a signal'}`;
  const stderr = quoteOutput(r.stderr);
  if (stderr !== '') return `exit status ${r.exitCode}: ${stderr}`;
  const stdout = quoteOutput(r.stdout);
  return stdout === ''
    ? `exit status ${r.exitCode} (no output)`
    : `exit status ${r.exitCode} (stdout: ${stdout})`;
}
