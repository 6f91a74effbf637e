import { execFile, spawn } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const LAB = resolve(__dirname, '../../../../scripts/lab');
const STATE = '/run/ftlab';

/** Drives `scripts/lab` (the README's main job) for end-to-end tests of the overlay. */
export const lab = {
  async up(backend: string, flanneldArgs: string): Promise<void> {
    await run(LAB, ['up', '--backend', backend], {
      env: { ...process.env, FTLAB_SKIP_SETUP: '1', FTLAB_FLANNELD_ARGS: flanneldArgs },
      maxBuffer: 1 << 24,
    });
  },
  async down(): Promise<void> {
    await run(LAB, ['down'], { env: { ...process.env } });
  },
  /** Runs a command inside a lab namespace (`h1`, `c2`, `ul`) and returns its stdout. */
  async exec(ns: string, cmd: readonly string[]): Promise<string> {
    const { stdout } = await run('ip', ['netns', 'exec', `ftlab-${ns}`, ...cmd], {
      maxBuffer: 1 << 24,
    });
    return stdout;
  },
  /** Like exec, but resolves to the exit code instead of throwing. */
  async status(ns: string, cmd: readonly string[]): Promise<number> {
    try {
      await lab.exec(ns, cmd);
      return 0;
    } catch (err) {
      return (err as { code?: number }).code ?? 1;
    }
  },
  env(host: number): Record<string, string> {
    const text = readFileSync(`${STATE}/h${host}/subnet.env`, 'utf8');
    return Object.fromEntries(
      text
        .trim()
        .split('\n')
        .map((l) => l.split('=') as [string, string]),
    );
  },
  /** The `.2` container address of a host. */
  containerIp(host: number): string {
    return lab.env(host)['FLANNEL_SUBNET']!.replace(/\.1\/\d+$/, '.2');
  },
  /** The subnet in network form, e.g. `10.5.3.0/24`. */
  subnet(host: number): string {
    return lab.env(host)['FLANNEL_SUBNET']!.replace(/\.1\//, '.0/');
  },
  pid(host: number): number {
    return Number(readFileSync(`${STATE}/h${host}/flanneld.pid`, 'utf8').trim());
  },
  etcdctl(args: readonly string[]): Promise<string> {
    return lab.exec('ul', [
      'env',
      'ETCDCTL_API=3',
      'etcdctl',
      '--endpoints=http://10.99.0.254:2379',
      ...args,
    ]);
  },
  /** Kills host's agent with SIGKILL and starts it again with the same command line. */
  async killAndRestart(host: number): Promise<void> {
    const pid = lab.pid(host);
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    process.kill(pid, 'SIGKILL');
    await waitUntil(() => !isAlive(pid), `agent ${pid} to die`);
    const log = openSync(`${STATE}/h${host}/flanneld.log`, 'a');
    const child = spawn('setsid', ['ip', 'netns', 'exec', `ftlab-h${host}`, ...argv], {
      detached: true,
      stdio: ['ignore', log, log],
    });
    child.unref();
    writeFileSync(`${STATE}/h${host}/flanneld.pid`, `${child.pid}\n`);
  },
};

function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** Polls `cond` every 100 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<number> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return Date.now() - start;
}
