import type { Clock } from '@flannel-ts/core';
import { createRecordingLogger, ManualClock } from '@flannel-ts/core/testing';
import { createEtcdConnectionState } from '@flannel-ts/subnet';

const refused = new Error('14 UNAVAILABLE: No connection established. Last error: ECONNREFUSED');
const dropped = new Error('14 UNAVAILABLE: Connection dropped');
const ended = new Error('The etcd watch stream was unexpectedly ended');

/** A tracker on a hand-driven clock whose event-loop turns end when the test says so. */
function setup() {
  let nowMs = 1_000_000;
  // Its sleeps never end: the grace period has a test of its own, on a ManualClock.
  const clock: Clock = { now: () => nowMs, sleep: () => new Promise<void>(() => undefined) };
  let turnEnds: (() => void)[] = [];
  const logger = createRecordingLogger();
  const reconnects = { count: 0 };
  const state = createEtcdConnectionState({
    onReconnect: () => reconnects.count++,
    endpoints: ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'],
    logger,
    clock,
    nextTurn: (fn) => turnEnds.push(fn),
  });
  /** One failed reconnect as etcd3 reports it: each watch hears the error, then the stream end. */
  const failedAttempt = (err: Error, watches = 2): void => {
    for (let i = 0; i < watches; i++) state.failed(err);
    for (let i = 0; i < watches; i++) state.failed(ended);
    const ends = turnEnds;
    turnEnds = [];
    for (const end of ends) end();
  };
  const advance = (ms: number): void => void (nowMs += ms);
  const visible = () => logger.lines.filter((l) => l.level !== 'debug');
  return { state, logger, failedAttempt, advance, visible, reconnects };
}

describe('EtcdConnectionState', () => {
  it('reports its status and counts each reconnect, short or long', () => {
    const { state, failedAttempt, advance, reconnects } = setup();
    expect(state.status()).toEqual({ reachable: true });
    failedAttempt(refused);
    advance(1500);
    failedAttempt(dropped);
    expect(state.status()).toEqual({
      reachable: false,
      sinceMs: 1_000_000,
      lastError: refused.message,
    });
    state.succeeded();
    expect(state.status()).toEqual({ reachable: true });
    failedAttempt(dropped);
    state.succeeded();
    state.succeeded();
    expect(reconnects.count).toBe(2);
  });

  it('logs an outage of many retries from two watches in exactly two lines', () => {
    const { state, logger, failedAttempt, advance, visible } = setup();
    failedAttempt(dropped);
    for (let i = 0; i < 40; i++) {
      advance(250);
      failedAttempt(refused);
    }
    expect(state.reachable).toBe(false);
    advance(500);
    state.succeeded();
    state.succeeded();
    expect(state.reachable).toBe(true);

    expect(visible().map((l) => `${l.level} ${l.message.split(':')[0]}`)).toEqual([
      'warn etcd is unreachable',
      'info etcd is reachable again',
    ]);
    const warnAt = logger.lines.findIndex((l) => l.level === 'warn');
    // The first reconnect's error names the cause; the first failure only says "dropped".
    expect(logger.fields[warnAt]).toEqual({
      endpoints: 'http://10.0.0.1:2379,http://10.0.0.2:2379',
      error: refused.message,
    });
    const backAt = logger.lines.findIndex((l) => l.level === 'info');
    expect(logger.fields[backAt]).toEqual({
      endpoints: 'http://10.0.0.1:2379,http://10.0.0.2:2379',
      downForMs: 40 * 250 + 500,
      retries: 40,
    });
  });

  it('logs a second outage again, with its own duration and retry count', () => {
    const { state, logger, failedAttempt, advance, visible } = setup();
    for (const attempts of [3, 5]) {
      for (let i = 0; i < attempts; i++) {
        failedAttempt(refused);
        advance(1000);
      }
      state.succeeded();
    }
    expect(visible().map((l) => l.level)).toEqual(['warn', 'info', 'warn', 'info']);
    const back = logger.lines.flatMap((l, i) => (l.level === 'info' ? [logger.fields[i]] : []));
    expect(back).toEqual([
      expect.objectContaining({ downForMs: 3000, retries: 2 }),
      expect.objectContaining({ downForMs: 5000, retries: 4 }),
    ]);
  });

  it('treats a connection re-made at the first try as no outage (debug only)', () => {
    const { state, logger, failedAttempt, advance, visible } = setup();
    failedAttempt(dropped);
    advance(100);
    state.succeeded();
    expect(visible()).toEqual([]);
    expect(logger.lines.map((l) => l.message)).toEqual([
      'etcd connection lost; reconnecting',
      'etcd connection re-established',
    ]);
  });

  it('counts a failure after a success in the same turn as a new attempt', () => {
    const { state, logger, visible } = setup();
    state.failed(dropped);
    state.succeeded();
    state.failed(refused);
    expect(state.reachable).toBe(false);
    expect(visible()).toEqual([]);
    expect(logger.lines.map((l) => l.message)).toEqual([
      'etcd connection lost; reconnecting',
      'etcd connection re-established',
      'etcd connection lost; reconnecting',
    ]);
  });

  it('calls a lost connection that neither fails again nor comes back within the grace period an outage', async () => {
    const clock = new ManualClock();
    const logger = createRecordingLogger();
    const state = createEtcdConnectionState({
      endpoints: ['http://10.0.0.1:2379'],
      logger,
      clock,
      outageGraceMs: 10_000,
    });
    const warnings = () => logger.lines.filter((l) => l.level === 'warn');
    // Back within the grace period: no outage, and the timer is gone.
    state.failed(dropped);
    clock.advance(9_999);
    state.succeeded();
    expect(clock.sleeping).toBe(0);
    clock.advance(60_000);
    await Promise.resolve();
    expect(warnings()).toEqual([]);
    // A hung etcd: the reconnect hangs too, so nothing fails a second time.
    state.failed(dropped);
    clock.advance(9_999);
    await Promise.resolve();
    expect(warnings()).toEqual([]);
    clock.advance(1);
    await Promise.resolve();
    expect(warnings()).toHaveLength(1);
    const at = logger.lines.findIndex((l) => l.level === 'warn');
    expect(logger.fields[at]).toMatchObject({
      error: `no answer for 10 s after: ${dropped.message}`,
    });
    expect(state.status()).toMatchObject({ reachable: false, lastError: dropped.message });
    state.succeeded();
    expect(logger.lines.at(-1)?.message).toBe('etcd is reachable again');
  });

  it('says nothing while etcd stays reachable', () => {
    const { state, logger } = setup();
    state.succeeded();
    state.succeeded();
    expect(logger.lines).toEqual([]);
    expect(state.reachable).toBe(true);
  });
});
