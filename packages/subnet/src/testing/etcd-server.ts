import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A real etcd started for a test run: free loopback ports, a temporary data dir. */
export interface EtcdServer {
  readonly endpoint: string;
  readonly dataDir: string;
  /** Runs `etcdctl` (v3 API) against this server and returns its stdout. */
  etcdctl(args: readonly string[], extraEnv?: Record<string, string>): Promise<string>;
  stop(): Promise<void>;
}

/** TLS settings for {@link startEtcd}. */
export interface EtcdTlsOptions {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

const ETCD = '/usr/bin/etcd';

/** A free TCP port on 127.0.0.1 (the OS picks one; we release it for etcd to bind). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port')),
      );
    });
  });
}

function waitReady(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(
      () => reject(new Error(`etcd not ready after ${timeoutMs} ms:\n${log}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer): void => {
      log += chunk.toString();
      if (log.includes('ready to serve client requests')) {
        clearTimeout(timer);
        child.stderr?.off('data', onData);
        child.stderr?.resume();
        resolve();
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`etcd exited with ${code} before it was ready:\n${log}`));
    });
  });
}

/**
 * Starts `/usr/bin/etcd` (Debian package etcd-server) on free loopback ports with a temporary data
 * dir, and waits until it serves clients. `stop()` kills it and removes the data dir.
 */
export async function startEtcd(options: { tls?: EtcdTlsOptions } = {}): Promise<EtcdServer> {
  if (!existsSync(ETCD)) {
    throw new Error(
      `${ETCD} not found: install the Debian package etcd-server (scripts/setup.sh does)`,
    );
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'ft-etcd-'));
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const scheme = options.tls ? 'https' : 'http';
  const endpoint = `${scheme}://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const tlsArgs = options.tls
    ? [
        `--cert-file=${options.tls.certFile}`,
        `--key-file=${options.tls.keyFile}`,
        `--trusted-ca-file=${options.tls.caFile}`,
        '--client-cert-auth',
      ]
    : [];
  const child = spawn(
    ETCD,
    [
      '--name=t',
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${endpoint}`,
      `--advertise-client-urls=${endpoint}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=t=${peer}`,
      ...tlsArgs,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await waitReady(child, 20_000);
  } catch (err) {
    await stop();
    throw err;
  }
  const tlsCtl = options.tls
    ? [
        `--cacert=${options.tls.caFile}`,
        `--cert=${options.tls.certFile}`,
        `--key=${options.tls.keyFile}`,
      ]
    : [];
  return {
    endpoint,
    dataDir,
    stop,
    etcdctl: (args, extraEnv = {}) =>
      new Promise((resolve, reject) => {
        execFile(
          'etcdctl',
          [`--endpoints=${endpoint}`, ...tlsCtl, ...args],
          { env: { ...process.env, ETCDCTL_API: '3', ...extraEnv } },
          (err, stdout, stderr) =>
            err
              ? reject(new Error(`etcdctl ${args.join(' ')}: ${stderr || err.message}`))
              : resolve(stdout),
        );
      }),
  };
}
