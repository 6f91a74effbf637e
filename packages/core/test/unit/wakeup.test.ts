import { Wakeup, systemClock } from '@flannel-ts/core';

describe('Wakeup', () => {
  it('returns woken for a wake before or during the wait, timeout otherwise, aborted on abort', async () => {
    const w = new Wakeup();
    const signal = new AbortController().signal;
    w.wake();
    expect(await w.wait(10_000, systemClock, signal)).toBe('woken');
    expect(await w.wait(5, systemClock, signal)).toBe('timeout');
    const waiting = w.wait(undefined, systemClock, signal);
    w.wake();
    expect(await waiting).toBe('woken');
    const ctl = new AbortController();
    const aborted = w.wait(undefined, systemClock, ctl.signal);
    ctl.abort();
    expect(await aborted).toBe('aborted');
  });
});
