// Shared helpers of the control-plane benchmark (issue #3): synthetic peers, the batch lines the
// agent would write for them, cheap route-table polling, deadlines and small statistics.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { encodeLeaseAttrs } from '@flannel-ts/core';

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
    // Byte-identical to upstream's lease value (SPEC 1.3), produced by the agent's own encoder.
    value: encodeLeaseAttrs({
      publicIp,
      publicIpv6: null,
      backendType: 'vxlan',
      backendData: { VNI: 1, VtepMAC: mac },
    }),
    // /proc/net/route prints the destination as the little-endian hex of the address.
    routeNeedle: `\n${DEVICE}\t${littleEndianHex(gateway)}\t`,
  };
}

function littleEndianHex(dotted) {
  return dotted
    .split('.')
    .reverse()
    .map((o) => Number(o).toString(16).toUpperCase().padStart(2, '0'))
    .join('');
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

// One buffer reused for every poll: reading /proc/net/route must stay cheap, because the poller
// shares two cores with the agent, etcd and iproute2.
const routeBuf = Buffer.allocUnsafe(8 << 20);

/** The calling process's namespace's IPv4 main routing table, read without spawning anything. */
export function readRouteTable() {
  const fd = openSync('/proc/net/route', 'r');
  let n = 0;
  try {
    for (;;) {
      const got = readSync(fd, routeBuf, n, routeBuf.length - n, null);
      if (got === 0) break;
      n += got;
      if (n === routeBuf.length) throw new Error('/proc/net/route larger than the poll buffer');
    }
  } finally {
    closeSync(fd);
  }
  return routeBuf.toString('latin1', 0, n);
}

/**
 * How many prefixes the kernel's FIB holds (first `Prefixes:` of /proc/net/fib_triestat: the main
 * trie, which also holds local routes unless policy rules split them). Only route changes move
 * it, and reading it costs ~0.2 ms at 5000 routes where /proc/net/route costs ~8 ms (text per
 * route), so it is the cheap trigger we poll; /proc/net/route then confirms the exact route.
 */
export function readPrefixCount() {
  const text = readFileSync('/proc/net/fib_triestat', 'latin1');
  const m = /Prefixes:\s+(\d+)/.exec(text);
  if (!m) throw new Error('no Prefixes: line in /proc/net/fib_triestat');
  return Number(m[1]);
}

/** How many routes on the VXLAN device the table shows. */
export function countDeviceRoutes(table) {
  const needle = `\n${DEVICE}\t`;
  let count = 0;
  for (let at = table.indexOf(needle); at !== -1; at = table.indexOf(needle, at + 1)) count++;
  return count;
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

/**
 * Polls until the FIB's prefix count satisfies `countOk` (cheap) and then `confirm()` agrees (exact, reads
 * /proc/net/route); returns when the prefix count was seen, so the slow confirming read does not
 * count. A count reached without confirmation (some other route moved) just keeps polling.
 */
export async function waitForRoutes(what, countOk, confirm, { intervalMs, timeoutMs, abort }) {
  let seenAt;
  await waitFor(
    what,
    () => {
      const count = readPrefixCount();
      const t = performance.now();
      if (!countOk(count) || !confirm()) return false;
      seenAt = t;
      return true;
    },
    { intervalMs, timeoutMs, abort },
  );
  return seenAt;
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
 * mostly the node binary's mapped text (~34 MiB for a bare node), RssAnon the process's own heap.
 */
export function processStats(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  // Fields after the parenthesised command name; utime and stime are the 12th and 13th of them.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[11]) + Number(rest[12]);
  return {
    rssMiB: kb('VmRSS') / 1024,
    hwmMiB: kb('VmHWM') / 1024,
    anonMiB: kb('RssAnon') / 1024,
    fileMiB: kb('RssFile') / 1024,
    cpuS: ticks / 100, // USER_HZ is 100 on Linux
  };
}

/** Mean milliseconds of one call of `fn` (the cost of one poll, i.e. its resolution). */
export function costMs(fn, n = 20) {
  const t = performance.now();
  for (let i = 0; i < n; i++) fn();
  return (performance.now() - t) / n;
}
