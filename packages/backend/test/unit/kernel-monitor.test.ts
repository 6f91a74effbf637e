import { createIproute2Monitor, IpBinaryNotFoundError } from '@flannel-ts/backend';
import type { ChildListeners, MonitorEvent, SpawnChild } from '@flannel-ts/backend';
import { waitUntil } from '@flannel-ts/core/testing';
import type { Clock } from '@flannel-ts/core';

/** A spawn that records each monitor child and lets the test speak and end for it. */
function fakeSpawn() {
  const children: {
    binary: string;
    args: readonly string[];
    out: ChildListeners;
    killed: boolean;
  }[] = [];
  const spawn: SpawnChild = (binary, args, out) => {
    const child = { binary, args, out, killed: false };
    children.push(child);
    return {
      pid: children.length,
      write: () => undefined,
      end: () => undefined,
      kill: () => {
        child.killed = true;
      },
    };
  };
  return { spawn, children };
}

const instant: Clock = { now: () => 0, sleep: () => Promise.resolve() };

describe('createIproute2Monitor', () => {
  it('runs ip and bridge monitors in the namespace and turns their lines into events', async () => {
    const { spawn, children } = fakeSpawn();
    const monitor = createIproute2Monitor({ netns: 't-1', spawn, clock: instant });
    const events: MonitorEvent[] = [];
    const stop = new AbortController();
    const done = monitor.watch(
      (e) => events.push(e),
      () => undefined,
      stop.signal,
    );

    expect(children.map((c) => [c.binary, ...c.args].join(' '))).toEqual([
      'ip -n t-1 monitor label link route neigh',
      'bridge -n t-1 monitor fdb',
    ]);
    // Output arrives in chunks that split lines anywhere.
    children[0]!.out.stdout('[ROUTE]Deleted 10.5.2.0/24 via 10.5.2.0 dev flan');
    children[0]!.out.stdout('nel.1 onlink \n[LINK]5: flannel.1: <BROADCAST> mtu 1450 state DOWN\n');
    children[1]!.out.stdout(
      'Deleted aa:bb:cc:dd:ee:02 dev flannel.1 dst 192.0.2.11 self permanent\n',
    );
    stop.abort();
    await done;

    expect(events.map((e) => [e.table, e.deleted])).toEqual([
      ['route', true],
      ['link', false],
      ['fdb', true],
    ]);
    expect(children.every((c) => c.killed)).toBe(true);
  });

  it('restarts a monitor that exits and reports the gap, so a full pass can follow', async () => {
    const { spawn, children } = fakeSpawn();
    const monitor = createIproute2Monitor({ spawn, clock: instant });
    let gaps = 0;
    const stop = new AbortController();
    const done = monitor.watch(
      () => undefined,
      () => (gaps += 1),
      stop.signal,
    );

    children[1]!.out.exit(1);
    await waitUntil(() => children.length === 3, 'the bridge monitor restarted');
    stop.abort();
    await done;

    expect(children[2]!.binary).toBe('bridge');
    expect(gaps).toBe(1);
  });

  it('rejects, naming the binary, when iproute2 is missing', async () => {
    const { spawn, children } = fakeSpawn();
    const monitor = createIproute2Monitor({ spawn, clock: instant });
    const done = monitor.watch(
      () => undefined,
      () => undefined,
      new AbortController().signal,
    );

    const enoent = Object.assign(new Error('spawn ip ENOENT'), { code: 'ENOENT' });
    children[0]!.out.exit(undefined, enoent);

    await expect(done).rejects.toBeInstanceOf(IpBinaryNotFoundError);
    expect(children[1]!.killed).toBe(true);
  });

  it('restarts afresh on request, ignoring what the replaced children still print, and reports a gap', async () => {
    const { spawn, children } = fakeSpawn();
    const monitor = createIproute2Monitor({ spawn, clock: instant });
    const events: MonitorEvent[] = [];
    let gaps = 0;
    const stop = new AbortController();
    const done = monitor.watch(
      (e) => events.push(e),
      () => (gaps += 1),
      stop.signal,
    );

    monitor.restart();
    children[0]!.out.stdout('[ROUTE]Deleted 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink\n');
    children[0]!.out.exit(undefined);
    children[2]!.out.stdout('[ROUTE]10.5.3.0/24 via 10.5.3.0 dev flannel.1 onlink\n');
    stop.abort();
    await done;

    expect(children.map((c) => [c.binary, c.killed])).toEqual([
      ['ip', true],
      ['bridge', true],
      ['ip', true],
      ['bridge', true],
    ]);
    expect(events.map((e) => (e.table === 'route' ? e.dst : e.table))).toEqual(['10.5.3.0/24']);
    expect(gaps).toBe(1);
  });
});
