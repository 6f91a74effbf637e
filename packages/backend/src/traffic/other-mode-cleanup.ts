import { dispositionOf, errorMessage } from '@flannel-ts/core';
import type { Logger } from '@flannel-ts/core';
import type { TrafficMode } from './traffic-manager';

/** Options of {@link OtherModeCleanup}. */
export interface OtherModeCleanupOptions {
  /** The mode whose leftovers are removed (the one not in use). */
  readonly other: TrafficMode;
  /** Removes them; resolves with what it removed, one line each. */
  readonly remove: (signal?: AbortSignal) => Promise<readonly string[]>;
  /** How to remove them by hand, for the warning when it fails. */
  readonly byHand: string;
  readonly logger: Logger;
}

/**
 * Removing the other mode's leftovers (a host switched between iptables and nftables mode) must
 * not stop the agent: the rules that matter are this mode's. So a failure is a warning saying what
 * to remove by hand, and the next resync tries again, quietly, until it works or the failure is
 * one that retrying cannot fix (not root).
 */
export class OtherModeCleanup {
  private pending = true;

  constructor(private readonly options: OtherModeCleanupOptions) {}

  /** First attempt, at setup: logs what it removed, or warns once. */
  async run(signal?: AbortSignal): Promise<void> {
    const { logger, other, byHand } = this.options;
    try {
      await this.attempt(signal);
    } catch (err) {
      if (signal?.aborted) throw err;
      const next = this.pending ? 'retrying at each resync' : 'not retrying';
      logger.warn(`could not remove flannel's ${other} rules left by ${other} mode; ${next}`, {
        error: errorMessage(err),
        byHand,
      });
    }
  }

  /** Later attempts, at each resync, while the first ones failed. */
  async retry(signal?: AbortSignal): Promise<void> {
    if (!this.pending) return;
    try {
      await this.attempt(signal);
    } catch (err) {
      if (signal?.aborted) throw err;
      this.options.logger.debug(`removing ${this.options.other} leftovers still failing`, {
        error: errorMessage(err),
      });
    }
  }

  private async attempt(signal?: AbortSignal): Promise<void> {
    const { logger, other, remove } = this.options;
    try {
      const removed = await remove(signal);
      this.pending = false;
      if (removed.length > 0) {
        logger.info(`removed flannel's ${other} rules left by ${other} mode`, { removed });
      }
    } catch (err) {
      if (dispositionOf(err) === 'fatal') this.pending = false;
      throw err;
    }
  }
}
