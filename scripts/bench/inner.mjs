import { readFileSync } from 'node:fs';
// The agent half of the benchmark. Runs INSIDE a fresh namespace (started by run.mjs through
// `ip netns exec`), so its etcd, the agent, the agent's `ip`/`bridge` and our reads of
// /proc/net/route all see that namespace only. Prints progress on stderr and one `RESULT <json>`
// line on stdout. Stops its children on every way out; run.mjs kills leftovers by namespace.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { NETWORK_CONFIG, PREFIX, UNDERLAY_IP, costMs, countDeviceRoutes } from './lib.mjs';
import { peer, percentile, processStats, readPrefixCount, readRouteTable } from './lib.mjs';
import { sleep, waitFor, waitForRoutes } from './lib.mjs';

const { values } = parseArgs({
  options: {
    k: { type: 'string' },
    samples: { type: 'string' },
    dir: { type: 'string' },
    'cpu-prof': { type: 'string' },
  },
});
const K = Number(values.k);
const SAMPLES = Number(values.samples);
const DIR = values.dir;
const AGENT = new URL('../../packages/flanneld/dist/bin.js', import.meta.url).pathname;
const SHIM = new URL('../../packages/flanneld/bin/flanneld.js', import.meta.url).pathname;
const AGENT_NODE_FLAGS = (process.env.FTBENCH_NODE_FLAGS ?? nodeFlagsOf(SHIM))
  .split(' ')
  .filter(Boolean);

/** The node flags in the executable's `#!/usr/bin/env -S node <flags>` line. */
function nodeFlagsOf(path) {
  const first = readFileSync(path, 'utf8').split('\n')[0];
  const m = /^#!\/usr\/bin\/env -S node (.*)$/.exec(first);
  return m ? m[1] : '';
}
const ENDPOINT = 'http://127.0.0.1:2379'; // the namespace is fresh: etcd's default ports are free
// With --cpu-prof DIR the agent writes a V8 CPU profile there when it exits (after SIGTERM).
const profileArgs = values['cpu-prof']
  ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`]
  : [];
const log = (m) => process.stderr.write(`  [K=${K}] ${m}\n`);

const children = [];
function stopChildren() {
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

/** Writes the config and peers [0, K) without TTL, in transactions of etcd's max 128 ops. */
async function writePeers(client) {
  await client.put(`${PREFIX}/config`).value(NETWORK_CONFIG);
  const txns = [];
  for (let i = 0; i < K; i += 128) {
    const ops = [];
    for (let j = i; j < Math.min(K, i + 128); j++) {
      const p = peer(j);
      ops.push({ request_put: { key: Buffer.from(p.key), value: Buffer.from(p.value) } });
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

// The agent's milestones, recognised by its log messages (first match wins).
const MILESTONES = [
  ['first log line (node + modules loaded)', /CLI flags config/],
  ['network config read', /found network config/],
  ['VXLAN device ready', /created VXLAN device|VXLAN device already exists/],
  ['own lease acquired', /allocated lease|found previously leased|found lease for current IP/],
  ['subnet file written', /wrote subnet file/],
  ['first sync logged', /data plane in sync/],
];

/** Put a new peer, time until its route is in the kernel; delete it, time until it is gone. */
async function latencySamples(client, died) {
  const poll = { intervalMs: 1, timeoutMs: 10_000, abort: died };
  const base = readPrefixCount(); // settled: K peer routes plus the namespace's own routes
  const put = [];
  const del = [];
  const rpc = [];
  for (let s = 0; s < SAMPLES; s++) {
    const p = peer(K + s);
    const present = () => readRouteTable().includes(p.routeNeedle);
    let t0 = performance.now();
    // etcd3's builders send their request only once `.then` is called: start it now, and poll
    // meanwhile (the route may well be in before the RPC's answer is).
    const putting = client
      .put(p.key)
      .value(p.value)
      .then(() => rpc.push(performance.now() - t0));
    let t = await waitForRoutes(`route ${p.subnet} to appear`, (n) => n > base, present, poll);
    put.push(t - t0);
    await putting;
    await sleep(10); // let the agent finish its sync before the next event
    t0 = performance.now();
    const deleting = client
      .delete()
      .key(p.key)
      .then(() => undefined);
    t = await waitForRoutes(
      `route ${p.subnet} to go`,
      (n) => n <= base,
      () => !present(),
      poll,
    );
    del.push(t - t0);
    await deleting;
    await sleep(10);
  }
  const stats = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return { p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] };
  };
  return { put: stats(put), del: stats(del), putRpc: stats(rpc) };
}

async function main() {
  await startEtcd();
  const client = new Etcd3({ hosts: ENDPOINT });
  try {
    let t = performance.now();
    await writePeers(client);
    log(`wrote ${K} peer leases in ${((performance.now() - t) / 1000).toFixed(2)} s`);

    const milestones = {};
    const baseBefore = readPrefixCount();
    const spawnedAt = performance.now();
    const agentArgs = [
      ...profileArgs,
      // The agent's own V8 flags (what its executable's shebang passes), so the bench measures it as run.
      ...AGENT_NODE_FLAGS,
      AGENT,
      `--etcd-endpoints=${ENDPOINT}`,
      `--etcd-prefix=${PREFIX}`,
      '--iface=v0',
      `--public-ip=${UNDERLAY_IP}`,
      `--subnet-file=${join(DIR, 'subnet.env')}`,
      '--reconcile-interval=3600', // only the start-up full sync; no periodic one during samples
    ];
    const agent = startChild(process.execPath, agentArgs, (line, at) => {
      for (const [name, re] of MILESTONES) {
        if (!(name in milestones) && re.test(line)) milestones[name] = at - spawnedAt;
      }
    });
    const died = () => {
      if (agent.exitCode !== null) throw new Error(`agent exited:\n${agent.tail.join('\n')}`);
    };
    // ~2 ms polling until every peer's route is there. The agent adds K routes plus the local
    // route of its own subnet address: trigger on the prefix count, confirm on flannel.1 routes.
    const doneAt = await waitForRoutes(
      `${K} routes on flannel.1`,
      (n) => n >= baseBefore + K + 1,
      () => countDeviceRoutes(readRouteTable()) >= K,
      { intervalMs: 2, timeoutMs: 120_000, abort: died },
    );
    const startS = (doneAt - spawnedAt) / 1000;
    const cpuAtProgrammedS = processStats(agent.pid).cpuS;
    log(`agent programmed ${K} peers ${startS.toFixed(3)} s after spawn`);

    await waitFor('the first sync to be logged', () => 'first sync logged' in milestones, {
      intervalMs: 10,
      timeoutMs: 10_000,
      abort: died,
    });
    await sleep(500); // settled: no event or sync pending
    const pollCostMs = { fibTriestat: costMs(readPrefixCount), route: costMs(readRouteTable) };

    const latency = await latencySamples(client, died);
    const mem = processStats(agent.pid);
    log(`latency done (${SAMPLES} samples); agent RSS ${mem.rssMiB.toFixed(1)} MiB`);
    agent.kill('SIGTERM');
    await waitFor('agent to exit after SIGTERM', () => agent.exitCode !== null, {
      intervalMs: 20,
      timeoutMs: 5_000,
    });
    const result = { k: K, startS, cpuAtProgrammedS, milestones, pollCostMs, latency, mem };
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
      `bench inner (K=${K}) failed: ${err instanceof Error ? err.message : err}\n`,
    );
    stopChildren();
    process.exit(1);
  },
);
