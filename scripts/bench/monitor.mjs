// The benchmark's view of the kernel: long-lived `ip monitor link`, `ip monitor route` and
// `ip monitor neigh` children started inside the namespace under test. Every change the agent
// makes (or we make by hand) arrives as one text line within ~0.15 ms, stamped with its arrival
// time, so nothing polls the route table (reading /proc/net/route at 5000 routes costs ~6 ms a read
// and would skew both agents). The monitor keeps the set of peer entries present and resolves
// waiters. One netlink socket per object type, each with the largest receive buffer the kernel
// allows: deleting a device with 5000 peers floods the neighbour group with 10000 messages, which
// overflows a shared default-sized socket (ENOBUFS) and loses the link's own Deleted message.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { DEVICE, UNDERLAY_IP, peerIndexOfGateway, run } from './lib.mjs';

const dev = DEVICE.replace('.', '\\.');
// `10.1.0.0/24 via 10.1.0.0 dev flannel.1 onlink` / `Deleted 10.1.0.0/24 via …`
const ROUTE = new RegExp(`^(Deleted )?(10\\.\\d+\\.\\d+\\.0)/24 via \\S+ dev ${dev}(?: |$)`);
// Neighbours: `10.1.0.0 dev flannel.1 lladdr 02:… PERMANENT` / `Deleted 10.1.0.0 dev flannel.1 …`.
// The neighbour group also carries the device's FDB entries (family AF_BRIDGE), printed as
// `10.200.1.1 dev flannel.1 lladdr 02:fb:… NOARP PERMANENT` (dst = the peer's PublicIP, which never
// ends in .0, while every peer gateway does).
const NEIGH = new RegExp(`^(Deleted )?(\\d+\\.\\d+\\.\\d+\\.\\d+) dev ${dev} (.*)$`);
const LLADDR = /\blladdr ([0-9a-f]{2}(?::[0-9a-f]{2}){5})\b/;
// `7: flannel.1: <BROADCAST,…,UP,LOWER_UP> mtu 1450 …` / `Deleted 7: flannel.1: <…>`
const LINK = new RegExp(`^(Deleted )?\\d+: ${dev}(?:@\\S+)?: <([^>]*)>`);
const PROBE = 'ftbprobe';

/** The largest socket receive buffer a process may ask for (net.core.rmem_max), at most 64 MiB. */
function maxReceiveBuffer() {
  try {
    return Math.min(64 << 20, Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8')));
  } catch {
    return 1 << 20;
  }
}

export class KernelMonitor {
  constructor(onExit = () => {}) {
    this.onExit = onExit;
    this.children = [];
    /** Peer entries present, by peer index: the monitor's replica of the kernel state. */
    this.routes = new Set();
    this.neighs = new Set();
    this.fdbs = new Set();
    this.deviceUp = false;
    this.deviceDeletions = 0;
    /** `netlink receive error` lines: the kernel dropped messages (lines may be missing). */
    this.overflows = 0;
    this.lastEventAt = 0;
    this.waiters = new Set();
    this.probeSeen = {};
    this.stopping = false;
    this.macToIndex = new Map();
  }

  /** Peers whose MAC the FDB lines may name (MACs are unique per peer index). */
  knowMac(mac, index) {
    this.macToIndex.set(mac, index);
  }

  /**
   * Spawns the monitors and returns once each has reported a throwaway probe device's change
   * (the device, a route and a neighbour on it, removed again), i.e. once every socket listens.
   */
  async start() {
    const rcvbuf = String(maxReceiveBuffer());
    for (const [object, onLine] of [
      ['link', (l, t) => this.linkLine(l, t)],
      ['route', (l, t) => this.routeLine(l, t)],
      ['neigh', (l, t) => this.neighLine(l, t)],
    ]) {
      this.probeSeen[object] = false;
      this.spawnMonitor(object, ['-rcvbuf', rcvbuf, 'monitor', object], (line, t) => {
        if (line.includes(PROBE)) this.probeSeen[object] = true;
        else onLine(line, t);
      });
    }
    const deadline = performance.now() + 5000;
    for (let attempt = 0; !Object.values(this.probeSeen).every(Boolean); attempt++) {
      if (performance.now() > deadline) throw new Error('ip monitor did not start');
      await run('ip', ['-batch', '-'], {
        input: [
          `link add ${PROBE} type vxlan id 4094 local ${UNDERLAY_IP} dev v0 dstport 8473 nolearning`,
          `link set ${PROBE} up`,
          `route add 10.254.254.0/24 dev ${PROBE}`,
          `neigh add 10.254.254.1 lladdr 02:00:00:00:00:01 dev ${PROBE} nud permanent`,
          '',
        ].join('\n'),
      });
      await new Promise((r) => setTimeout(r, 20 + 50 * attempt));
      await run('ip', ['link', 'del', PROBE]);
    }
  }

  spawnMonitor(object, args, onLine) {
    const child = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.push(child);
    let partial = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      const t = performance.now();
      const lines = (partial + chunk).split('\n');
      partial = lines.pop();
      for (const line of lines) onLine(line, t);
    });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (c) => {
      err += c;
      this.overflows += c.split('netlink receive error').length - 1;
    });
    child.on('exit', (code, sig) => {
      if (!this.stopping)
        this.onExit(`ip monitor ${object} exited (${sig ?? code}): ${err.trim()}`);
    });
  }

  stop() {
    this.stopping = true;
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill();
    for (const w of [...this.waiters]) w.finish();
  }

  routeLine(line, t) {
    const m = ROUTE.exec(line);
    if (m) this.event('route', peerIndexOfGateway(m[2]), !m[1], t);
  }

  neighLine(line, t) {
    const m = NEIGH.exec(line);
    if (!m) return;
    const deleted = Boolean(m[1]);
    const gateway = peerIndexOfGateway(m[2]);
    if (gateway >= 0) {
      // A permanent entry with its lladdr is present; `FAILED` etc. without Deleted is transient.
      const present = !deleted && /\blladdr \S+ .*PERMANENT/.test(m[3]);
      if (deleted || present) this.event('neigh', gateway, present, t);
      return;
    }
    const mac = LLADDR.exec(m[3])?.[1];
    const index = mac === undefined ? undefined : this.macToIndex.get(mac);
    if (index !== undefined) this.event('fdb', index, !deleted, t);
  }

  linkLine(line, t) {
    const m = LINK.exec(line);
    if (!m) return; // other devices, and continuation lines of a link message
    const up = !m[1] && m[2].split(',').includes('UP');
    if (m[1]) {
      // The kernel drops the device's routes without a Deleted line for them (and its neighbours
      // and FDB entries, whose Deleted lines come on another socket): forget them all.
      this.routes.clear();
      this.neighs.clear();
      this.fdbs.clear();
      this.deviceDeletions++;
    }
    this.deviceUp = up;
    this.event('link', 0, up, t);
  }

  event(kind, index, present, t) {
    if (index < 0) return;
    this.lastEventAt = t;
    const set = { route: this.routes, neigh: this.neighs, fdb: this.fdbs }[kind];
    if (set) {
      if (present) set.add(index);
      else set.delete(index);
    }
    for (const w of [...this.waiters]) w.check(kind, index, present, t);
  }

  /**
   * Resolves with the arrival time of the first event `kind`/`index` with presence `present` seen
   * after this call, or null after `timeoutMs`. Register before acting, so no event is missed.
   */
  async expect(kind, index, present, timeoutMs) {
    const times = await this.expectSequence(kind, index, [present], timeoutMs);
    return times[0] ?? null;
  }

  /**
   * Resolves with the arrival times of events `kind`/`index` showing the presences in `sequence`
   * in that order (e.g. [false, true]: deleted, then back); on timeout, with the times seen so far
   * (a shorter array).
   */
  expectSequence(kind, index, sequence, timeoutMs) {
    const times = [];
    return this.addWaiter(timeoutMs, times, (k, i, present, t) => {
      if (k !== kind || i !== index || present !== sequence[times.length]) return false;
      times.push(t);
      return times.length === sequence.length;
    });
  }

  /**
   * Resolves with the arrival time of the event after which `condition()` holds (now, if it
   * already does), or null after `timeoutMs`.
   */
  waitUntil(condition, timeoutMs) {
    if (condition()) return Promise.resolve(performance.now());
    const box = [];
    return this.addWaiter(timeoutMs, box, (_k, _i, _p, t) => {
      if (!condition()) return false;
      box.push(t);
      return true;
    }).then((times) => times[0] ?? null);
  }

  addWaiter(timeoutMs, result, onEvent) {
    return new Promise((resolve) => {
      const waiter = {
        finish: () => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(result);
        },
        check: (...event) => {
          if (onEvent(...event)) waiter.finish();
        },
      };
      const timer = setTimeout(waiter.finish, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /** Number of peers in [0, k) with route (and, if `all`, neighbour and FDB entry) present. */
  programmed(k, all = false) {
    let n = 0;
    for (const i of this.routes) {
      if (i < k && (!all || (this.neighs.has(i) && this.fdbs.has(i)))) n++;
    }
    return n;
  }

  /** Resolves once no event has arrived for `quietMs` (at most `timeoutMs`); returns whether. */
  async quiet(quietMs, timeoutMs) {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const idle = performance.now() - this.lastEventAt;
      if (idle >= quietMs) return true;
      if (performance.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, quietMs - idle + 1));
    }
  }
}
