import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import {
  BatchChild,
  createIproute2Runner,
  createSpawnChild,
  IpBinaryNotFoundError,
  IpCommandError,
} from '@flannel-ts/backend';
import { waitUntil } from '@flannel-ts/core/testing';

// These tests need root (they create a network namespace). CI runs as root; elsewhere they skip,
// and say so, because a silent skip would look like a pass.
const isRoot = process.getuid?.() === 0;
if (!isRoot) {
  process.stderr.write(
    'SKIPPED iproute2 runner integration tests: they need root (ip netns add)\n',
  );
}
const describeAsRoot = isRoot ? describe : describe.skip;

describeAsRoot('createIproute2Runner in a throwaway network namespace', () => {
  const netns = `ftt-${randomBytes(4).toString('hex')}`;
  const ip = createIproute2Runner({ netns });

  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', netns]);
  });
  afterAll(() => {
    // Runs even when a test failed, so no namespace (and no child) is left behind.
    ip.close();
    execFileSync('ip', ['netns', 'del', netns]);
  });

  /** The pids of this namespace's long-lived `ip -force -batch -` children. */
  const batchChildren = (): number[] => {
    try {
      return execFileSync('pgrep', ['-f', `^ip -n ${netns} -force -batch -$`], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .map(Number);
    } catch {
      return [];
    }
  };
  const routes = (): string =>
    execFileSync('ip', ['-n', netns, 'route', 'show'], { encoding: 'utf8' });

  it('runs a query inside the namespace and returns its JSON', async () => {
    const { stdout } = await ip.run(['-json', 'link', 'show']);
    const names = (JSON.parse(stdout) as { ifname: string }[]).map((l) => l.ifname);
    expect(names).toEqual(['lo']);
  });

  it('applies every line of a batch through one long-lived child', async () => {
    await ip.batch(['link add ftv0 type veth peer name ftv1', 'link set ftv0 up']);
    const { stdout } = await ip.run(['-json', 'link', 'show', 'ftv0']);
    const [link] = JSON.parse(stdout) as { ifname: string; flags: string[] }[];
    expect(link?.ifname).toBe('ftv0');
    expect(link?.flags).toContain('UP');
    const [child] = batchChildren();
    await ip.batch(['link set ftv1 up']);
    // The second batch went to the same child: no process was started for it.
    expect(batchChildren()).toEqual([child]);
  });

  it('keeps going past a failing batch line and names it in the error', async () => {
    const failure = ip.batch(['link set nosuch up', 'link set ftv1 up']);
    await expect(failure).rejects.toBeInstanceOf(IpCommandError);
    await expect(failure).rejects.toThrow(/line 1 "link set nosuch up": Cannot find device/);
    const err = (await failure.catch((e: unknown) => e)) as IpCommandError;
    expect(err.failedLines.map((l) => l.lineNumber)).toEqual([1]);
    // -force: the line after the failing one still ran.
    const { stdout } = await ip.run(['-json', 'link', 'show', 'ftv1']);
    expect((JSON.parse(stdout) as { flags: string[] }[])[0]?.flags).toContain('UP');
  });

  it('names the line of an argument error (on which ip exits) and still applies the rest', async () => {
    // The lines before the culprit are replayed once (which of them ran is unknown when ip dies),
    // so batches hold idempotent lines: replace, and del whose "No such …" counts as done.
    const failure = ip.batch([
      'route replace 10.9.1.0/24 dev ftv0',
      'route replace 10.9.0.0/33 dev ftv0',
      'route replace 10.9.2.0/24 dev ftv0',
    ]);
    await expect(failure).rejects.toThrow(
      /line 2 "route replace 10\.9\.0\.0\/33 dev ftv0": ip exited: Error: /,
    );
    const err = (await failure.catch((e: unknown) => e)) as IpCommandError;
    expect(err.failedLines.map((l) => l.lineNumber)).toEqual([2]);
    expect(routes()).toMatch(/10\.9\.1\.0\/24 dev ftv0[\s\S]*10\.9\.2\.0\/24 dev ftv0/);
  });

  it('restarts a child killed mid-batch and applies every line of the batch', async () => {
    await ip.batch(['route replace 10.10.0.0/24 dev ftv0']);
    const [before] = batchChildren();
    const lines = Array.from(
      { length: 900 },
      (_, i) => `route replace 10.11.${i % 250}.${Math.floor(i / 250) * 64}/26 dev ftv0`,
    );
    const done = ip.batch(lines);
    process.kill(before!, 'SIGKILL');
    await done;
    const shown = routes();
    expect(lines.every((l) => shown.includes(`${l.split(' ')[2]!} dev ftv0`))).toBe(true);
    await waitUntil(() => batchChildren().length === 1, 'one live child');
    expect(batchChildren()).not.toContain(before);
  });
  it('rejects a failing command with its exit code and stderr', async () => {
    const failure = ip.run(['-json', 'route', 'get', '203.0.113.9']);
    await expect(failure).rejects.toThrow(
      new RegExp(
        `^ip -n ${netns} -json route get 203\\.0\\.113\\.9 failed \\(exit 2\\): RTNETLINK`,
      ),
    );
  });

  it('gives up when the signal aborts', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(ip.run(['-json', 'link', 'show'], controller.signal)).rejects.toMatchObject({
      name: 'AbortError',
    });
  });

  it('runs the bridge binary in the namespace too', async () => {
    const bridge = createIproute2Runner({ netns, binary: 'bridge' });
    const { stdout } = await bridge.run(['-json', 'fdb', 'show', 'dev', 'ftv0']);
    expect(Array.isArray(JSON.parse(stdout))).toBe(true);
    bridge.close();
  });

  it('replaces the child after 1000 modifying lines, so its memory stays bounded', async () => {
    const rssKiB = (pid: number | undefined): number =>
      Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    const spawn = createSpawnChild();
    const prefix = ['-n', netns];
    const recycled = new BatchChild({ binary: 'ip', prefix, spawn });
    const kept = new BatchChild({ binary: 'ip', prefix, spawn, recycleAfterLines: Infinity });
    try {
      // 3000 modifying lines, in batches of 100 (lease events arrive a few at a time).
      for (let b = 0; b < 30; b++) {
        const lines = Array.from(
          { length: 100 },
          (_, i) => `route replace 10.12.${b}.${i}/32 dev ftv0`,
        );
        expect(await recycled.submit(lines)).toEqual([]);
        expect(await kept.submit(lines)).toEqual([]);
      }
      expect(recycled.spawned).toBe(3);
      expect(kept.spawned).toBe(1);
      await recycled.submit(['route replace 10.12.99.0/32 dev ftv0']);
      expect(recycled.spawned).toBe(4);
      // iproute2 keeps ~4 KiB per line: ~12 MiB after 3000 lines, against a fresh child's ~2 MiB.
      expect(rssKiB(recycled.pid)).toBeLessThan(rssKiB(kept.pid) / 2);
    } finally {
      recycled.close();
      kept.close();
    }
  });
});

describe('createIproute2Runner without iproute2', () => {
  it('says the ip command is missing and how to fix it', async () => {
    const failure = createIproute2Runner({ searchPath: '/nonexistent' }).run(['-json', 'link']);
    await expect(failure).rejects.toBeInstanceOf(IpBinaryNotFoundError);
    await expect(failure).rejects.toThrow(
      'the `ip` command (iproute2) was not found on PATH: install iproute2',
    );
  });

  it('says the same when a batch is sent to a missing ip', async () => {
    const runner = createIproute2Runner({ searchPath: '/nonexistent' });
    await expect(runner.batch(['link set lo up'])).rejects.toBeInstanceOf(IpBinaryNotFoundError);
    runner.close();
  });
});
