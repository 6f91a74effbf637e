// One agent run of the benchmark. Runs INSIDE a fresh namespace (started by run.mjs through
// `ip netns exec`), so its etcd, the agent (flannel-ts or upstream flanneld), the agent's
// children and our ip monitors see that namespace only. Every kernel change is timed from
// the monitors' lines (monitor.mjs); every etcd write is timed from just before its RPC, on one
// long-lived etcd client. Prints progress on stderr and one `RESULT <json>` line on stdout. Stops
// its children on every way out; run.mjs also kills leftovers by namespace and by cgroup.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { cgroupCpuS, cgroupPids, openCgroup } from './cgroup.mjs';
import { DEVICE, NETWORK_CONFIG, PREFIX, UNDERLAY_IP, peer, peerIndexOfGateway } from './lib.mjs';
import { procStat, processStats, run, sleep, stats, treeCpuS, waitFor } from './lib.mjs';
import { KernelMonitor } from './monitor.mjs';

const { values } = parseArgs({
  options: {
    agent: { type: 'string' }, // ts | upstream
    bin: { type: 'string' }, // flannel-ts: packages/flanneld/dist/bin.js; upstream: flanneld
    k: { type: 'string' },
    samples: { type: 'string' },
    'idle-s': { type: 'string' },
    'churn-s': { type: 'string' },
    'churn-rate': { type: 'string' },
    'heal-samples': { type: 'string' },
    'heal-timeout-s': { type: 'string' },
    'lost-after-ms': { type: 'string' },
    dir: { type: 'string' },
    cgroup: { type: 'string' },
    'cpu-prof': { type: 'string' },
  },
});
const AGENT = values.agent;
const BIN = values.bin;
const K = Number(values.k);
const SAMPLES = Number(values.samples);
const IDLE_S = Number(values['idle-s']);
const CHURN_S = Number(values['churn-s']);
const CHURN_RATE = Number(values['churn-rate']);
const HEAL_SAMPLES = Number(values['heal-samples']);
const HEAL_TIMEOUT_MS = Number(values['heal-timeout-s']) * 1000;
const LOST_MS = Number(values['lost-after-ms']);
const DIR = values.dir;
const ENDPOINT = 'http://127.0.0.1:2379'; // the namespace is fresh: etcd's default ports are free
const START_TIMEOUT_MS = 120_000;
const log = (m) => process.stderr.write(`  [${AGENT} K=${K}] ${m}\n`);

// The agent's milestones, recognised by its log messages (first match wins).
const MILESTONES = {
  ts: [
    ['first log line (runtime + modules loaded)', /CLI flags config/],
    ['network config read', /found network config/],
    ['VXLAN device ready', /created VXLAN device|VXLAN device already exists/],
    ['own lease acquired', /allocated lease|found previously leased|found lease for current IP/],
    ['subnet file written', /wrote subnet file/],
    ['first sync logged', /data plane in sync/],
  ],
  upstream: [
    ['first log line (runtime + modules loaded)', /CLI flags config/],
    ['network config read', /Found network config/],
    ['own lease acquired', /Allocated lease|Found lease .* for current IP|Lease renewed/],
    ['subnet file written', /Wrote subnet file/],
    ['lease watch started', /watching for new subnet leases/],
  ],
}[AGENT];

/** The agent's command line: the same flags for both, ip-masq off (the default). */
function agentCommand() {
  const flags = [
    `--etcd-endpoints=${ENDPOINT}`,
    `--etcd-prefix=${PREFIX}`,
    '--iface=v0',
    `--public-ip=${UNDERLAY_IP}`,
    `--subnet-file=${join(DIR, 'subnet.env')}`,
  ];
  if (AGENT === 'upstream') return [BIN, flags];
  // flannel-ts: run with the V8 flags its executable's shebang passes, so it is measured as run.
  const shim = resolvePath(dirname(BIN), '../bin/flanneld.js');
  const nodeFlags = (process.env.FTBENCH_NODE_FLAGS ?? shebangFlags(shim)).split(' ');
  const profile = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : [];
  // The executable itself (it runs the bundle through its code cache), where the checkout has it.
  const entry = existsSync(shim) ? shim : BIN;
  return [process.execPath, [...profile, ...nodeFlags.filter(Boolean), entry, ...flags]];
}

/** The node flags in an executable's `#!/usr/bin/env -S node <flags>` line. */
function shebangFlags(path) {
  try {
    const first = readFileSync(path, 'utf8').split('\n')[0];
    return /^#!\/usr\/bin\/env -S node (.*)$/.exec(first)?.[1] ?? '';
  } catch {
    return '';
  }
}

const children = [];
let monitor;
function stopChildren() {
  monitor?.stop();
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    stopChildren();
    process.exit(130);
  });
}

/** Spawns a child that is stopped on every exit path; keeps the tail of its stderr for errors. */
function startChild(cmd, args, onLine = () => {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  child.tail = [];
  let partial = '';
  child.stderr.setEncoding('utf8').on('data', (chunk) => {
    const t = performance.now();
    const lines = (partial + chunk).split('\n');
    partial = lines.pop();
    for (const line of lines) {
      child.tail.push(line);
      if (child.tail.length > 40) child.tail.shift();
      onLine(line, t);
    }
  });
  return child;
}

async function startEtcd() {
  const peerUrl = 'http://127.0.0.1:2380';
  let ready = false;
  const etcd = startChild(
    '/usr/bin/etcd',
    [
      '--name=ftbench',
      `--data-dir=${join(DIR, 'etcd')}`,
      `--listen-client-urls=${ENDPOINT}`,
      `--advertise-client-urls=${ENDPOINT}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=ftbench=${peerUrl}`,
    ],
    (line) => (ready ||= line.includes('ready to serve client requests')),
  );
  const died = () => {
    if (etcd.exitCode !== null) throw new Error(`etcd exited:\n${etcd.tail.join('\n')}`);
  };
  await waitFor('etcd ready', () => ready, { intervalMs: 20, timeoutMs: 15_000, abort: died });
}

/**
 * Writes the config and peers [0, K) attached to one etcd lease (as real peers' leases are), in
 * transactions of etcd's max 128 ops.
 */
async function writePeers(client, lease) {
  await client.put(`${PREFIX}/config`).value(NETWORK_CONFIG);
  const txns = [];
  for (let i = 0; i < K; i += 128) {
    const ops = [];
    for (let j = i; j < Math.min(K, i + 128); j++) {
      const p = peer(j);
      ops.push({ request_put: { key: Buffer.from(p.key), value: Buffer.from(p.value), lease } });
    }
    txns.push(ops);
  }
  // A few transactions in flight at once keep etcd busy without queueing everything up front.
  const pending = [...txns];
  const worker = async () => {
    for (let ops = pending.shift(); ops; ops = pending.shift()) {
      await client.kv.txn({ compare: [], success: ops });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

async function main() {
  await startEtcd();
  let fatal;
  monitor = new KernelMonitor((why) => (fatal ??= why));
  await monitor.start();
  for (let i = 0; i < K; i++) monitor.knowMac(peer(i).mac, i);
  const client = new Etcd3({ hosts: ENDPOINT });
  try {
    const { ID: lease } = await client.leaseClient.leaseGrant({ TTL: 3600 });
    let t = performance.now();
    await writePeers(client, lease);
    log(`wrote ${K} peer leases in ${((performance.now() - t) / 1000).toFixed(2)} s`);

    const cgroup = values.cgroup ? await openCgroup(values.cgroup, join(DIR, 'cgroup2')) : null;
    const [cmd, args] = agentCommand();
    const milestones = {};
    const spawnedAt = performance.now();
    const onLine = (line, at) => {
      for (const [name, re] of MILESTONES) {
        if (!(name in milestones) && re.test(line)) milestones[name] = at - spawnedAt;
      }
    };
    // In its cgroup from its first instruction: a shell joins the group, then execs the agent.
    const agent = cgroup
      ? startChild(
          'sh',
          ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, cmd, ...args],
          onLine,
        )
      : startChild(cmd, args, onLine);
    let stopping = false;
    // Every wait below races with the agent's (or a monitor's) unexpected death.
    const died = new Promise((_, reject) => {
      agent.on('exit', (code, sig) => {
        if (!stopping)
          reject(new Error(`agent exited (${sig ?? code}):\n${agent.tail.join('\n')}`));
      });
      const check = setInterval(() => fatal && reject(new Error(fatal)), 100);
      check.unref();
    });
    died.catch(() => {});
    const guard = (p) => Promise.race([p, died]);
    const cpu = () => ({
      treeS: cgroup ? cgroupCpuS(cgroup) : treeCpuS(agent.pid),
      ownS: procStat(agent.pid).ownS,
      at: performance.now(),
    });

    // Start: spawn to the last of the K peer routes (and neighbours and FDB entries) seen.
    const routesAt = await guard(
      monitor.waitUntil(() => monitor.programmed(K) >= K, START_TIMEOUT_MS),
    );
    if (routesAt === null)
      throw new Error(
        `${monitor.programmed(K)} of ${K} peer routes seen within ${START_TIMEOUT_MS} ms (monitor overflows: ${monitor.overflows})`,
      );
    const entriesAt = await guard(
      monitor.waitUntil(() => monitor.programmed(K, true) >= K, 10_000),
    );
    const startS = (routesAt - spawnedAt) / 1000;
    const startEntriesS = entriesAt === null ? NaN : (entriesAt - spawnedAt) / 1000;
    const cpuAtProgrammedS = cpu().treeS;
    log(`programmed ${K} peers ${startS.toFixed(3)} s after spawn`);
    await guard(monitor.quiet(1000, 15_000));

    // The agent's own subnet must not be reused by a sample peer (that would overwrite its lease).
    const ownSubnet = /^FLANNEL_SUBNET=(\S+)/m.exec(
      readFileSync(join(DIR, 'subnet.env'), 'utf8'),
    )?.[1];
    const ownIndex = ownSubnet ? peerIndexOfGateway(ownSubnet.replace(/\.\d+\/\d+$/, '.0')) : -1;
    let nextIndex = K;
    const newPeer = () => {
      if (nextIndex === ownIndex) nextIndex++;
      const i = nextIndex++;
      monitor.knowMac(peer(i).mac, i);
      return { ...peer(i), i };
    };
    const putPeer = (p) =>
      client
        .put(p.key)
        .value(p.value)
        .lease(lease)
        .then(() => undefined);
    const deletePeer = (p) =>
      client
        .delete()
        .key(p.key)
        .then(() => undefined);

    // Quiet latency: one new peer at a time, put -> route in, delete -> route gone.
    const quiet = { put: [], del: [], rpc: [], lostPut: 0, lostDel: 0, events: 2 * SAMPLES };
    for (let s = 0; s < SAMPLES; s++) {
      const p = newPeer();
      const seen = monitor.expect('route', p.i, true, LOST_MS);
      let t0 = performance.now();
      const putting = putPeer(p).then(() => quiet.rpc.push(performance.now() - t0));
      const inAt = await guard(seen);
      await putting;
      if (inAt === null) quiet.lostPut++;
      else quiet.put.push(inAt - t0);
      await sleep(10); // let the agent finish its sync before the next event
      if (!monitor.routes.has(p.i)) {
        await deletePeer(p);
        continue;
      }
      const gone = monitor.expect('route', p.i, false, LOST_MS);
      t0 = performance.now();
      const deleting = deletePeer(p);
      const outAt = await guard(gone);
      await deleting;
      if (outAt === null) quiet.lostDel++;
      else quiet.del.push(outAt - t0);
      await sleep(10);
    }
    const mem = processStats(agent.pid);
    const childPids = (cgroup ? cgroupPids(cgroup) : []).filter((p) => p !== agent.pid);
    mem.childrenRssMiB = childPids.reduce((sum, p) => {
      try {
        return sum + processStats(p).rssMiB;
      } catch {
        return sum;
      }
    }, 0);
    mem.children = childPids.length;
    log(`latency done (${SAMPLES} samples); RSS ${mem.rssMiB.toFixed(1)} MiB`);

    // Idle CPU: nothing changes in etcd or the kernel for IDLE_S seconds.
    await guard(monitor.quiet(1000, 10_000));
    const idle0 = cpu();
    await guard(sleep(IDLE_S * 1000));
    const idle1 = cpu();
    const idle = {
      wallS: (idle1.at - idle0.at) / 1000,
      treeS: idle1.treeS - idle0.treeS,
      ownS: idle1.ownS - idle0.ownS,
    };
    log(`idle CPU ${((100 * idle.treeS) / idle.wallS).toFixed(2)} % of a core`);

    // Churn: CHURN_RATE events/s for CHURN_S seconds, alternately a new peer's put and the delete
    // of the oldest churn peer; each peer lives 2 s, so ~CHURN_RATE peers are alive at a time.
    const alive = [];
    const live = CHURN_RATE;
    for (let j = 0; j < live; j++) {
      const p = newPeer();
      const seen = monitor.expect('route', p.i, true, LOST_MS);
      await putPeer(p);
      await guard(seen);
      alive.push(p);
    }
    await guard(monitor.quiet(500, 10_000));
    const churn = { put: [], del: [], lostPut: 0, lostDel: 0, unmeasuredDel: 0, events: 0 };
    const waits = [];
    const interval = 1000 / CHURN_RATE;
    const events = Math.round(CHURN_S * CHURN_RATE);
    const churn0 = cpu();
    for (let j = 0; j < events; j++) {
      await guard(sleep(churn0.at + j * interval - performance.now()));
      const isPut = j % 2 === 0;
      const p = isPut ? newPeer() : alive.shift();
      if (isPut) alive.push(p);
      // A delete of a peer whose route never came (its put lost) cannot show a removal.
      const measured = isPut || monitor.routes.has(p.i);
      if (!measured) churn.unmeasuredDel++;
      const seen = monitor.expect('route', p.i, isPut, LOST_MS);
      const t0 = performance.now();
      const rpc = isPut ? putPeer(p) : deletePeer(p);
      waits.push(
        Promise.all([seen, rpc]).then(([at]) => {
          if (!measured) return;
          if (at === null) churn[isPut ? 'lostPut' : 'lostDel']++;
          else churn[isPut ? 'put' : 'del'].push(at - t0);
        }),
      );
      churn.events++;
    }
    await guard(sleep(churn0.at + events * interval - performance.now()));
    const churn1 = cpu();
    Object.assign(churn, {
      wallS: (churn1.at - churn0.at) / 1000,
      treeS: churn1.treeS - churn0.treeS,
      ownS: churn1.ownS - churn0.ownS,
    });
    await guard(Promise.all(waits));
    log(
      `churn CPU ${((100 * churn.treeS) / churn.wallS).toFixed(1)} % of a core; lost ${churn.lostPut}+${churn.lostDel}`,
    );
    // Remove the churn peers still alive (not timed).
    await Promise.all(alive.map(deletePeer));
    await guard(monitor.quiet(1000, LOST_MS + 1000));

    // Self-healing 1: delete one peer's route, neighbour and FDB entry by hand; time from each
    // `Deleted` line to its re-add line. Stops at the first sample with something not repaired
    // (later samples would only wait out the timeout again).
    const heal = { route: [], neigh: [], fdb: [], notRepaired: [], unseen: [] };
    for (let n = 0; n < HEAL_SAMPLES; n++) {
      const p = { ...peer((Math.floor(K / 2) + n) % K), i: (Math.floor(K / 2) + n) % K };
      const seq = (kind) => monitor.expectSequence(kind, p.i, [false, true], HEAL_TIMEOUT_MS);
      const waiting = { route: seq('route'), neigh: seq('neigh'), fdb: seq('fdb') };
      // An entry the agent never programmed cannot be deleted: that shows as "unseen" below.
      const warn = (e) => log(`hand deletion: ${e.message}`);
      await Promise.all([
        run('ip', ['-force', '-batch', '-'], {
          input: `route del ${p.subnet} dev ${DEVICE}\nneigh del ${p.gateway} dev ${DEVICE}\n`,
        }).catch(warn),
        run('bridge', ['fdb', 'del', p.mac, 'dev', DEVICE, 'dst', p.publicIp, 'self']).catch(warn),
      ]);
      let complete = true;
      for (const [kind, wait] of Object.entries(waiting)) {
        const times = await guard(wait);
        if (times.length === 2) heal[kind].push(times[1] - times[0]);
        else {
          // Deleted but not back in time, or (no Deleted line) not deleted at all.
          (times.length === 1 ? heal.notRepaired : heal.unseen).push(kind);
          complete = false;
        }
      }
      if (!complete) break;
      await guard(monitor.quiet(300, 5000));
    }
    log(
      `entries repaired: ${['route', 'neigh', 'fdb'].map((k) => heal[k].length).join('/')} of ${HEAL_SAMPLES}`,
    );

    // Self-healing 2: delete the VXLAN device; time from its `Deleted` line to a new device up,
    // to every peer's route back, and to every peer's route, neighbour and FDB entry back.
    const deletions = monitor.deviceDeletions;
    const deleted = () => monitor.deviceDeletions > deletions;
    const device = {};
    const goneAt = monitor.expect('link', 0, false, HEAL_TIMEOUT_MS);
    const upAt = monitor.waitUntil(() => deleted() && monitor.deviceUp, HEAL_TIMEOUT_MS);
    const routesBackAt = monitor.waitUntil(
      () => deleted() && monitor.programmed(K) >= K,
      HEAL_TIMEOUT_MS,
    );
    const allBackAt = monitor.waitUntil(
      () => deleted() && monitor.programmed(K, true) >= K,
      HEAL_TIMEOUT_MS,
    );
    await run('ip', ['link', 'del', DEVICE]);
    const t0 = await guard(goneAt);
    if (t0 === null) throw new Error(`no Deleted line for ${DEVICE}`);
    for (const [name, p] of Object.entries({ upAt, routesBackAt, allBackAt })) {
      const at = await guard(p);
      device[name.replace(/At$/, 'Ms')] = at === null ? null : at - t0;
    }
    log(
      `device: up ${device.upMs?.toFixed(0) ?? '-'} ms, all routes ${device.routesBackMs?.toFixed(0) ?? '-'} ms`,
    );

    stopping = true;
    agent.kill('SIGTERM');
    await waitFor(
      'agent to exit after SIGTERM',
      () => agent.exitCode !== null || agent.signalCode !== null,
      {
        intervalMs: 20,
        timeoutMs: 3000,
      },
    ).catch(() => agent.kill('SIGKILL'));
    const result = {
      agent: AGENT,
      k: K,
      cpuMethod: cgroup ? 'cgroup' : 'proc',
      monitorOverflows: monitor.overflows,
      startS,
      startEntriesS,
      cpuAtProgrammedS,
      milestones,
      quiet: { ...quiet, rpc: stats(quiet.rpc) },
      mem,
      idle,
      churn,
      heal: { ...heal, device },
    };
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  } finally {
    client.close();
  }
}

main().then(
  () => {
    stopChildren();
    process.exit(0);
  },
  (err) => {
    process.stderr.write(
      `bench inner (${AGENT}, K=${K}) failed: ${err instanceof Error ? err.message : err}\n`,
    );
    stopChildren();
    process.exit(1);
  },
);
