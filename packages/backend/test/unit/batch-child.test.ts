import { BatchChild, FENCE_LINE, IpBinaryNotFoundError } from '@flannel-ts/backend';
import type { BatchChildOptions } from '@flannel-ts/backend';
import type { Clock } from '@flannel-ts/core';
import { ARGUMENT_ERROR, FakeIproute2, NO_SUCH_PROCESS } from './fake-iproute2-child';
import type { FakeChildScript } from './fake-iproute2-child';

const add = (n: number): string =>
  `route replace 10.5.${n}.0/24 via 10.5.${n}.0 dev flannel.1 onlink`;
const del = (n: number): string => `route del 10.5.${n}.0/24 via 10.5.${n}.0 dev flannel.1 onlink`;
const bad = (n: number): string => `route replace 10.5.${n}.0/24 garbage`;
const F = FENCE_LINE;
const containing = (text: string): string => expect.stringContaining(text) as string;
const matching = (re: RegExp): string => expect.stringMatching(re) as string;

/** A clock whose sleeps end at once and are recorded. */
function instantClock(): Clock & { readonly delaysMs: number[] } {
  const delaysMs: number[] = [];
  return { delaysMs, now: () => 0, sleep: (ms) => (delaysMs.push(ms), Promise.resolve()) };
}

function setup(
  script?: (index: number) => FakeChildScript,
  options: Partial<BatchChildOptions> = {},
): { ip: FakeIproute2; batch: BatchChild; clock: ReturnType<typeof instantClock> } {
  const ip = new FakeIproute2(script);
  const clock = instantClock();
  const batch = new BatchChild({ binary: 'ip', spawn: ip.spawn, clock, ...options });
  return { ip, batch, clock };
}

describe('BatchChild', () => {
  it('runs a clean batch on one `ip -force -batch -` child, in order, with no failures', async () => {
    const { ip, batch } = setup(undefined, { prefix: ['-n', 't-1'] });

    await expect(batch.submit([add(2), add(3), add(4)])).resolves.toEqual([]);

    expect(ip.children).toHaveLength(1);
    expect(ip.child(0).binary).toBe('ip');
    expect(ip.child(0).args).toEqual(['-n', 't-1', '-force', '-batch', '-']);
    expect(ip.child(0).received).toEqual([add(2), add(3), add(4), F]);
    expect(ip.applied).toEqual([add(2), add(3), add(4)]);
  });

  it('resolves an empty batch without starting a child', async () => {
    const { ip, batch } = setup();

    await expect(batch.submit([])).resolves.toEqual([]);

    expect(ip.children).toHaveLength(0);
  });

  it('attributes a failing line by its place in the batch and still applies the lines after it', async () => {
    const { ip, batch } = setup();
    ip.kernel.add('route 10.5.2.0/24');

    const failures = await batch.submit([del(2), del(3), add(4)]);

    expect(failures).toEqual([{ lineNumber: 2, line: del(3), message: NO_SUCH_PROCESS }]);
    expect(ip.applied).toEqual([del(2), add(4)]);
    expect([...ip.kernel]).toEqual(['route 10.5.4.0/24']);
  });

  it('counts line numbers over the child’s whole life, so failures in later batches are attributed right', async () => {
    const { ip, batch } = setup();

    await expect(batch.submit([add(2), add(3)])).resolves.toEqual([]);
    await expect(batch.submit([add(4), del(9), add(5)])).resolves.toEqual([
      { lineNumber: 2, line: del(9), message: NO_SUCH_PROCESS },
    ]);
    // Child lines 1-3 were the first batch and its fence; del(9) was the child's line 5.
    await expect(batch.submit([del(8), add(6)])).resolves.toEqual([
      { lineNumber: 1, line: del(8), message: NO_SUCH_PROCESS },
    ]);

    expect(ip.children).toHaveLength(1);
    expect(ip.applied).toEqual([add(2), add(3), add(4), add(5), add(6)]);
  });

  it('reassembles stderr answers that arrive split mid-line', async () => {
    const { ip, batch } = setup();
    ip.stderrChunkChars = 7;

    await expect(batch.submit([add(2), del(3), del(4), add(5)])).resolves.toEqual([
      { lineNumber: 2, line: del(3), message: NO_SUCH_PROCESS },
      { lineNumber: 3, line: del(4), message: NO_SUCH_PROCESS },
    ]);
    expect(ip.applied).toEqual([add(2), add(5)]);
  });

  it('names the line of an argument error and applies every other line, replaying one fence per line', async () => {
    const { ip, batch } = setup();

    const failures = await batch.submit([add(2), add(3), bad(4), add(5), add(6)]);

    expect(failures).toEqual([
      { lineNumber: 3, line: bad(4), message: containing(ARGUMENT_ERROR) },
    ]);
    // The first child ran add(2) and add(3), then exited on the bad line without a marker, so
    // nothing of the batch was confirmed. The replay re-sends the whole batch with a fence after
    // each line: add(2) and add(3) run a second time (idempotent replaces), the bad line kills the
    // second child, and a third child runs what is left.
    expect(ip.child(0).ran).toEqual([add(2), add(3), bad(4)]);
    expect(ip.child(0).exit).toEqual({ code: 255 });
    expect(ip.child(1).ran).toEqual([add(2), F, add(3), F, bad(4)]);
    expect(ip.child(2).received).toEqual([add(5), F, add(6), F]);
    expect(ip.children).toHaveLength(3);
    expect(ip.applied).toEqual([add(2), add(3), add(2), add(3), add(5), add(6)]);
    expect([...ip.kernel].sort()).toEqual(
      ['route 10.5.2.0/24', 'route 10.5.3.0/24', 'route 10.5.5.0/24', 'route 10.5.6.0/24'].sort(),
    );
  });

  it('after an argument error, reports a kernel error of the same batch exactly once', async () => {
    const { ip, batch } = setup();

    const failures = await batch.submit([del(2), bad(3), add(4)]);

    expect(failures).toEqual([
      { lineNumber: 1, line: del(2), message: NO_SUCH_PROCESS },
      { lineNumber: 2, line: bad(3), message: containing(ARGUMENT_ERROR) },
    ]);
    expect(ip.applied).toEqual([add(4)]);
  });

  it('restarts a child killed mid-batch and completes the batch with every line applied', async () => {
    const { ip, batch } = setup((i) => (i === 0 ? { killOnLine: 3 } : {}));

    await expect(batch.submit([add(2), add(3), add(4), add(5)])).resolves.toEqual([]);

    expect(ip.child(0).killed).toBe(true);
    expect(ip.child(0).ran).toEqual([add(2), add(3)]);
    // Unconfirmed lines are replayed from the start of the batch, in order.
    expect(ip.child(1).received).toEqual([add(2), F, add(3), F, add(4), F, add(5), F]);
    expect(ip.applied).toEqual([add(2), add(3), add(2), add(3), add(4), add(5)]);
    expect(ip.kernel.size).toBe(4);
  });

  it('replaces the child after `recycleAfterLines` modifying lines, closing the old one’s stdin', async () => {
    const { ip, batch } = setup(undefined, { recycleAfterLines: 5 });

    await batch.submit([add(1), add(2), add(3)]);
    expect(ip.child(0).stdinClosed).toBe(false);
    await batch.submit([add(4), add(5), add(6)]);
    expect(ip.child(0).stdinClosed).toBe(true);
    expect(ip.child(0).killed).toBe(false);
    expect(ip.children).toHaveLength(1);

    await expect(batch.submit([add(7), del(9)])).resolves.toEqual([
      { lineNumber: 2, line: del(9), message: NO_SUCH_PROCESS },
    ]);

    expect(ip.children).toHaveLength(2);
    expect(ip.child(1).received).toEqual([add(7), del(9), F]);
    expect(ip.child(0).received).not.toContain(add(7));
    expect(ip.child(0).exit).toEqual({ code: 0 });
    expect(batch.spawned).toBe(2);
  });

  it('runs the next batch on a new child after recycle(), closing the old one’s stdin', async () => {
    const { ip, batch } = setup();
    await batch.submit([add(1)]);

    batch.recycle();

    expect(ip.child(0).stdinClosed).toBe(true);
    await expect(batch.submit([add(2), del(9)])).resolves.toEqual([
      { lineNumber: 2, line: del(9), message: NO_SUCH_PROCESS },
    ]);
    expect(ip.children).toHaveLength(2);
    expect(ip.child(1).received).toEqual([add(2), del(9), F]);
    expect(ip.child(0).killed).toBe(false);
  });

  it('rejects with IpBinaryNotFoundError, as do batches queued behind, when the binary is missing', async () => {
    const { ip, batch } = setup((i) => (i === 0 ? { missingBinary: true } : {}));

    const first = batch.submit([add(2)]);
    const queued = batch.submit([add(3)]);

    await expect(first).rejects.toBeInstanceOf(IpBinaryNotFoundError);
    await expect(queued).rejects.toBeInstanceOf(IpBinaryNotFoundError);
    expect(ip.applied).toEqual([]);
    // Once iproute2 is installed, the next batch starts a child again.
    await expect(batch.submit([add(4)])).resolves.toEqual([]);
    expect(ip.applied).toEqual([add(4)]);
  });

  it('gives up on a child that keeps dying, with growing back-off, and reports every line as failed', async () => {
    const { ip, batch, clock } = setup(() => ({ killOnLine: 1 }));

    const failures = await batch.submit([add(2), add(3)]);

    expect(failures).toEqual([
      { lineNumber: 1, line: add(2), message: matching(/not applied.*killed/) },
      { lineNumber: 2, line: add(3), message: matching(/not applied.*killed/) },
    ]);
    expect(ip.applied).toEqual([]);
    expect(ip.children.length).toBeGreaterThan(3);
    expect(clock.delaysMs.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < clock.delaysMs.length; i++)
      expect(clock.delaysMs[i]).toBeGreaterThan(clock.delaysMs[i - 1]!);
  });

  it('runs batches submitted together one after the other, in submission order', async () => {
    const { ip, batch } = setup();
    const order: string[] = [];

    const results = await Promise.all(
      [
        [add(1), add(2)],
        [del(9), add(3)],
        [add(4), del(8)],
      ].map((lines, i) =>
        batch.submit(lines).then((failures) => {
          order.push(`batch ${i + 1}`);
          return failures;
        }),
      ),
    );

    expect(order).toEqual(['batch 1', 'batch 2', 'batch 3']);
    expect(results).toEqual([
      [],
      [{ lineNumber: 1, line: del(9), message: NO_SUCH_PROCESS }],
      [{ lineNumber: 2, line: del(8), message: NO_SUCH_PROCESS }],
    ]);
    // Each batch went down the pipe alone, after the previous one's fence was answered.
    expect(ip.child(0).writes).toEqual([
      `${add(1)}\n${add(2)}\n${F}\n`,
      `${del(9)}\n${add(3)}\n${F}\n`,
      `${add(4)}\n${del(8)}\n${F}\n`,
    ]);
    expect(ip.applied).toEqual([add(1), add(2), add(3), add(4)]);
  });

  it('closes the idle child’s stdin on close() and rejects batches submitted afterwards', async () => {
    const { ip, batch } = setup();
    await batch.submit([add(2)]);

    batch.close();

    expect(ip.child(0).stdinClosed).toBe(true);
    await expect(batch.submit([add(3)])).rejects.toThrow(/closed/);
    expect(ip.children).toHaveLength(1);
  });

  // A failure not yet confirmed by a fence is dropped when the child dies: the replay reports it.
  it('reports a failed line once when the child dies between its error and its fence', async () => {
    // Child 0 dies on line 1, so the batch is replayed carefully (line, fence, line, fence);
    // child 1 runs del(9) (which fails) and dies on the fence after it.
    const { batch } = setup((i) =>
      i === 0 ? { killOnLine: 1 } : i === 1 ? { killOnLine: 2 } : {},
    );

    const failures = await batch.submit([del(9), add(2)]);

    expect(failures).toEqual([{ lineNumber: 1, line: del(9), message: NO_SUCH_PROCESS }]);
  });

  // Naming a culprit is progress: many argument errors in a row never make it give up.
  it('keeps going after many argument errors in a row and applies the valid line after them', async () => {
    const { ip, batch } = setup();
    const lines = [...[1, 2, 3, 4, 5, 6, 7, 8].map(bad), add(9)];

    const failures = await batch.submit(lines);

    expect(failures.map((f) => f.lineNumber)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(ip.applied).toEqual([add(9)]);
  });

  // Each batch has its own restarts: giving up on one batch does not carry over to the next.
  it('gives a batch after a given-up one its own restarts, naming the culprit', async () => {
    const { ip, batch } = setup((i) => (i < 8 ? { killOnLine: 1 } : {}));
    await batch.submit([add(1)]); // every child dies: given up on

    const failures = await batch.submit([add(2), bad(3), add(4)]);

    expect(failures).toEqual([
      { lineNumber: 2, line: bad(3), message: containing(ARGUMENT_ERROR) },
    ]);
    expect(ip.kernel).toEqual(new Set(['route 10.5.2.0/24', 'route 10.5.4.0/24']));
  });

  it('gives up with iproute2’s own words when the child cannot start at all', async () => {
    const why = 'Cannot open network namespace "gone": No such file or directory';
    const { ip, batch, clock } = setup(() => ({ cannotStart: why }));

    const lines = Array.from({ length: 20 }, (_, i) => add(i + 1));
    const failures = await batch.submit(lines);

    expect(failures.map((f) => f.lineNumber)).toEqual(lines.map((_, i) => i + 1));
    expect(failures.every((f) => f.message.includes(why))).toBe(true);
    // A bounded number of attempts, with growing pauses between them.
    expect(ip.children.length).toBeLessThanOrEqual(11);
    expect(clock.delaysMs.length).toBeGreaterThan(2);
    expect(clock.delaysMs).toEqual([...clock.delaysMs].sort((a, b) => a - b));
  });

  it('rejects the batch under way and the queued ones when closed', async () => {
    const { batch } = setup((i) => (i === 0 ? { killOnLine: 2 } : { cannotStart: 'x' }));
    const running = batch.submit([add(1), add(2)]);
    const queued = batch.submit([add(3)]);

    batch.close();

    await expect(running).rejects.toThrow(/closed before the batch completed/);
    await expect(queued).rejects.toThrow(/closed before the batch completed/);
  });

  it('replaces the child after the batch under way when asked to recycle during it', async () => {
    const { ip, batch } = setup();
    const running = batch.submit([add(1)]);
    batch.recycle();
    await running;

    await batch.submit([add(2)]);

    expect(ip.children).toHaveLength(2);
    expect(ip.child(0).stdinClosed).toBe(true);
  });
});
