import { FlannelError } from '@flannel-ts/core';

/**
 * The seam through which all kernel networking changes and queries go: one invocation of iproute2's
 * `ip` (or `bridge`) command. Arguments are a list, never a shell string, and `-json` is not added
 * for the caller: commands that change state print nothing, and queries say `-json` themselves.
 */
export interface IpRunner {
  /**
   * Runs one command, e.g. `run(['-json', 'route', 'get', '10.0.0.1'])`.
   * Rejects with {@link IpCommandError} when the command exits non-zero.
   */
  run(args: readonly string[], signal?: AbortSignal): Promise<{ stdout: string }>;
  /**
   * Runs many commands through `ip -force -batch -` (lines on stdin), which is what makes
   * programming thousands of routes or FDB entries cheap (SPEC D13). Every line is attempted even
   * when an earlier one fails; afterwards the call rejects with an {@link IpCommandError} whose
   * `failedLines` names each failing line. Lines must not contain newlines.
   */
  batch(lines: readonly string[], signal?: AbortSignal): Promise<void>;
  /** Ends any long-lived child process the runner keeps. */
  close(): void;
}

/** One line of a batch that iproute2 reported as failed. */
export interface FailedBatchLine {
  /** 1-based position in the batch, as iproute2 counts it. */
  readonly lineNumber: number;
  /** The command text, or undefined when iproute2 named a line we did not send. */
  readonly line: string | undefined;
  /** What iproute2 printed about it (usually `RTNETLINK answers: …`). */
  readonly message: string;
}

/** What an {@link IpCommandError} is built from. */
export interface IpCommandFailure {
  /** `ip` or `bridge`. */
  readonly binary: string;
  /** Every argument passed to the binary, including `-n <netns>` and `-batch -`. */
  readonly args: readonly string[];
  /** Exit status; undefined when the process was killed by a signal. */
  readonly exitCode: number | undefined;
  readonly stderr: string;
  /** For batches: the lines iproute2 reported as failed. */
  readonly failedLines?: readonly FailedBatchLine[];
  /** For batches: what iproute2 printed when it stopped before the last line. */
  readonly batchAbort?: string;
}

/**
 * An `ip`/`bridge` command exited non-zero. The message reads like a shell transcript so it can be
 * logged as is: `ip -json route get 1.2.3.4 failed (exit 2): RTNETLINK answers: Network is unreachable`.
 * Its disposition is `retry`: the kernel's state may change (the next pass tries again); what can
 * never work (no iproute2 at all) is an {@link IpBinaryNotFoundError}. Start-up steps judge it by
 * its answers instead (startup-retry's isTransient).
 */
export class IpCommandError extends FlannelError {
  readonly binary: string;
  readonly args: readonly string[];
  readonly exitCode: number | undefined;
  readonly stderr: string;
  readonly failedLines: readonly FailedBatchLine[];
  /** Set when a batch stopped early; lines after the failing one were not attempted. */
  readonly batchAbort: string | undefined;

  constructor(failure: IpCommandFailure) {
    super('IP_COMMAND_FAILED', describeFailure(failure), { disposition: 'retry' });
    this.binary = failure.binary;
    this.args = failure.args;
    this.exitCode = failure.exitCode;
    this.stderr = failure.stderr;
    this.failedLines = failure.failedLines ?? [];
    this.batchAbort = failure.batchAbort;
  }
}

/**
 * The `ip` (or `bridge`) binary is not installed. Not retryable: the host needs iproute2.
 */
export class IpBinaryNotFoundError extends FlannelError {
  constructor(binary: string, options: { cause?: unknown } = {}) {
    super(
      'IP_BINARY_NOT_FOUND',
      `the \`${binary}\` command (iproute2) was not found on PATH: install iproute2`,
      options,
    );
  }
}

function describeFailure(f: IpCommandFailure): string {
  const command = [f.binary, ...f.args].join(' ');
  const failed = f.failedLines ?? [];
  // A long-lived batch child reports failed lines while it keeps running: no exit status to show.
  const status =
    f.exitCode !== undefined ? `exit ${f.exitCode}` : failed.length > 0 ? 'running' : 'killed';
  if (failed.length > 0 || f.batchAbort !== undefined) {
    const parts = failed.map((l) => `line ${l.lineNumber} "${l.line ?? '?'}": ${l.message}`);
    if (f.batchAbort !== undefined) {
      parts.push(`stopped before the end: ${f.batchAbort.split('\n').join('; ')}`);
    }
    const head = status === 'running' ? `${command} failed` : `${command} failed (${status})`;
    return `${head}: ${parts.join('; ')}`;
  }
  const text = f.stderr.trim().split('\n').join('; ');
  return `${command} failed (${status}): ${text === '' ? 'no error output' : text}`;
}

/**
 * True when iproute2 refused a command because a device it names is not there: deleted, never
 * created, or (for a long-lived batch child) re-created under another index than the one the child
 * cached. The one place that reads this from iproute2's words.
 */
export function saysDeviceMissing(message: string): boolean {
  return /Cannot find device|No such device|does not exist|unknown ifindex/i.test(message);
}

// iproute2 (ip/ipcmd.c batch loop) prints `Command failed <file>:<line>` after each failing line
// when run with -force; everything printed since the previous marker belongs to that line.
const FAILED_MARKER = /^Command failed .*:(\d+)$/;

/**
 * Splits the stderr of `ip -force -batch -` into per-line failures. Text after the last marker
 * (for instance an argument error, on which iproute2 exits at once without a marker) is returned
 * as `unattributed`.
 * @internal exported for the exec runner and its tests.
 */
export function parseBatchStderr(
  stderr: string,
  lines: readonly string[],
): { failedLines: FailedBatchLine[]; unattributed: string } {
  const failedLines: FailedBatchLine[] = [];
  let pending: string[] = [];
  for (const text of stderr.split('\n')) {
    if (text.trim() === '') continue;
    const marker = FAILED_MARKER.exec(text);
    if (!marker) {
      pending.push(text.trim());
      continue;
    }
    const lineNumber = Number(marker[1]);
    failedLines.push({
      lineNumber,
      line: lines[lineNumber - 1],
      message: pending.length > 0 ? pending.join('; ') : 'failed',
    });
    pending = [];
  }
  return { failedLines, unattributed: pending.join('\n') };
}
