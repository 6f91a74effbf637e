import { Backoff } from '@flannel-ts/core';
import type { Clock, Logger } from '@flannel-ts/core';
import { renderRestore, tablesOf } from './iptables-rules';
import type { IptablesRule } from './iptables-rules';
import { IptablesError } from './iptables-runner';
import type { IptablesRunner } from './iptables-runner';

/**
 * How many times one transaction is recomputed after a conflict. Each round needs another agent
 * to change the same rules between our read and our write; with 40 agents starting at once a few
 * rounds suffice (every conflict means someone else's transaction went through).
 */
export const MAX_CONFLICT_ROUNDS = 8;

/** What {@link applyRules} needs. */
export interface ApplyRulesOptions {
  readonly runner: IptablesRunner;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly signal?: AbortSignal | undefined;
  /** The tables as a caller read them a moment ago (a resync has): the first round reuses it. */
  readonly present?: string | undefined;
}

/**
 * Reads the tables involved, then installs `desired` (and deletes `stale`) in one
 * `iptables-restore --noflush` transaction computed from what was read (see renderRestore).
 *
 * The transaction deletes each copy of a jump it saw, so it states what it expects to find: when
 * another actor (an agent starting at the same moment) removed one of those copies in between,
 * iptables-restore rejects the whole transaction and nothing changes. That is a conflict, not a
 * failure: the tables are read again and the transaction recomputed, with a short randomised
 * back-off, up to {@link MAX_CONFLICT_ROUNDS} times. Any other failure rejects at once.
 */
export async function applyRules(
  desired: readonly IptablesRule[],
  stale: readonly IptablesRule[],
  { runner, clock, logger, signal, present: alreadyRead }: ApplyRulesOptions,
): Promise<void> {
  const backoff = new Backoff(20, 500);
  let known = alreadyRead;
  for (let round = 1; ; round++) {
    const present = known ?? (await readTables([...desired, ...stale], runner, signal));
    known = undefined;
    const payload = renderRestore(desired, present, { remove: stale });
    try {
      await runner.restore(payload, signal);
      return;
    } catch (err) {
      if (!isConflict(err, payload) || round >= MAX_CONFLICT_ROUNDS) throw err;
      logger.debug('iptables rules changed under us (another agent?); re-reading and retrying', {
        round,
        error: err.message,
      });
      // Jitter: agents that collided once should not collide again in step.
      await clock.sleep(backoff.next() * (0.5 + Math.random()), signal);
    }
  }
}

/** The text of `iptables-save -t <table>` for every table `rules` touch, concatenated. */
export async function readTables(
  rules: readonly IptablesRule[],
  runner: IptablesRunner,
  signal?: AbortSignal,
): Promise<string> {
  const listings = await Promise.all(tablesOf(rules).map((t) => runner.save(t, signal)));
  return listings.join('\n');
}

/**
 * True when iptables-restore rejected a `-D` line of `payload`: the rule it was to delete was gone
 * (`line 3 failed: Bad rule (does a matching rule exist in that chain?)`).
 * @internal
 */
export function isConflict(err: unknown, payload: string): err is IptablesError {
  if (!(err instanceof IptablesError) || err.exitCode === undefined) return false;
  const lineNumber = /line (\d+)/.exec(err.stderr)?.[1];
  const line = lineNumber === undefined ? undefined : payload.split('\n')[Number(lineNumber) - 1];
  return line?.startsWith('-D ') ?? false;
}
