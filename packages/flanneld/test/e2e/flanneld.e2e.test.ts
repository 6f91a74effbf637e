import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startEtcd } from '@flannel-ts/subnet/testing';
import type { EtcdServer } from '@flannel-ts/subnet/testing';
import { createWorkspace, readEnv, startAgent, waitFor } from './agent-harness';
import type { Agent, Workspace } from './agent-harness';

jest.setTimeout(120_000);

let etcd: EtcdServer;
let ws: Workspace;
const running: Agent[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
  ws = await createWorkspace();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((a) => a.stop('SIGKILL')));
});
afterAll(async () => {
  await etcd?.stop();
  await ws?.cleanup();
});

function newPrefix(): string {
  return `/e2e-${randomBytes(4).toString('hex')}/network`;
}

function agent(
  prefix: string,
  name: string,
  publicIp: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): Agent {
  const a = startAgent(
    [
      `--etcd-endpoints=${etcd.endpoint}`,
      `-etcd-prefix=${prefix}`,
      '-iface',
      ws.iface,
      `--public-ip=${publicIp}`,
      ...extra,
    ],
    join(ws.dir, `${name}.env`),
    env,
  );
  running.push(a);
  return a;
}

async function leases(prefix: string): Promise<Map<string, string>> {
  const out = await etcd.etcdctl(['get', '--prefix', `${prefix}/subnets/`]);
  const lines = out.trim().split('\n').filter(Boolean);
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < lines.length; i += 2)
    map.set(lines[i]!.slice(prefix.length + 9), lines[i + 1]!);
  return map;
}

const ALLOC = '{"Network":"10.5.0.0/16","Backend":{"Type":"alloc"}}';

describe('flanneld with the alloc backend against a real etcd', () => {
  it('gives 40 agents started at once 40 distinct subnets, each file matching its lease', async () => {
    const prefix = newPrefix();
    await etcd.etcdctl(['put', `${prefix}/config`, ALLOC]);
    const agents = Array.from({ length: 40 }, (_, i) => agent(prefix, `h${i}`, `10.77.0.${i + 1}`));
    await waitFor(
      () => agents.every((a) => existsSync(a.subnetFile)),
      'all 40 subnet files',
      90_000,
    );
    const byKey = await leases(prefix);
    expect(byKey.size).toBe(40);
    const subnets = new Set<string>();
    for (const [i, a] of agents.entries()) {
      const env = await readEnv(a.subnetFile);
      expect(env['FLANNEL_NETWORK']).toBe('10.5.0.0/16');
      expect(env['FLANNEL_IPMASQ']).toBe('false');
      const key = env['FLANNEL_SUBNET']!.replace(/\.1\/24$/, '.0-24');
      expect(byKey.get(key)).toBe(`{"PublicIP":"10.77.0.${i + 1}","PublicIPv6":null}`);
      subnets.add(key);
    }
    expect(subnets.size).toBe(40);
    // SIGTERM: exit 0, leases stay in etcd for a restart to reuse.
    const codes = await Promise.all(agents.map((a) => a.stop('SIGTERM')));
    expect(codes.every((c) => c === 0)).toBe(true);
    expect((await leases(prefix)).size).toBe(40);
  });

  it('keeps the subnet across a restart, even when SIGKILLed', async () => {
    const prefix = newPrefix();
    await etcd.etcdctl(['put', `${prefix}/config`, ALLOC]);
    const first = agent(prefix, 'restart', '10.77.1.1');
    await waitFor(() => existsSync(first.subnetFile), 'the subnet file');
    const before = (await readEnv(first.subnetFile))['FLANNEL_SUBNET'];
    await first.stop('SIGKILL');
    const second = agent(prefix, 'restart', '10.77.1.1');
    await waitFor(() => /wrote subnet file/.test(second.output()), 'the restarted agent');
    expect((await readEnv(second.subnetFile))['FLANNEL_SUBNET']).toBe(before);
    expect((await leases(prefix)).size).toBe(1);
  });

  it('honours a reservation, which still has no TTL afterwards', async () => {
    const prefix = newPrefix();
    await etcd.etcdctl(['put', `${prefix}/config`, ALLOC]);
    const key = `${prefix}/subnets/10.5.200.0-24`;
    await etcd.etcdctl(['put', key, '{"PublicIP":"10.77.2.1"}']);
    const a = agent(prefix, 'reserved', '10.77.2.1');
    await waitFor(() => existsSync(a.subnetFile), 'the subnet file');
    expect((await readEnv(a.subnetFile))['FLANNEL_SUBNET']).toBe('10.5.200.1/24');
    const kv = JSON.parse(await etcd.etcdctl(['get', key, '-w', 'json'])) as {
      kvs: { lease?: number }[];
    };
    expect(kv.kvs[0]!.lease ?? 0).toBe(0);
  });

  it('says clearly when the range is exhausted, and writes nothing', async () => {
    const prefix = newPrefix();
    await etcd.etcdctl([
      'put',
      `${prefix}/config`,
      '{"Network":"10.6.0.0/28","Backend":{"Type":"alloc"}}',
    ]);
    const three = [1, 2, 3].map((i) => agent(prefix, `x${i}`, `10.77.3.${i}`));
    await waitFor(() => three.every((a) => existsSync(a.subnetFile)), 'three subnet files');
    const fourth = agent(prefix, 'x4', '10.77.3.4');
    expect(await fourth.exited).toBe(1);
    expect(fourth.output()).toMatch(
      /out of subnets: all 3 \/30 subnets of 10\.6\.0\.0\/28 from 10\.6\.0\.4 to 10\.6\.0\.12 are taken/,
    );
    expect(existsSync(fourth.subnetFile)).toBe(false);
  });

  it('reports an invalid config once, takes no lease, and goes on when a valid one appears', async () => {
    const prefix = newPrefix();
    await etcd.etcdctl([
      'put',
      `${prefix}/config`,
      '{"Network":"10.5.0.0/16","SubnetLen":31,"Backend":{"Type":"alloc"}}',
    ]);
    const a = agent(prefix, 'badcfg', '10.77.4.1');
    await waitFor(
      () => /SubnetLen=31: SubnetLen must be less than \/31/.test(a.output()),
      'the config error',
    );
    expect((await leases(prefix)).size).toBe(0);
    expect(existsSync(a.subnetFile)).toBe(false);
    await etcd.etcdctl(['put', `${prefix}/config`, ALLOC]);
    await waitFor(() => existsSync(a.subnetFile), 'the agent to go on with the valid config', 5000);
    expect(a.output().match(/invalid network config/g)).toHaveLength(1);
  });

  it('ignores a corrupt previous subnet file with a warning', async () => {
    const prefix = newPrefix();
    await etcd.etcdctl(['put', `${prefix}/config`, ALLOC]);
    await writeFile(join(ws.dir, 'corrupt.env'), 'FLANNEL_SUBNET=10.5.999.1/24\n\u0000garbage\n');
    const a = agent(prefix, 'corrupt', '10.77.5.1');
    await waitFor(() => /wrote subnet file/.test(a.output()), 'the subnet file');
    expect(a.output()).toMatch(/ignoring what cannot be trusted in the previous subnet file/);
    expect((await readEnv(a.subnetFile))['FLANNEL_SUBNET']).toMatch(/^10\.5\.\d+\.1\/24$/);
  });

  it('names the endpoint while etcd is unreachable, and still exits 0 on SIGTERM', async () => {
    const a = startAgent(
      ['--etcd-endpoints=http://127.0.0.1:9', '--iface', ws.iface],
      join(ws.dir, 'down.env'),
    );
    running.push(a);
    await waitFor(
      () => /cannot read the network config on etcd at http:\/\/127\.0\.0\.1:9/.test(a.output()),
      'the error',
    );
    expect(await a.stop('SIGTERM')).toBe(0);
  });

  it('answers bad flags with usage and exit status 2', async () => {
    const a = startAgent(['--no-such-flag'], join(ws.dir, 'flags.env'));
    expect(await a.exited).toBe(2);
    expect(a.output()).toMatch(/Usage: flanneld/);
  });

  it('writes dockerd options and daemon.json, then tells systemd it is ready', async () => {
    const prefix = newPrefix();
    await etcd.etcdctl(['put', `${prefix}/config`, ALLOC]);
    const daemonJson = join(ws.dir, 'daemon.json');
    await writeFile(daemonJson, '{"log-driver":"journald"}\n');
    // A stand-in for systemd: a unix datagram socket (Node has none, so python3 listens), which
    // prints each message with whether the subnet file existed when it arrived.
    const sock = join(ws.dir, 'notify.sock');
    const listener = spawn('python3', [
      '-c',
      'import os,socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("bound",flush=True)\nm=s.recv(4096).decode()\nprint(" ".join(m.split()),os.path.exists(sys.argv[2]),flush=True)',
      sock,
      join(ws.dir, 'docker.env'),
    ]);
    let heard = '';
    listener.stdout.on('data', (d: Buffer) => (heard += d.toString()));
    await waitFor(() => heard.includes('bound'), 'the notify socket');
    const a = agent(
      prefix,
      'docker',
      '10.77.6.1',
      [
        `--docker-opts-file=${join(ws.dir, 'docker_opts.env')}`,
        `--docker-daemon-json=${daemonJson}`,
      ],
      { NOTIFY_SOCKET: sock },
    );
    await waitFor(() => /READY=1.* (True|False)/.test(heard), 'READY=1 on NOTIFY_SOCKET');
    listener.kill();
    // Ready only once the files exist, and attributed to the agent's own PID.
    expect(heard).toContain(`READY=1 MAINPID=${a.child.pid} True`);
    const subnet = (await readEnv(a.subnetFile))['FLANNEL_SUBNET']!;
    expect(await readFile(join(ws.dir, 'docker_opts.env'), 'utf8')).toBe(
      `DOCKER_OPT_BIP="--bip=${subnet}"\nDOCKER_OPT_IPMASQ="--ip-masq=true"\nDOCKER_OPT_MTU="--mtu=1500"\nDOCKER_OPTS=" --bip=${subnet} --ip-masq=true --mtu=1500"\n`,
    );
    expect(JSON.parse(await readFile(daemonJson, 'utf8'))).toEqual({
      'log-driver': 'journald',
      bip: subnet,
      mtu: 1500,
      'ip-masq': true,
    });
  });
});
