import { FlannelError } from '@flannel-ts/core';
import type { Disposition } from '@flannel-ts/core';
import { runTrafficCommand } from '../traffic-command';
import type { CommandOutcome, CommandPlace } from '../traffic-command';
import type { NftTableId } from './nft-rules';

/**
 * The seam through which every nftables read and write goes. Only this file runs `nft` (through
 * runProcess: an argument list and stdin, never a shell).
 */
export interface NftRunner {
  /** Applies a script with `nft -f -`: one transaction, all of it or nothing. */
  apply(script: string, signal?: AbortSignal): Promise<void>;
  /**
   * Dry-runs a script (`nft --check -f -`): true when the kernel would accept it. Rejects only
   * when nft cannot be run at all (NftError, e.g. not installed).
   */
  check(script: string, signal?: AbortSignal): Promise<boolean>;
  /** What `nft list table <family> <name>` prints; undefined when there is no such table. */
  listTable(table: NftTableId, signal?: AbortSignal): Promise<string | undefined>;
  /** The tables that exist (`nft list tables`), any owner. */
  listTables(signal?: AbortSignal): Promise<NftTableId[]>;
}

/** Options of {@link createNftRunner}: where to run (a test's namespace, a test's PATH). */
export type NftRunnerOptions = CommandPlace;

/** What an operator reads when `nft` is missing in nftables mode. */
export const NFT_MISSING_MESSAGE =
  "nft not found: install Debian's nftables package, or set EnableNFTables to false";

// Answers that say "busy, try again", not "this cannot work".
const TRANSIENT =
  /Interrupted system call|Resource temporarily unavailable|Device or resource busy/i;

/**
 * An nft command failed, or nft is missing (`missingBinary` set; fatal, with
 * {@link NFT_MISSING_MESSAGE}). Otherwise the message reads like a shell transcript with nft's own
 * diagnosis, which quotes the offending script line: `nft -f - failed (exit 1): /dev/stdin:4:1-30:
 * Error: Could not process rule: No such file or directory …`.
 */
export class NftError extends FlannelError {
  readonly command: readonly string[];
  readonly exitCode: number | undefined;
  readonly stderr: string;
  readonly missingBinary: string | undefined;

  constructor(outcome: CommandOutcome) {
    const command = outcome.command.join(' ');
    const exited = outcome.kind === 'exited' ? outcome : undefined;
    const stderr = exited?.stderr.trim() ?? '';
    let message: string;
    let disposition: Disposition;
    if (outcome.kind === 'missing') {
      message =
        outcome.binary === 'ip'
          ? `${command} failed: the \`ip\` command was not found: install the iproute2 package`
          : `${command} failed: ${NFT_MISSING_MESSAGE}`;
      disposition = 'fatal';
    } else {
      const hint = /Operation not permitted/.test(stderr) ? ' (run flanneld as root)' : '';
      message = `${command} failed (exit ${outcome.exitCode ?? 'by signal'}): ${stderr}${hint}`;
      // Not root stays not root; "busy" passes; anything else (a kernel without the nat module, a
      // script nft refuses) is for the supervisor to restart a few times, then give up on.
      disposition = hint ? 'fatal' : TRANSIENT.test(stderr) ? 'retry' : 'restart';
    }
    super('NFTABLES_FAILED', message, { disposition });
    this.command = outcome.command;
    this.exitCode = exited?.exitCode;
    this.stderr = exited?.stderr ?? '';
    this.missingBinary = outcome.kind === 'missing' ? outcome.binary : undefined;
  }
}

/** Builds the {@link NftRunner} that executes the real `nft` binary. */
export function createNftRunner(options: NftRunnerOptions = {}): NftRunner {
  const run = async (args: readonly string[], signal?: AbortSignal, input?: string) => {
    const outcome = await runTrafficCommand(['nft', ...args], options, { signal, input });
    if (outcome.kind === 'missing') throw new NftError(outcome);
    return outcome;
  };
  const succeed = async (args: readonly string[], signal?: AbortSignal, input?: string) => {
    const outcome = await run(args, signal, input);
    if (outcome.exitCode !== 0) throw new NftError(outcome);
    return outcome.stdout;
  };

  return {
    apply: async (script, signal) => {
      await succeed(['-f', '-'], signal, script);
    },
    check: async (script, signal) =>
      (await run(['--check', '-f', '-'], signal, script)).exitCode === 0,
    async listTable(table, signal) {
      const outcome = await run(['list', 'table', table.family, table.name], signal);
      if (outcome.exitCode === 0) return outcome.stdout;
      // nft's answer for a table that does not exist (sometimes with a "did you mean" after it).
      if (/Error: No such file or directory/.test(outcome.stderr)) return undefined;
      throw new NftError(outcome);
    },
    listTables: async (signal) => parseTables(await succeed(['list', 'tables'], signal)),
  };
}

/**
 * The tables in `nft list tables` output (`table ip flannel-ipv4` per line).
 * @internal
 */
export function parseTables(text: string): NftTableId[] {
  const tables: NftTableId[] = [];
  for (const m of text.matchAll(/^table (ip|ip6|inet|arp|bridge|netdev) (\S+)$/gm)) {
    const [, family, name] = m;
    if ((family === 'ip' || family === 'ip6') && name !== undefined) tables.push({ family, name });
  }
  return tables;
}
