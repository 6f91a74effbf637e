import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createExecIpRunner, IpBinaryNotFoundError, IpCommandError } from '@flannel-ts/backend';

// These tests need root (they create a network namespace). CI runs as root; elsewhere they skip,
// and say so, because a silent skip would look like a pass.
const isRoot = process.getuid?.() === 0;
if (!isRoot) {
  process.stderr.write('SKIPPED exec-ip-runner integration tests: they need root (ip netns add)\n');
}
const describeAsRoot = isRoot ? describe : describe.skip;

describeAsRoot('createExecIpRunner in a throwaway network namespace', () => {
  const netns = `ftt-${randomBytes(4).toString('hex')}`;
  const ip = createExecIpRunner({ netns });

  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', netns]);
  });
  afterAll(() => {
    // Runs even when a test failed, so no namespace is left behind.
    execFileSync('ip', ['netns', 'del', netns]);
  });

  it('runs a query inside the namespace and returns its JSON', async () => {
    const { stdout } = await ip.run(['-json', 'link', 'show']);
    const names = (JSON.parse(stdout) as { ifname: string }[]).map((l) => l.ifname);
    expect(names).toEqual(['lo']);
  });

  it('applies every line of a batch in one process', async () => {
    await ip.batch(['link add ftv0 type veth peer name ftv1', 'link set ftv0 up']);
    const { stdout } = await ip.run(['-json', 'link', 'show', 'ftv0']);
    const [link] = JSON.parse(stdout) as { ifname: string; flags: string[] }[];
    expect(link?.ifname).toBe('ftv0');
    expect(link?.flags).toContain('UP');
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

  it('reports a batch that iproute2 abandoned on an argument error', async () => {
    const failure = ip.batch(['route add 10.9.0.0/33 dev ftv0', 'link set lo up']);
    await expect(failure).rejects.toThrow(/stopped before the end: Error: .*10\.9\.0\.0\/33/);
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
    const bridge = createExecIpRunner({ netns, binary: 'bridge' });
    const { stdout } = await bridge.run(['-json', 'fdb', 'show', 'dev', 'ftv0']);
    expect(Array.isArray(JSON.parse(stdout))).toBe(true);
  });
});

describe('createExecIpRunner without iproute2', () => {
  it('says the ip command is missing and how to fix it', async () => {
    const failure = createExecIpRunner({ searchPath: '/nonexistent' }).run(['-json', 'link']);
    await expect(failure).rejects.toBeInstanceOf(IpBinaryNotFoundError);
    await expect(failure).rejects.toThrow(
      'the `ip` command (iproute2) was not found on PATH: install iproute2',
    );
  });
});
