import { waitUntil as pollUntil } from '@flannel-ts/core/testing';
import { execFile, spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const LAB = resolve(__dirname, '../../../../scripts/lab');
const STATE = '/run/ftlab';
const FLANNELD = resolve(__dirname, '../../../../node_modules/.bin/flanneld');
/** The --healthz-port every lab agent serves on, inside its host namespace (scripts/lab). */
export const HEALTHZ_PORT = 8471;

/** The docker CLI that comes with dockerd (what `scripts/lab --docker` uses too). */
const DOCKER_CLI = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

/** Drives `scripts/lab` (the README's main job) for end-to-end tests of the overlay. */
export const lab = {
  /**
   * `scripts/lab up`; with `docker: true` (`--docker`) every host also runs a real dockerd with
   * the options flanneld wrote, container `c<i>` runs on its docker0 (not in namespace
   * `ftlab-c<i>`), the FORWARD policy of every host is DROP and flanneld runs with `--ip-masq`.
   * With `nftables: true` (`--nftables`) the network config says `"EnableNFTables": true` and
   * flanneld runs with `--ip-masq`. With `ipv6: 'dual'` (`--ipv6`) the lab is dual stack (IPv6
   * network fd10:5::/56, host i's eth0 also fd99::<i>, containers on both subnets); with
   * `ipv6: 'only'` (`--ipv6-only`) the config says `"EnableIPv4": false` and the containers have
   * IPv6 addresses only. With `extensionExample` (and backend `extension`) the network config is
   * that example of upstream's extension documentation, verbatim (`--extension-example`).
   * Rejects with the lab's last lines (its checks) when `up` fails.
   */
  async up(
    backend: string,
    flanneldArgs: string,
    options: {
      readonly docker?: boolean;
      readonly nftables?: boolean;
      readonly ipv6?: 'dual' | 'only';
      readonly extensionExample?: 'host-gw' | 'vxlan';
    } = {},
  ): Promise<void> {
    const flags = [
      ...(options.docker ? ['--docker'] : []),
      ...(options.nftables ? ['--nftables'] : []),
      ...(options.ipv6 === 'dual' ? ['--ipv6'] : options.ipv6 === 'only' ? ['--ipv6-only'] : []),
      ...(options.extensionExample ? ['--extension-example', options.extensionExample] : []),
    ];
    const argv = ['up', '--backend', backend, ...flags];
    try {
      await run(LAB, argv, {
        env: { ...process.env, FTLAB_SKIP_SETUP: '1', FTLAB_FLANNELD_ARGS: flanneldArgs },
        maxBuffer: 1 << 24,
      });
    } catch (err) {
      const e = err as { code?: unknown; stdout?: string; stderr?: string };
      if (e.stdout === undefined) throw err;
      const tail = (text: string | undefined): string =>
        (text ?? '').trimEnd().split('\n').slice(-40).join('\n');
      throw new Error(
        `scripts/lab ${argv.join(' ')} failed (exit ${String(e.code)}). Its last lines:\n` +
          `${tail(e.stdout)}\n${tail(e.stderr)}\n` +
          `Logs: /run/ftlab/h<i>/flanneld.log. Re-run it by hand: sudo FTLAB_SKIP_SETUP=1 ` +
          `FTLAB_FLANNELD_ARGS='${flanneldArgs}' scripts/lab ${argv.join(' ')} (then scripts/lab down)`,
      );
    }
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
  /** The `.2` container address of a host (in a `--docker` lab: the address dockerd gave c<i>). */
  containerIp(host: number): string {
    const recorded = `${STATE}/h${host}/container.ip`;
    if (existsSync(recorded)) return readFileSync(recorded, 'utf8').trim();
    return lab.env(host)['FLANNEL_SUBNET']!.replace(/\.1\/\d+$/, '.2');
  },
  /** `--docker` labs: the unix socket address of host's dockerd (for dockerode). */
  dockerHost(host: number): string {
    return `unix://${STATE}/h${host}/docker.sock`;
  },
  /** `--docker` labs: runs the docker CLI against host's dockerd and returns its stdout. */
  async docker(host: number, args: readonly string[]): Promise<string> {
    const { stdout } = await run(DOCKER_CLI, ['-H', lab.dockerHost(host), ...args], {
      env: { ...process.env, DOCKER_CONFIG: `${STATE}/docker-cli` },
      maxBuffer: 1 << 24,
      timeout: 60_000,
    });
    return stdout;
  },
  /** Like docker, but resolves to the exit code instead of throwing. */
  async dockerStatus(host: number, args: readonly string[]): Promise<number> {
    try {
      await lab.docker(host, args);
      return 0;
    } catch (err) {
      return (err as { code?: number }).code ?? 1;
    }
  },
  /**
   * The packet counter of the first rule of `chain` (in namespace `ns`) whose `iptables -S` line
   * contains `text`; undefined when there is no such rule.
   */
  async ruleCount(
    ns: string,
    table: string,
    chain: string,
    text: string,
  ): Promise<number | undefined> {
    const listing = await lab.exec(ns, ['iptables', '-w', '-t', table, '-v', '-S', chain]);
    const line = listing.split('\n').find((l) => l.includes(text));
    const count = line === undefined ? undefined : / -c (\d+) /.exec(line)?.[1];
    return count === undefined ? undefined : Number(count);
  },
  /** The subnet in network form, e.g. `10.5.3.0/24`. */
  subnet(host: number): string {
    return lab.env(host)['FLANNEL_SUBNET']!.replace(/\.1\//, '.0/');
  },
  /**
   * The IPv6 subnet in network form, e.g. `fd10:5:0:3::/64`, from FLANNEL_IPV6_SUBNET (which is
   * the subnet's `::1` with its prefix, as upstream writes it). Throws when it has another form.
   */
  subnet6(host: number): string {
    const v = lab.env(host)['FLANNEL_IPV6_SUBNET'] ?? '';
    const m = /^([0-9a-f:]*)::1\/(\d+)$/.exec(v);
    if (!m) throw new Error(`h${host}'s FLANNEL_IPV6_SUBNET is '${v}', not <subnet>::1/<len>`);
    return `${m[1]}::/${m[2]}`;
  },
  /** The `::2` IPv6 container address of a host (the lab's container on its IPv6 subnet). */
  containerIp6(host: number): string {
    return lab.subnet6(host).replace(/::\/\d+$/, '::2');
  },
  /** Host's IPv6 underlay address (eth0 in a `--ipv6`/`--ipv6-only` lab). */
  hostIp6(host: number): string {
    return `fd99::${host}`;
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
  /** Every lease in the lab's etcd: the value (exact text) by host IP (IPv4 labs). */
  async leaseValues(): Promise<Map<string, string>> {
    const out = await lab.etcdctl(['get', '--prefix', '/coreos.com/network/subnets']);
    const lines = out.trim().split('\n');
    const byHost = new Map<string, string>();
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const value = lines[i + 1]!;
      byHost.set((JSON.parse(value) as { PublicIP: string }).PublicIP, value);
    }
    return byHost;
  },
  /**
   * `GET path` on host's health port from inside its namespace, as a probe there would (curl):
   * the HTTP status and body. Rejects when nothing answers (curl's exit status says why).
   */
  async health(host: number, path: string): Promise<{ status: number; body: string }> {
    const url = `http://127.0.0.1:${HEALTHZ_PORT}${path}`;
    const out = await lab.exec(`h${host}`, ['curl', '-s', '-m', '5', '-w', '\n%{http_code}', url]);
    const cut = out.lastIndexOf('\n');
    return { status: Number(out.slice(cut + 1)), body: out.slice(0, cut) };
  },
  /** The flags host's running agent was started with (from its /proc cmdline, after the binary). */
  agentFlags(host: number): string[] {
    const argv = readFileSync(`/proc/${lab.pid(host)}/cmdline`, 'utf8')
      .split('\0')
      .filter(Boolean);
    const bin = argv.findIndex((a) => /flanneld(\.js)?$/.test(a));
    if (bin < 0)
      throw new Error(`h${host}'s agent command line has no flanneld: ${argv.join(' ')}`);
    return argv.slice(bin + 1);
  },
  /**
   * `flanneld status` inside host's namespace with its agent's own flags (as an operator runs it
   * with the unit's settings) plus `extra`: exit status and output. Never rejects on exit 1.
   */
  async flanneldStatus(
    host: number,
    extra: readonly string[] = [],
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const argv = ['netns', 'exec', `ftlab-h${host}`, FLANNELD, 'status'];
    try {
      const { stdout, stderr } = await run('ip', [...argv, ...lab.agentFlags(host), ...extra], {
        maxBuffer: 1 << 24,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: unknown; stdout?: string; stderr?: string };
      if (typeof e.code !== 'number') throw err;
      return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  },
  /** Kills host's agent with SIGKILL and starts it again with the same command line. */
  async killAndRestart(host: number): Promise<void> {
    const pid = lab.pid(host);
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    process.kill(pid, 'SIGKILL');
    await waitUntil(() => !isAlive(pid), `agent ${pid} to die`);
    const log = openSync(`${STATE}/h${host}/flanneld.log`, 'a');
    // setsid gives the agent its own session. Not `detached: true` as well: a child that already
    // leads its process group makes setsid fork, and the pid recorded would be setsid's, gone at once.
    const child = spawn('setsid', ['ip', 'netns', 'exec', `ftlab-h${host}`, ...argv], {
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

/** Polls `cond` every 100 ms until it holds; fails naming `what` after `timeoutMs` (default 20 s). */
export function waitUntil(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<number> {
  return pollUntil(cond, what, timeoutMs, 100);
}

/**
 * One sample of a Prometheus text by series, name and labels as printed (e.g.
 * `flannel_peers{state="programmed"}`); undefined when absent.
 */
export function metric(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** One ping with a 2 s deadline: the command every mesh check runs (`-6` for an IPv6 address). */
export function pingOnce(ip: string): string[] {
  return ['ping', ...(ip.includes(':') ? ['-6'] : []), '-c', '1', '-W', '2', ip];
}

/** Every ordered pair of distinct hosts, for full-mesh checks. */
export function meshPairs(hosts: readonly number[]): [number, number][] {
  return hosts.flatMap((from) =>
    hosts.filter((to) => to !== from).map((to): [number, number] => [from, to]),
  );
}

/** An address family of the lab: 4, or 6 (`--ipv6`, `--ipv6-only`). */
export type Family = 4 | 6;

/**
 * Every ordered pair of the hosts' containers that does not answer one ping in `family`, as
 * `c1->c2 (<address>)`; empty when the mesh is full.
 */
export async function unansweredPairs(family: Family, hosts: readonly number[]): Promise<string[]> {
  const missed: string[] = [];
  for (const [from, to] of meshPairs(hosts)) {
    const ip = family === 4 ? lab.containerIp(to) : lab.containerIp6(to);
    if ((await lab.status(`c${from}`, pingOnce(ip))) !== 0) missed.push(`c${from}->c${to} (${ip})`);
  }
  return missed;
}

/** Host's lease: the key (after `/subnets/`) that ends in `keyTail`, and its value as etcd holds it. */
export async function leaseEndingWith(
  host: number,
  keyTail: string,
): Promise<{ key: string; value: string }> {
  const prefix = '/coreos.com/network/subnets/';
  const out = await lab.etcdctl(['get', '--prefix', prefix]);
  const lines = out.trim().split('\n');
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const key = lines[i]!.slice(prefix.length);
    if (key.endsWith(keyTail)) return { key, value: lines[i + 1]! };
  }
  throw new Error(
    `no lease key ending in ${keyTail} for h${host} in etcd; the leases there:\n${out}\n` +
      `(see /run/ftlab/h${host}/flanneld.log)`,
  );
}

/** The MAC of `dev` in host's namespace. */
export async function deviceMac(host: number, dev: string): Promise<string> {
  return (await lab.exec(`h${host}`, ['cat', `/sys/class/net/${dev}/address`])).trim();
}

/**
 * The lease value upstream flanneld writes for lab host `host` on `backend` (vxlan or host-gw),
 * byte for byte (SPEC 1.3, and what v0.20.2 wrote in this lab): dual stack (`v4`) or IPv6 only
 * (PublicIP 0.0.0.0, no BackendData). The VTEP MACs are those of the host's devices.
 */
export async function upstreamLeaseValue(
  host: number,
  backend: string,
  v4: boolean,
): Promise<string> {
  const publicIp = v4 ? `10.99.0.${host}` : '0.0.0.0';
  const head = `{"PublicIP":"${publicIp}","PublicIPv6":"${lab.hostIp6(host)}","BackendType":"${backend}"`;
  if (backend !== 'vxlan') return `${head}}`;
  const v6 = `"BackendV6Data":{"VNI":1,"VtepMAC":"${await deviceMac(host, 'flannel-v6.1')}"}`;
  if (!v4) return `${head},${v6}}`;
  const v4data = `"BackendData":{"VNI":1,"VtepMAC":"${await deviceMac(host, 'flannel.1')}"}`;
  return `${head},${v4data},${v6}}`;
}
