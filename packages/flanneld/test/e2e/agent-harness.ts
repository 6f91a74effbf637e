import { waitUntil } from '@flannel-ts/core/testing';
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The built agent; the test command builds before it runs these tests. */
export const FLANNELD = resolve(__dirname, '../../dist/bin.js');

/** A running flanneld process with its captured output. */
export interface Agent {
  readonly child: ChildProcess;
  readonly subnetFile: string;
  output(): string;
  /** Sends a signal and resolves to the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export function startAgent(
  args: readonly string[],
  subnetFile: string,
  env: Record<string, string> = {},
): Agent {
  if (!existsSync(FLANNELD)) throw new Error(`${FLANNELD} missing: run npm run build first`);
  // These agents run in the test machine's own namespace: leave its firewall alone (the overlay
  // tests, in lab namespaces, cover the iptables rules).
  const argv = [FLANNELD, '--iptables-forward-rules=false', `--subnet-file=${subnetFile}`, ...args];
  const child = spawn(process.execPath, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  return wrapAgent(child, subnetFile);
}

/** An {@link Agent} around a started flanneld process: its output collected, its exit awaited. */
export function wrapAgent(child: ChildProcess, subnetFile: string): Agent {
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    subnetFile,
    output: () => out,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Polls `cond` every 50 ms until it holds, failing with `what` after `timeoutMs` (default 30 s). */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  await waitUntil(cond, what, timeoutMs, 50);
}

export async function readEnv(path: string): Promise<Record<string, string>> {
  const text = await readFile(path, 'utf8');
  return Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((l) => l.split('=') as [string, string]),
  );
}

/** A temp dir plus a veth pair in the root namespace for agents to select with --iface. */
export interface Workspace {
  readonly dir: string;
  readonly iface: string;
  cleanup(): Promise<void>;
}

export async function createWorkspace(): Promise<Workspace> {
  const dir = await mkdtemp(join(tmpdir(), 'ft-e2e-'));
  const tag = randomBytes(3).toString('hex');
  const iface = `ftv${tag}a`;
  execFileSync('ip', ['link', 'add', iface, 'type', 'veth', 'peer', 'name', `ftv${tag}b`]);
  execFileSync('ip', ['addr', 'add', '198.18.0.1/24', 'dev', iface]);
  execFileSync('ip', ['link', 'set', iface, 'up']);
  return {
    dir,
    iface,
    cleanup: async () => {
      try {
        execFileSync('ip', ['link', 'del', iface], { stdio: 'ignore' });
      } catch {
        // already gone
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
