// Issue 9 "Health and metrics", black-box: a real flanneld (vxlan) in a throwaway namespace with
// its own etcd, probed on --healthz-port from inside that namespace with curl.
import { join } from 'node:path';
import { readEnv, waitFor } from './agent-harness';
import type { Agent } from './agent-harness';
import { createHostNamespace } from './netns-harness';
import type { HostNamespace } from './netns-harness';

jest.setTimeout(120_000);

const PORT = 10249;
const CONFIG = '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}';
const peerValue = (publicIp: string, mac: string): string =>
  JSON.stringify({
    PublicIP: publicIp,
    PublicIPv6: null,
    BackendType: 'vxlan',
    BackendData: { VNI: 1, VtepMAC: mac },
  });

let host: HostNamespace;
let agent: Agent;

beforeAll(async () => {
  host = await createHostNamespace();
});
afterAll(async () => {
  await agent?.stop('SIGKILL');
  await host?.cleanup();
});

/** `curl` inside the namespace: status code and body. */
async function get(path: string): Promise<{ status: number; body: string }> {
  const out = await host.exec([
    'curl',
    '-s',
    '-m',
    '5',
    '-w',
    '\n%{http_code}',
    `http://127.0.0.1:${PORT}${path}`,
  ]);
  const cut = out.lastIndexOf('\n');
  return { status: Number(out.slice(cut + 1)), body: out.slice(0, cut) };
}

/** One sample of the Prometheus text, by metric name with labels, e.g. `flannel_peers{state="known"}`. */
function sample(metrics: string, series: string): number | undefined {
  const line = metrics.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('/healthz, /readyz, /metrics and /status of a real agent', () => {
  it('is alive but not ready while it waits for a config, then ready with metrics that tell the truth', async () => {
    const prefix = '/coreos.com/network';
    agent = host.startAgent(
      [
        `--etcd-endpoints=${host.endpoint}`,
        '--iface=ul0',
        `--healthz-port=${PORT}`,
        '--iptables-forward-rules=false',
        '--ip-blackhole-route',
      ],
      join(host.dir, 'subnet.env'),
    );
    await waitFor(
      async () => (await get('/healthz').catch(() => undefined)) !== undefined,
      'the health server',
    );
    expect(await get('/healthz')).toEqual({ status: 200, body: 'flanneld is running' });
    const waiting = await get('/readyz');
    expect(waiting.status).toBe(503);
    expect(waiting.body).toMatch(
      /^flanneld is not ready yet: waiting for a valid network config \(flannel config not found in etcd store/,
    );

    // Two peers on the underlay, then the config: the agent leases, writes the file, programs them.
    await host.etcdctl([
      'put',
      `${prefix}/subnets/10.5.7.0-24`,
      peerValue('198.18.0.7', 'aa:bb:cc:00:00:07'),
    ]);
    await host.etcdctl([
      'put',
      `${prefix}/subnets/10.5.8.0-24`,
      peerValue('198.18.0.8', 'aa:bb:cc:00:00:08'),
    ]);
    await host.etcdctl(['put', `${prefix}/config`, CONFIG]);
    await waitFor(async () => (await get('/readyz')).status === 200, '/readyz to answer 200');
    expect((await get('/readyz')).body).toBe('flanneld is ready');

    const m1 = (await get('/metrics')).body;
    expect(sample(m1, 'flannel_peers{state="known"}')).toBe(2);
    expect(sample(m1, 'flannel_peers{state="programmed"}')).toBe(2);
    expect(sample(m1, 'flannel_peers{state="skipped"}')).toBe(0);
    // Per peer a route, a neighbour and an FDB entry, at least.
    expect(sample(m1, 'flannel_kernel_changes_total')).toBeGreaterThanOrEqual(6);
    const expiry = sample(m1, 'flannel_lease_expiry_seconds{kind="lease"}') ?? 0;
    expect(expiry).toBeGreaterThan(86_000);
    expect(expiry).toBeLessThanOrEqual(86_400);
    expect(sample(m1, 'flannel_event_to_kernel_seconds_count')).toBe(2);
    expect(sample(m1, 'flannel_data_plane_repairs_total')).toBe(0);
    expect(m1).toMatch(/^process_resident_memory_bytes \d+/m);

    // A third peer arrives, a route is deleted by hand, a garbage lease is written.
    await host.etcdctl([
      'put',
      `${prefix}/subnets/10.5.9.0-24`,
      peerValue('198.18.0.9', 'aa:bb:cc:00:00:09'),
    ]);
    await waitFor(async () => {
      const m = (await get('/metrics')).body;
      return sample(m, 'flannel_peers{state="programmed"}') === 3;
    }, 'the third peer to be programmed');
    await host.exec(['ip', 'route', 'del', '10.5.7.0/24']);
    await waitFor(async () => {
      const m = (await get('/metrics')).body;
      return (sample(m, 'flannel_data_plane_repairs_total') ?? 0) >= 1;
    }, 'the repair to be counted');
    expect(await host.exec(['ip', 'route', 'show', '10.5.7.0/24'])).toMatch(
      /via 10\.5\.7\.0 dev flannel\.1 onlink/,
    );
    await host.etcdctl(['put', `${prefix}/subnets/10.5.10.0-24`, 'not json']);
    await waitFor(async () => {
      const m = (await get('/metrics')).body;
      return sample(m, 'flannel_leases_rejected_total{reason="value is not JSON"}') === 1;
    }, 'the rejection to be counted');
    const m2 = (await get('/metrics')).body;
    expect(sample(m2, 'flannel_event_to_kernel_seconds_count')).toBe(3);
    expect(sample(m2, 'flannel_peers{state="known"}')).toBe(3);

    // --ip-blackhole-route: our own subnet has a blackhole route, kept like every other entry.
    const own = (await readEnv(agent.subnetFile)).FLANNEL_SUBNET?.replace(/\.1\//, '.0/') ?? '';
    expect(await host.exec(['ip', 'route', 'show', 'type', 'blackhole'])).toContain(
      `blackhole ${own}`,
    );

    // /status: the same facts as JSON.
    const status = JSON.parse((await get('/status')).body) as {
      source: string;
      agent: { ready: boolean; tasks: { name: string; state: string }[] };
      lease: { subnet: string; kind: string };
      backend: { type: string; device: string };
      peers: { subnet: string; state: string }[];
    };
    const env = await readEnv(agent.subnetFile);
    expect(status.source).toBe('agent');
    expect(status.agent.ready).toBe(true);
    expect(status.lease).toMatchObject({
      subnet: env.FLANNEL_SUBNET?.replace(/\.1\//, '.0/'),
      kind: 'lease',
    });
    expect(status.backend).toMatchObject({ type: 'vxlan', device: 'flannel.1' });
    expect(status.agent.tasks.map((t) => `${t.name}:${t.state}`).sort()).toEqual([
      'data plane:running',
      'health server:running',
      'kernel monitor:running',
      'lease:running',
      'peer watch:running',
    ]);
    expect(status.peers.map((p) => `${p.subnet} ${p.state}`)).toEqual([
      '10.5.7.0/24 programmed',
      '10.5.8.0/24 programmed',
      '10.5.9.0/24 programmed',
      '10.5.10.0/24 rejected',
    ]);
    expect(await get('/nothing')).toMatchObject({ status: 404 });
    // A dozen tasks share the supervisor's signal by design: no listener-leak warning.
    expect(agent.output()).not.toMatch(/MaxListenersExceededWarning/);
  });

  it('exits 1 naming the port when --healthz-port is already in use', async () => {
    const second = host.startAgent(
      [`--etcd-endpoints=${host.endpoint}`, '--iface=ul0', `--healthz-port=${PORT}`],
      join(host.dir, 'second.env'),
    );
    expect(await second.exited).toBe(1);
    expect(second.output()).toMatch(
      /cannot serve health checks on 0\.0\.0\.0:10249 \(--healthz-ip\/--healthz-port\): the port is already in use by another process; choose another --healthz-port or stop that process/,
    );
    expect(second.output()).toMatch(/code=HEALTHZ_PORT_IN_USE/);
  });
});
