import type { IBackoff } from 'cockatiel';
import type { Clock } from '@flannel-ts/core';
import { systemClock } from '@flannel-ts/core';

/** Options of {@link createWatchReconnectBackoff}. */
export interface WatchReconnectBackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly clock?: Clock;
  /** When the current turn of the event loop ends (default `setImmediate`); tests pass their own. */
  readonly nextTurn?: (fn: () => void) => void;
}

/** The reconnect timers etcd3 arms in the current turn of the event loop. */
interface Turn {
  open: boolean;
  deadlineMs: number;
  /** The step handed out by `next()` in this turn; later `next()` calls in it get the same. */
  stepped: IBackoff<unknown> | undefined;
}

/**
 * The reconnect back-off for etcd3's watch stream (`faultHandling.watchBackoff`): `initialMs`
 * doubling to `maxMs`, without jitter (one agent has one stream).
 *
 * etcd3 handles one broken stream twice (on its `error`, then on its `end`), and each time arms a
 * reconnect timer and steps the back-off. With a plain back-off the second timer fires later,
 * while the stream is idle again, and starts a second reconnect: the attempts multiply (~1 a
 * second instead of one per `maxMs`, each building a new gRPC client). This back-off steps once
 * per turn of the event loop and gives every timer armed in one turn the same deadline, so the
 * first timer reconnects and the second finds the stream connecting and does nothing.
 * @internal
 */
export function createWatchReconnectBackoff(
  options: WatchReconnectBackoffOptions,
): IBackoff<unknown> {
  const clock = options.clock ?? systemClock;
  const nextTurn =
    options.nextTurn ??
    ((fn: () => void) => {
      setImmediate(fn);
    });
  const turn: Turn = { open: false, deadlineMs: 0, stepped: undefined };
  const step = (delayMs: number): IBackoff<unknown> => ({
    get duration(): number {
      if (turn.open) return Math.max(0, turn.deadlineMs - clock.now());
      turn.open = true;
      turn.deadlineMs = clock.now() + delayMs;
      nextTurn(() => {
        turn.open = false;
        turn.stepped = undefined;
      });
      return delayMs;
    },
    next(): IBackoff<unknown> {
      const following = (): IBackoff<unknown> => step(Math.min(delayMs * 2, options.maxMs));
      return turn.open ? (turn.stepped ??= following()) : following();
    },
  });
  // etcd3 starts (and, after each success, restarts) from `watchBackoff.next()`.
  return { duration: options.initialMs, next: () => step(options.initialMs) };
}
