import { FlannelError } from '@flannel-ts/core';
import { runTrafficCommand } from '../traffic-command';
import type { CommandPlace } from '../traffic-command';
import type { IptablesTable } from './iptables-rules';

/**
 * The seam through which every iptables read and write goes. Only this file starts iptables
 * binaries (through runProcess: an argument list, never a shell).
 */
export interface IptablesRunner {
  /** What `iptables-save -t <table>` prints: `*table`, chain declarations, `-A` lines, `COMMIT`. */
  save(table: IptablesTable, signal?: AbortSignal): Promise<string>;
  /** Applies a payload with `iptables-restore --noflush` (plus `--wait` where supported), atomically. */
  restore(payload: string, signal?: AbortSignal): Promise<void>;
  /** True when the iptables binary knows `MASQUERADE --random-fully` (version ≥ 1.6.2). */
  supportsRandomFully(signal?: AbortSignal): Promise<boolean>;
}

/**
 * Options of {@link createIptablesRunner}: where to run (a test's namespace, a test's PATH), and
 * the family: 6 runs `ip6tables`, `ip6tables-save` and `ip6tables-restore` (Debian's iptables
 * package ships them).
 */
export interface IptablesRunnerOptions extends CommandPlace {
  readonly family?: 4 | 6 | undefined;
}

/**
 * An iptables command failed, or its binary is missing (then `exitCode` is undefined and the
 * message says which package to install). The message reads like a shell transcript, plus the
 * payload line iptables-restore complained about: `iptables-restore --noflush --wait failed
 * (exit 1): iptables-restore: line 2 failed: … [line 2: -A NO-SUCH-CHAIN -j RETURN]`.
 */
export class IptablesError extends FlannelError {
  readonly command: readonly string[];
  readonly exitCode: number | undefined;
  readonly stderr: string;
  /** The binary that was not found (`iptables-save`, or `ip` for `ip netns exec`), if that was it. */
  readonly missingBinary: string | undefined;

  constructor(
    failure: { command: readonly string[]; exitCode: number | undefined; stderr: string },
    options: { missingBinary?: string; detail?: string; cause?: unknown } = {},
  ) {
    const command = failure.command.join(' ');
    const message =
      options.missingBinary === undefined
        ? `${command} failed (exit ${failure.exitCode ?? 'by signal'}): ${failure.stderr.trim()}` +
          (options.detail ?? '')
        : `${command} failed: the \`${options.missingBinary}\` command was not found: ` +
          // `ip` (for `ip netns exec`) comes from iproute2, everything else from iptables.
          `install the ${options.missingBinary === 'ip' ? 'iproute2' : 'iptables'} package`;
    // A missing binary stays missing; anything else (a racing writer, a lock) may pass next resync.
    super('IPTABLES_FAILED', message, {
      cause: options.cause,
      retryable: options.missingBinary === undefined,
    });
    this.command = failure.command;
    this.exitCode = failure.exitCode;
    this.stderr = failure.stderr;
    this.missingBinary = options.missingBinary;
  }
}

/** Builds the {@link IptablesRunner} that executes the real iptables binaries. */
export function createIptablesRunner(options: IptablesRunnerOptions = {}): IptablesRunner {
  const place: CommandPlace = { netns: options.netns, searchPath: options.searchPath };
  const run = (command: string[], signal?: AbortSignal, input?: string) =>
    execute(command, place, signal, input);
  const bin = options.family === 6 ? 'ip6tables' : 'iptables';
  // The version cannot change while we run; ask once, but retry after a failure.
  let version: Promise<string> | undefined;
  const modern = async (signal?: AbortSignal) => {
    version ??= run([bin, '--version'], signal).catch((err: unknown) => {
      version = undefined;
      throw err;
    });
    return atLeast(parseIptablesVersion(await version), [1, 6, 2]);
  };

  return {
    save: (table, signal) => run([`${bin}-save`, '-t', table], signal),
    async restore(payload, signal) {
      // --wait (wait for the xtables lock instead of failing) exists from 1.6.2, as upstream checks.
      const wait = (await modern(signal)) ? ['--wait'] : [];
      await run([`${bin}-restore`, '--noflush', ...wait], signal, payload);
    },
    supportsRandomFully: (signal) => modern(signal),
  };
}

/**
 * `[1, 8, 9]` from `iptables v1.8.9 (nf_tables)`; undefined when no version is printed.
 * @internal
 */
export function parseIptablesVersion(text: string): [number, number, number] | undefined {
  const m = /v(\d+)\.(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function atLeast(version: readonly number[] | undefined, wanted: readonly number[]): boolean {
  if (version === undefined) return false;
  for (const [i, want] of wanted.entries()) {
    const have = version[i] ?? 0;
    if (have !== want) return have > want;
  }
  return true;
}

/** Runs one iptables command; resolves with stdout on exit 0, rejects with IptablesError otherwise. */
async function execute(
  argv: readonly string[],
  place: CommandPlace,
  signal: AbortSignal | undefined,
  input: string | undefined,
): Promise<string> {
  const outcome = await runTrafficCommand(argv, place, { signal, input });
  if (outcome.kind === 'missing') {
    const failure = { command: outcome.command, exitCode: undefined, stderr: '' };
    throw new IptablesError(failure, { missingBinary: outcome.binary });
  }
  if (outcome.exitCode === 0) return outcome.stdout;
  // iptables-restore names only the line number; quote the line so the log alone explains it.
  const lineNumber = /line (\d+)/.exec(outcome.stderr)?.[1];
  const line = lineNumber && input?.split('\n')[Number(lineNumber) - 1];
  const detail = line ? ` [line ${lineNumber}: ${line}]` : '';
  throw new IptablesError(outcome, { detail });
}
