import { Backoff } from '@flannel-ts/core';
import type { Clock } from '@flannel-ts/core';
import { MAX_CONFLICT_ROUNDS } from './iptables-apply';
import { FLANNEL_TABLES, findOurs, oursAsLines, renderRemoval } from './iptables-ours';
import { IptablesError } from './iptables-runner';
import type { IptablesRunner } from './iptables-runner';

/**
 * Removes flannel's iptables chains (FLANNEL-POSTRTG, FLANNEL-FWD) and every jump to them from
 * nat and filter, in one iptables-restore transaction: what nftables mode does with an earlier
 * iptables-mode run's rules. Upstream looks for FLANNEL-FWD in the nat table and cannot delete a
 * chain that a jump still references, so its cleanup leaves rules behind; this one does not.
 *
 * Resolves with the lines removed (see oursAsLines), empty when there was nothing, or when
 * iptables is not installed (then there can be nothing of ours). A transaction refused because
 * another writer changed the same rules meanwhile is recomputed, as applyRules does.
 */
export async function removeFlannelIptables(
  runner: IptablesRunner,
  { clock, signal }: { readonly clock: Clock; readonly signal?: AbortSignal | undefined },
): Promise<string[]> {
  const backoff = new Backoff(20, 500);
  for (let round = 1; ; round++) {
    let ours;
    try {
      const listings = await Promise.all(FLANNEL_TABLES.map((t) => runner.save(t, signal)));
      ours = findOurs(listings.join('\n'));
    } catch (err) {
      if (err instanceof IptablesError && err.missingBinary !== undefined) return [];
      throw err;
    }
    const payload = renderRemoval(ours);
    if (payload === '') return [];
    try {
      await runner.restore(payload, signal);
      return oursAsLines(ours);
    } catch (err) {
      const refused = err instanceof IptablesError && err.exitCode !== undefined;
      if (!refused || round >= MAX_CONFLICT_ROUNDS) throw err;
      await clock.sleep(backoff.next() * (0.5 + Math.random()), signal);
    }
  }
}
