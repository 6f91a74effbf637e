// Shared helpers of the control-plane benchmark: synthetic peers, the batch lines the agent would
// write for them, CPU and memory readings, deadlines and small statistics.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** Where the synthetic network lives; the same in the agent run and the raw baseline. */
export const PREFIX = '/ftbench/network';
export const NETWORK_CONFIG = '{"Network":"10.0.0.0/8","SubnetLen":24,"Backend":{"Type":"vxlan"}}';
export const DEVICE = 'flannel.1';
export const UNDERLAY_IP = '10.200.0.1';

/**
 * Synthetic peer number i: subnet 10.(1+i/256).(i%256).0/24 (never inside the underlay
 * 10.200.0.0/16, so no peer route can shadow a PublicIP), PublicIP 10.200.(1+i/250).(1+i%250)
 * (never 10.200.0.1, the agent's own address), and a unique locally administered unicast MAC.
 */
export function peer(i) {
  const a = 1 + Math.floor(i / 256);
  const b = i % 256;
  const gateway = `10.${a}.${b}.0`;
  const publicIp = `10.200.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
  const hex = (n) => n.toString(16).padStart(2, '0');
  const mac = `02:fb:00:${hex((i >> 16) & 255)}:${hex((i >> 8) & 255)}:${hex(i & 255)}`;
  return {
    subnet: `${gateway}/24`,
    gateway,
    publicIp,
    mac,
    key: `${PREFIX}/subnets/${gateway}-24`,
    // Byte-identical to upstream's vxlan lease value (SPEC 1.3), written out here rather than by
    // either agent's encoder, so that both agents read the same bytes.
    value: `{"PublicIP":"${publicIp}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${mac}"}}`,
  };
}

/** The inverse of peer(i).gateway: `10.a.b.0` -> i, or -1 for an address that is no peer's. */
export function peerIndexOfGateway(dotted) {
  const [ten, a, b, zero] = dotted.split('.').map(Number);
  if (ten !== 10 || zero !== 0 || a < 1 || a >= 200) return -1;
  return (a - 1) * 256 + b;
}

/** The batch lines the agent writes for peers [0, k): same text and order as apply.ts/plan.ts. */
export function batchLines(k) {
  const fdb = [];
  const neigh = [];
  const routes = [];
  for (let i = 0; i < k; i++) {
    const p = peer(i);
    fdb.push(`fdb replace ${p.mac} dev ${DEVICE} dst ${p.publicIp} self permanent`);
    neigh.push(`neigh replace ${p.gateway} lladdr ${p.mac} dev ${DEVICE} nud permanent`);
    routes.push(`route replace ${p.subnet} via ${p.gateway} dev ${DEVICE} onlink`);
  }
  return { bridge: fdb, ip: [...neigh, ...routes] };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` every `intervalMs` until it returns true; throws a clear error after `timeoutMs`
 * (every wait in the benchmark is bounded). `abort()` may throw to stop early (e.g. agent died).
 */
export async function waitFor(what, check, { intervalMs, timeoutMs, abort = () => {} }) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (check()) return performance.now();
    abort();
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(intervalMs);
  }
}

/** Runs a command to completion (bounded); rejects with its stderr on a non-zero exit. */
export function run(cmd, args, { timeoutMs = 30_000, input } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${sig ?? code}): ${err.trim()}`));
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * VmRSS, VmHWM, RssAnon, RssFile (MiB) and user+system CPU seconds of a live process. RssFile is
 * mostly the executable's mapped text (~34 MiB for a bare node), RssAnon the process's own heap.
 */
export function processStats(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  const stat = procStat(pid);
  return {
    rssMiB: kb('VmRSS') / 1024,
    hwmMiB: kb('VmHWM') / 1024,
    anonMiB: kb('RssAnon') / 1024,
    fileMiB: kb('RssFile') / 1024,
    cpuS: stat.ownS,
  };
}

/**
 * /proc/PID/stat: parent pid, own CPU (utime+stime) and reaped children's CPU (cutime+cstime),
 * in seconds (USER_HZ is 100 on Linux).
 */
export function procStat(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name: ppid is the 2nd, utime..cstime the 12th..15th.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const n = (i) => Number(rest[i]) / 100;
  return { ppid: Number(rest[1]), ownS: n(11) + n(12), childrenS: n(13) + n(14) };
}

/** Pids of the live descendants of `pid` (one scan of /proc). */
export function descendants(pid) {
  const parent = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      parent.set(Number(name), procStat(name).ppid);
    } catch {
      // Exited between the listing and the read.
    }
  }
  const out = [];
  const within = (p) => {
    for (let q = parent.get(p); q !== undefined && q > 1; q = parent.get(q))
      if (q === pid) return true;
    return false;
  };
  for (const p of parent.keys()) if (within(p)) out.push(p);
  return out;
}

/**
 * CPU seconds of a process tree without a cgroup: the process's own time, its reaped children's
 * (cutime/cstime), and its live descendants' own time. A child alive at the first reading and
 * reaped before the second moves from the live sum to cutime, so a difference of two readings is
 * the tree's CPU in between (children reaped by a grandchild that is itself still alive are missed).
 */
export function treeCpuS(pid) {
  const top = procStat(pid);
  let s = top.ownS + top.childrenS;
  for (const d of descendants(pid)) {
    try {
      s += procStat(d).ownS;
    } catch {
      // Exited meanwhile: its time is in its parent's cutime from now on.
    }
  }
  return s;
}

/** Summary of samples (ms): count, p50, p99, max. */
export function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] };
}
