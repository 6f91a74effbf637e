import type { IBackoff } from 'cockatiel';
import type { Clock } from '@flannel-ts/core';
import { createWatchReconnectBackoff } from '../../src/etcd-watch-backoff';

/** Drives the back-off as etcd3's WatchManager does, on a hand-driven clock and event loop. */
function setup() {
  let nowMs = 0;
  const clock: Clock = { now: () => nowMs, sleep: () => Promise.resolve() };
  let turnEnds: (() => void)[] = [];
  const root = createWatchReconnectBackoff({
    initialMs: 100,
    maxMs: 2000,
    clock,
    nextTurn: (fn) => turnEnds.push(fn),
  });
  let current: IBackoff<unknown> = root.next(undefined);
  /** etcd3's handleError: arm a timer for `duration`, then step. Returns the timer's delay. */
  const handleError = (): number => {
    const ms = current.duration;
    current = current.next(undefined) ?? current;
    return ms;
  };
  const endTurn = (): void => {
    const ends = turnEnds;
    turnEnds = [];
    for (const end of ends) end();
  };
  const advance = (ms: number): void => void (nowMs += ms);
  const reset = (): void => void (current = root.next(undefined));
  return { handleError, endTurn, advance, reset };
}

describe('createWatchReconnectBackoff', () => {
  it('doubles from the initial delay to the maximum, without jitter', () => {
    const { handleError, endTurn } = setup();
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      delays.push(handleError());
      endTurn();
    }
    expect(delays).toEqual([100, 200, 400, 800, 1600, 2000, 2000]);
  });

  it('gives both timers of one broken stream (error, then end) the same deadline', () => {
    const { handleError, endTurn, advance } = setup();
    const attempts: number[][] = [];
    for (let i = 0; i < 4; i++) {
      const first = handleError();
      advance(3); // the end arrives a little later, in the same turn
      const second = handleError();
      attempts.push([first, second + 3]);
      endTurn();
      advance(first);
    }
    // One step per broken stream, so one reconnect per step.
    expect(attempts).toEqual([
      [100, 100],
      [200, 200],
      [400, 400],
      [800, 800],
    ]);
  });

  it('starts again from the initial delay after a success', () => {
    const { handleError, endTurn, reset } = setup();
    handleError();
    endTurn();
    handleError();
    endTurn();
    reset();
    expect(handleError()).toBe(100);
  });
});
