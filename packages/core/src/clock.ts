/**
 * Time seam: everything that waits takes a Clock, so tests drive timers without real sleeps.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(abortReason(signal));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new Error('aborted');
}

/** True when the error is the rejection of an aborted wait. */
export function isAbort(err: unknown, signal: AbortSignal): boolean {
  return (
    signal.aborted && (err === signal.reason || (err as Error | undefined)?.name === 'AbortError')
  );
}

/**
 * Exponential back-off delays: `initialMs`, doubling up to `maxMs`. `reset()` after a success.
 */
export class Backoff {
  private nextMs: number;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
  ) {
    this.nextMs = initialMs;
  }

  /** The delay to wait now; the following one doubles. */
  next(): number {
    const ms = this.nextMs;
    this.nextMs = Math.min(this.maxMs, this.nextMs * 2);
    return ms;
  }

  reset(): void {
    this.nextMs = this.initialMs;
  }
}

/**
 * A wake-up call from a producer to one waiting consumer (a sync loop, a renewal timer). `wait`
 * resolves `woken` when `wake` was called since the last wait or while waiting, `timeout` after
 * `timeoutMs` (undefined: no timeout), and `aborted` when the signal aborts.
 */
export class Wakeup {
  private pending = false;
  private waiter: (() => void) | undefined;

  wake(): void {
    this.pending = true;
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  async wait(
    timeoutMs: number | undefined,
    clock: Clock,
    signal: AbortSignal,
  ): Promise<'woken' | 'timeout' | 'aborted'> {
    if (signal.aborted) return 'aborted';
    if (this.pending) {
      this.pending = false;
      return 'woken';
    }
    const timer = new AbortController();
    const onAbort = (): void => timer.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const woken = new Promise<'woken'>((resolve) => (this.waiter = () => resolve('woken')));
      const ended =
        timeoutMs === undefined
          ? new Promise<'aborted'>((resolve) =>
              timer.signal.addEventListener('abort', () => resolve('aborted'), { once: true }),
            )
          : clock.sleep(timeoutMs, timer.signal).then(
              () => 'timeout' as const,
              () => 'aborted' as const,
            );
      const r = await Promise.race([woken, ended]);
      if (r === 'woken') this.pending = false;
      return r;
    } finally {
      this.waiter = undefined;
      timer.abort();
      signal.removeEventListener('abort', onAbort);
    }
  }
}
