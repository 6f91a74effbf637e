import { Wakeup } from '@flannel-ts/core';
import type { Clock } from '@flannel-ts/core';

/**
 * When each failed key is due for another try, and a way to be told when one is: the extension
 * backend's only "events", since it has no kernel state to watch.
 * @internal
 */
export class RetrySchedule {
  private readonly due = new Map<string, number>();
  private readonly changed = new Wakeup();

  constructor(private readonly clock: Clock) {}

  /** Key `key` is due at `at` (clock ms). */
  set(key: string, at: number): void {
    this.due.set(key, at);
    this.changed.wake();
  }

  /** Key `key` is not waiting for a retry any more. */
  clear(key: string): void {
    if (this.due.delete(key)) this.changed.wake();
  }

  /** The keys due now. */
  dueNow(): string[] {
    const now = this.clock.now();
    return [...this.due].filter(([, at]) => at <= now).map(([key]) => key);
  }

  /** True when a key is due now. */
  get anyDue(): boolean {
    const now = this.clock.now();
    for (const at of this.due.values()) if (at <= now) return true;
    return false;
  }

  /**
   * Calls `onDue` each time a retry falls due, until `signal` aborts; then resolves. After a call
   * it waits for the schedule to change (the retry ran), so a slow pass is not called for again.
   */
  async follow(onDue: () => void, signal: AbortSignal): Promise<void> {
    let told: number | undefined;
    while (!signal.aborted) {
      const next = Math.min(...this.due.values());
      const waitMs =
        next === Infinity || next === told ? undefined : Math.max(0, next - this.clock.now());
      const r = await this.changed.wait(waitMs, this.clock, signal);
      if (r === 'timeout') {
        told = next;
        onDue();
      }
    }
  }
}
