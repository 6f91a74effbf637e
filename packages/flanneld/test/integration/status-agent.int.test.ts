import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort } from '@flannel-ts/subnet/testing';
import { fetchAgentStatus } from '../../src/status/status-agent-client';
import { runStatus } from '../../src/status/status-cli';
import type { AgentStatus } from '../../src/status/status-model';

const READY: AgentStatus = {
  source: 'agent',
  version: 'v0.1.0',
  agent: { pid: 4242, startedAt: '2026-12-04T05:00:00Z', ready: true, tasks: [] },
  lease: { subnet: '10.5.1.0/24', publicIp: '10.99.0.1', kind: 'lease', expiresInSeconds: 86_000 },
  backend: { type: 'vxlan', device: 'flannel.1', mtu: 1450 },
  peers: [
    { subnet: '10.5.2.0/24', publicIp: '10.99.0.2', backendType: 'vxlan', state: 'programmed' },
  ],
  traffic: { mode: 'iptables', rules: [] },
  etcd: { endpoints: ['http://10.99.0.254:2379'], reachable: true },
  subnetFile: { path: '/run/flannel/subnet.env' },
};

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A tiny stand-in for the agent's health server, on a free loopback port. */
async function serve(handler: Handler): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

const json =
  (body: unknown, code = 200): Handler =>
  (req, res) => {
    if (req.url !== '/status') {
      res.writeHead(404).end('404 page not found\n');
      return;
    }
    res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

function capture(): { out: string[]; err: string[]; output: Parameters<typeof runStatus>[2] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, output: { stdout: (t) => out.push(t), stderr: (t) => err.push(t) } };
}

describe('flanneld status against a running agent’s health port', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
    server = undefined;
  });

  it('reads the status document, asking an agent bound to 0.0.0.0 on loopback', async () => {
    const s = await serve(json(READY));
    server = s.server;
    const answer = await fetchAgentStatus({ healthzIp: '0.0.0.0', port: s.port });
    expect(answer).toEqual({
      kind: 'status',
      url: `http://127.0.0.1:${s.port}/status`,
      status: READY,
    });
  });

  it('calls a 404 (an agent without /status, e.g. upstream flanneld) and a non-status body unexpected', async () => {
    const s = await serve((req, res) =>
      req.url === '/status'
        ? res.end('{"hello":1}')
        : res.writeHead(404).end('404 page not found\n'),
    );
    server = s.server;
    expect(await fetchAgentStatus({ healthzIp: '127.0.0.1', port: s.port })).toEqual({
      kind: 'unexpected',
      url: `http://127.0.0.1:${s.port}/status`,
      error: 'not a status document (missing or wrong: source, peers, etcd, traffic, subnetFile)',
    });
    const other = await serve((_req, res) => res.writeHead(404).end('404 page not found\n'));
    try {
      const answer = await fetchAgentStatus({ healthzIp: '127.0.0.1', port: other.port });
      expect(answer).toMatchObject({ kind: 'unexpected', error: 'HTTP 404: 404 page not found' });
    } finally {
      await new Promise((resolve) => other.server.close(resolve));
    }
  });

  it('gives up on an agent that does not answer within the timeout, and on a closed port', async () => {
    const s = await serve(() => undefined); // accepts, never answers
    server = s.server;
    const started = Date.now();
    const slow = await fetchAgentStatus({ healthzIp: '127.0.0.1', port: s.port, timeoutMs: 300 });
    expect(slow).toMatchObject({ kind: 'unreachable', error: 'no answer within 300 ms' });
    expect(Date.now() - started).toBeLessThan(2000);
    const closed = await fetchAgentStatus({ healthzIp: '127.0.0.1', port: await freePort() });
    expect(closed.kind).toBe('unreachable');
    expect(closed.kind === 'unreachable' && closed.error).toContain('ECONNREFUSED');
  });

  it('prints the table and exits 0 when the agent is ready, 1 when it is not', async () => {
    const s = await serve(json(READY));
    server = s.server;
    const ready = capture();
    const code = await runStatus([`--healthz-port=${s.port}`], {}, ready.output);
    expect(code).toBe(0);
    const text = ready.out.join('');
    expect(text).toContain(`from the agent at http://127.0.0.1:${s.port}/status (pid 4242`);
    expect(text).toMatch(/\n {2}10\.5\.2\.0\/24 +10\.99\.0\.2 +vxlan +programmed +-\n/);
    expect(text).toMatch(
      /\nOK: agent ready; lease 10\.5\.1\.0\/24 \(expires in 23h5\dm\); peers 1\/1 programmed; etcd reachable\n$/,
    );

    server.close();
    server.closeAllConnections();
    const notReady: AgentStatus = {
      ...READY,
      agent: { ...READY.agent!, ready: false, notReadyReason: 'no lease yet' },
    };
    const s2 = await serve(json(notReady));
    server = s2.server;
    const c = capture();
    expect(await runStatus(['--json', `--healthz-port=${s2.port}`], {}, c.output)).toBe(1);
    expect(JSON.parse(c.out.join(''))).toEqual(notReady);
  });

  it('reads directly when no agent answers, and shows an unreachable etcd instead of failing', async () => {
    const [agentPort, etcdPort] = [await freePort(), await freePort()];
    const c = capture();
    const code = await runStatus(
      [
        `--healthz-port=${agentPort}`,
        `--etcd-endpoints=http://127.0.0.1:${etcdPort}`,
        '--subnet-file=/nonexistent/flannel-status-test/subnet.env',
        '--json',
      ],
      {},
      c.output,
    );
    expect(code).toBe(1);
    const status = JSON.parse(c.out.join('')) as AgentStatus;
    expect(status).toMatchObject({
      source: 'direct',
      etcd: { endpoints: [`http://127.0.0.1:${etcdPort}`], reachable: false },
      peers: [],
    });
    expect(status.etcd.lastError).toContain(`127.0.0.1:${etcdPort}`);
    expect(status.notes?.slice(0, 2)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^no agent answered at http://127\\.0\\.0\\.1:${agentPort}/status \\(.*ECONNREFUSED.*\\); read etcd`,
        ),
      ),
      'no subnet file at /nonexistent/flannel-status-test/subnet.env',
    ]);
  });
});
