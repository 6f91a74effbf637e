import { execFile, execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FLANNELD, waitFor, wrapAgent } from './agent-harness';
import type { Agent } from './agent-harness';

const run = promisify(execFile);

/**
 * A throwaway network namespace standing in for one host: its own firewall (so agents may write
 * iptables rules without touching the test machine's), an etcd inside it on 127.0.0.1:2379, and a
 * veth pair `ul0`/`ul1` with 198.18.0.1/24 on `ul0` for agents to use as external interface.
 */
export interface HostNamespace {
  readonly name: string;
  readonly dir: string;
  readonly endpoint: string;
  /** Runs a command inside the namespace and returns its stdout. */
  exec(cmd: readonly string[]): Promise<string>;
  etcdctl(args: readonly string[]): Promise<string>;
  /** Starts `flanneld` inside the namespace; `args` come after the harness's own. */
  startAgent(args: readonly string[], subnetFile: string): Agent;
  /** Kills every agent and etcd, deletes the namespace and the temp dir. */
  cleanup(): Promise<void>;
}

export async function createHostNamespace(): Promise<HostNamespace> {
  const name = `fte-${randomBytes(3).toString('hex')}`;
  const dir = await mkdtemp(join(tmpdir(), 'ft-e2e-ns-'));
  const sh = (...args: string[]) => execFileSync('ip', ['-n', name, ...args]);
  execFileSync('ip', ['netns', 'add', name]);
  const children: ChildProcess[] = [];
  const exec = async (cmd: readonly string[]): Promise<string> =>
    (await run('ip', ['netns', 'exec', name, ...cmd], { maxBuffer: 1 << 24 })).stdout;
  const etcdctl = (args: readonly string[]) =>
    exec(['env', 'ETCDCTL_API=3', 'etcdctl', '--endpoints=http://127.0.0.1:2379', ...args]);
  const cleanup = async (): Promise<void> => {
    await Promise.all(
      children.map(async (c) => {
        if (c.exitCode !== null || c.signalCode !== null) return;
        const exited = new Promise((r) => c.once('exit', r));
        c.kill('SIGKILL');
        await exited;
      }),
    );
    execFileSync('ip', ['netns', 'del', name]);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    sh('link', 'set', 'lo', 'up');
    sh('link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'ul1');
    sh('addr', 'add', '198.18.0.1/24', 'dev', 'ul0');
    sh('link', 'set', 'ul0', 'up');
    sh('link', 'set', 'ul1', 'up');
    const etcd = spawn(
      'ip',
      ['netns', 'exec', name, '/usr/bin/etcd', '--name=t', `--data-dir=${join(dir, 'etcd')}`],
      { stdio: 'ignore' },
    );
    children.push(etcd);
    await waitFor(
      () =>
        etcdctl(['endpoint', 'health']).then(
          () => true,
          () => false,
        ),
      `etcd in namespace ${name}`,
    );
  } catch (err) {
    await cleanup();
    throw err;
  }
  return {
    name,
    dir,
    endpoint: 'http://127.0.0.1:2379',
    exec,
    etcdctl,
    cleanup,
    startAgent(args, subnetFile) {
      if (!existsSync(FLANNELD)) throw new Error(`${FLANNELD} missing: run npm run build first`);
      const argv = [FLANNELD, `--subnet-file=${subnetFile}`, ...args];
      const child = spawn('ip', ['netns', 'exec', name, process.execPath, ...argv], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      return wrapAgent(child, subnetFile);
    },
  };
}
