import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitUntil } from '@flannel-ts/core/testing';
import { startEtcd, startTcpProxy } from '@flannel-ts/subnet/testing';
import type { EtcdServer, TcpProxy } from '@flannel-ts/subnet/testing';
import { createWorkspace, startAgent, waitFor } from './agent-harness';
import type { Agent, Workspace } from './agent-harness';

// The outage is the thing under test, so its length is fixed (FLANNEL_OUTAGE_MS to try others).
const OUTAGE_MS = Number(process.env['FLANNEL_OUTAGE_MS'] ?? 10_000);
jest.setTimeout(OUTAGE_MS + 90_000);

let etcd: EtcdServer | undefined;
let proxy: TcpProxy | undefined;
let ws: Workspace | undefined;
let agent: Agent | undefined;

afterEach(async () => {
  if (agent && expect.getState().assertionCalls === 0) process.stdout.write(agent.output());
  await agent?.stop('SIGKILL');
  await proxy?.close();
  await etcd?.stop();
  await ws?.cleanup();
});

/** CPU seconds (user + system) the process has used, from /proc (clock ticks of 10 ms). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

describe('flanneld during an etcd outage', () => {
  it('logs the outage in two lines, stays idle, and follows etcd again when it is back', async () => {
    etcd = await startEtcd();
    proxy = await startTcpProxy(etcd.endpoint);
    ws = await createWorkspace();
    const prefix = `/e2e-${randomBytes(4).toString('hex')}/network`;
    const alloc = '{"Network":"10.5.0.0/16","Backend":{"Type":"alloc"}}';
    await etcd.etcdctl(['put', `${prefix}/config`, alloc]);
    agent = startAgent(
      [
        `--etcd-endpoints=${proxy.endpoint}`,
        `--etcd-prefix=${prefix}`,
        `--iface=${ws.iface}`,
        '--public-ip=10.77.9.1',
      ],
      join(ws.dir, 'outage.env'),
    );
    const a = agent;
    await waitFor(() => /lease renewal scheduled/.test(a.output()), 'the agent to hold its lease');
    const pid = a.child.pid!;
    const lines = (): string[] => a.output().split('\n').filter(Boolean);
    const before = lines().length;

    const cpuAtCut = await cpuSeconds(pid);
    const cutAt = Date.now();
    await proxy.cut();
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    const cpuPercent = (((await cpuSeconds(pid)) - cpuAtCut) / ((Date.now() - cutAt) / 1000)) * 100;
    await proxy.restore();
    const backAt = Date.now();
    // Deleting our lease once etcd is back: the own-lease watch must see it and take it back.
    const key = (await etcd.etcdctl(['get', '--prefix', '--keys-only', `${prefix}/subnets/`]))
      .trim()
      .split('\n')[0]!;
    await etcd.etcdctl(['del', key]);
    await waitFor(() => /lease re-acquired/.test(a.output()), 'the lease taken back', 15_000);
    const reactedMs = Date.now() - backAt;
    await waitUntil(() => /etcd is reachable again/.test(a.output()), 'the recovery line');

    const outage = lines().slice(before);
    const aboutEtcd = outage.filter((l) => /etcd/.test(l) && !/lease/.test(l));
    process.stdout.write(
      `flanneld, etcd outage ${OUTAGE_MS} ms: ${outage.length} lines (${aboutEtcd.length} about ` +
        `etcd), ${cpuPercent.toFixed(2)} % CPU, own lease re-taken ${reactedMs} ms after etcd ` +
        `returned\n${outage.join('\n')}\n`,
    );
    expect(aboutEtcd).toHaveLength(2);
    expect(aboutEtcd[0]).toMatch(/etcd is unreachable/);
    expect(aboutEtcd[1]).toMatch(/etcd is reachable again/);
    expect(outage.length).toBeLessThanOrEqual(6);
    expect(cpuPercent).toBeLessThan(2);
    expect(a.child.exitCode).toBeNull();
  });

  it('notices an etcd that hangs with its connections open, and says when it answers again', async () => {
    // No connection is refused or reset here: only gRPC keepalive pings can tell a hung etcd (or
    // a path that drops packets) from a quiet one before the lease is due for renewal, hours on.
    etcd = await startEtcd();
    proxy = await startTcpProxy(etcd.endpoint);
    ws = await createWorkspace();
    const prefix = `/e2e-${randomBytes(4).toString('hex')}/network`;
    await etcd.etcdctl([
      'put',
      `${prefix}/config`,
      '{"Network":"10.5.0.0/16","Backend":{"Type":"alloc"}}',
    ]);
    agent = startAgent(
      [
        `--etcd-endpoints=${proxy.endpoint}`,
        `--etcd-prefix=${prefix}`,
        `--iface=${ws.iface}`,
        '--public-ip=10.77.9.2',
      ],
      join(ws.dir, 'hang.env'),
    );
    const a = agent;
    await waitFor(() => /lease renewal scheduled/.test(a.output()), 'the agent to hold its lease');
    const frozenAt = Date.now();
    proxy.freeze();
    await waitFor(
      () => /etcd is unreachable/.test(a.output()),
      'the agent to notice the hung etcd',
      45_000,
    );
    const noticedMs = Date.now() - frozenAt;
    proxy.thaw();
    const thawedAt = Date.now();
    await waitFor(
      () => /etcd is reachable again/.test(a.output()),
      'the agent to see etcd answer again',
      45_000,
    );
    process.stdout.write(
      `flanneld, hung etcd: noticed after ${noticedMs} ms, back ${Date.now() - thawedAt} ms after it answered\n`,
    );
    expect(a.child.exitCode).toBeNull();
  });
});
