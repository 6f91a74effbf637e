// `npm run bench`: the control-plane benchmark (issue 7 targets). For each K (default 10 and 5000):
// the raw `bridge -batch` + `ip -batch` time for K peers in a fresh namespace, then the agent
// against its own etcd holding K peer leases, each run in a fresh namespace (inner.mjs). With an
// upstream flanneld binary (--upstream PATH or FLANNEL_BENCH_UPSTREAM), both agents run in the same
// invocation, interleaved (ts, upstream, ts, upstream, ...), and every figure is shown side by side
// with the ratio ts/upstream. Kernel changes are timed from `ip monitor` lines (link, route, neigh),
// agent CPU from a cgroup v2 per run (agent and all its children). Prints a table per K with the
// targets as PASS/MISS. A benchmark, not a test: exit 0 unless something really failed.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { availableParallelism, release, tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import { createBenchCgroup, createChildCgroup, removeCgroup } from './cgroup.mjs';
import { run } from './lib.mjs';
import { createNamespace, deleteNamespace, namespaceName } from './netns.mjs';
import { rawBaseline } from './raw.mjs';
import { details, pool, tableForK } from './report.mjs';

const USAGE = `usage: npm run bench -- [options]
  --upstream PATH      upstream flanneld binary to compare with (or env FLANNEL_BENCH_UPSTREAM)
  --k LIST             peer counts (default 10,5000; --quick: 10,1000)
  --quick              shorter run for iteration: K 10,1000, 1 round, 40 samples, 5 s idle/churn,
                       3 s self-healing timeout
  --rounds N           runs per agent and K, interleaved ts/upstream (default 2)
  --samples N          quiet put/delete latency samples per run (default 100)
  --idle-s S           idle CPU window per run (default 10)
  --churn-s S          churn window per run (default 10); --churn-rate N events/s (default 20)
  --heal-samples N     hand-deleted route/neighbour/FDB samples per run (default 3)
  --heal-timeout-s S   wait for a repair at most this long (default 13: one flannel-ts
                       reconcile interval of 10 s, plus reprogramming 5000 peers)
  --lost-after-ms MS   an event not in the kernel by then is lost (default 5000)
  --ts-root DIR        flannel-ts checkout whose packages/flanneld/dist is run (default: this one)
  --cpu-prof DIR       flannel-ts writes V8 CPU profiles there (slows it: attribution only)
`;

const { values } = parseArgs({
  options: {
    upstream: { type: 'string' },
    k: { type: 'string' },
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    samples: { type: 'string' },
    'idle-s': { type: 'string' },
    'churn-s': { type: 'string' },
    'churn-rate': { type: 'string', default: '20' },
    'heal-samples': { type: 'string' },
    'heal-timeout-s': { type: 'string' },
    'lost-after-ms': { type: 'string', default: '5000' },
    'ts-root': { type: 'string' },
    'cpu-prof': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const quick = values.quick;
const pick = (name, normal, short) => Number(values[name] ?? (quick ? short : normal));
const KS = (values.k ?? (quick ? '10,1000' : '10,5000')).split(',').map(Number);
const OPTS = {
  rounds: pick('rounds', 2, 1),
  samples: pick('samples', 100, 40),
  idleS: pick('idle-s', 10, 5),
  churnS: pick('churn-s', 10, 5),
  churnRate: Number(values['churn-rate']),
  healSamples: pick('heal-samples', 3, 2),
  healTimeoutS: pick('heal-timeout-s', 13, 3),
  lostAfterMs: Number(values['lost-after-ms']),
};
const positive = (x) => Number.isFinite(x) && x > 0;
if (
  KS.some((k) => !Number.isInteger(k) || k < 1 || k > 20_000) ||
  !Object.values(OPTS).every(positive) ||
  OPTS.churnRate > 200
) {
  process.stderr.write(USAGE);
  process.exit(2);
}
const TS_ROOT = resolvePath(values['ts-root'] ?? new URL('../..', import.meta.url).pathname);
const TS_BIN = join(TS_ROOT, 'packages/flanneld/dist/bin.js');
const UPSTREAM = (values.upstream ?? process.env.FLANNEL_BENCH_UPSTREAM) || null;
const UPSTREAM_BIN = UPSTREAM && resolvePath(UPSTREAM);
const INNER = new URL('inner.mjs', import.meta.url).pathname;
const PROFILE_DIR = values['cpu-prof'] && resolvePath(values['cpu-prof']);
const INNER_DEADLINE_MS = 600_000;

// Everything to undo, whatever happens: namespaces (with whatever runs inside), the cgroups and
// the temp dir. A namespace may be removed both by the normal path and by a signal's cleanup at
// the same time: one removal per name, shared.
const namespaces = new Map(); // name -> undefined, or the promise of its removal
let inner;
let tmp;
let cgroupRoot;
let cleaning;
let interrupted = false;
function removeNamespace(ns) {
  if (!namespaces.get(ns)) namespaces.set(ns, deleteNamespace(ns));
  return namespaces.get(ns);
}
function cleanup() {
  cleaning ??= (async () => {
    const warn = (e) => process.stderr.write(`cleanup: ${e.message}\n`);
    if (inner && inner.exitCode === null && inner.signalCode === null) inner.kill('SIGKILL');
    if (cgroupRoot) await removeCgroup(cgroupRoot).catch(warn);
    for (const ns of namespaces.keys()) await removeNamespace(ns).catch(warn);
    if (cgroupRoot) await removeCgroup(cgroupRoot).catch(warn);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    interrupted = true;
    process.stderr.write(`\n${sig}: cleaning up\n`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function withNamespace(suffix, body) {
  const ns = namespaceName(suffix);
  namespaces.set(ns, undefined);
  try {
    await createNamespace(ns);
    return await body(ns);
  } finally {
    await removeNamespace(ns);
  }
}

/** Runs inner.mjs for one agent inside the namespace; resolves to its RESULT object. */
function runInner(ns, agent, k, dir, cgroup) {
  return new Promise((resolve, reject) => {
    const args = [
      'netns',
      'exec',
      ns,
      process.execPath,
      INNER,
      `--agent=${agent}`,
      `--bin=${agent === 'ts' ? TS_BIN : UPSTREAM_BIN}`,
      `--k=${k}`,
      `--samples=${OPTS.samples}`,
      `--idle-s=${OPTS.idleS}`,
      `--churn-s=${OPTS.churnS}`,
      `--churn-rate=${OPTS.churnRate}`,
      `--heal-samples=${OPTS.healSamples}`,
      `--heal-timeout-s=${OPTS.healTimeoutS}`,
      `--lost-after-ms=${OPTS.lostAfterMs}`,
      `--dir=${dir}`,
    ];
    if (cgroup) args.push(`--cgroup=${cgroup}`);
    if (PROFILE_DIR && agent === 'ts') args.push(`--cpu-prof=${PROFILE_DIR}`);
    inner = spawn('ip', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    inner.stdout.setEncoding('utf8').on('data', (c) => (out += c));
    const timer = setTimeout(() => inner.kill('SIGKILL'), INNER_DEADLINE_MS);
    inner.on('error', reject);
    inner.on('close', (code, sig) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (code === 0 && line) resolve(JSON.parse(line.slice('RESULT '.length)));
      else reject(new Error(`${agent} run for K=${k} failed (${sig ?? `exit ${code}`})`));
    });
  });
}

async function machine() {
  const model = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
  const ipVersion = (await run('ip', ['-V'])).trim();
  const etcdVersion = /Version: (\S+)/.exec(await run('/usr/bin/etcd', ['--version']))?.[1];
  const t0 = performance.now();
  await run(process.execPath, ['-e', '0']);
  const nodeMs = performance.now() - t0;
  // Other work on the machine skews every figure: show the load the run started with.
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const commit = await run('git', ['-C', TS_ROOT, 'log', '-1', '--format=%h %s']).catch(() => '?');
  const dirty = await run('git', ['-C', TS_ROOT, 'status', '--porcelain', '--', 'packages']).catch(
    () => '',
  );
  return [
    `machine: load average ${load} at start, nproc ${availableParallelism()}, ${model ?? 'unknown CPU'}, kernel ${release()}`,
    `software: node ${process.version} (bare start ${nodeMs.toFixed(0)} ms), ${ipVersion}, etcd ${etcdVersion}`,
    `flannel-ts: ${TS_BIN} (${commit.trim().slice(0, 90)}${dirty.trim() ? ', with uncommitted changes in packages/' : ''})`,
  ];
}

/** `flanneld --version` (v0.20.2 prints it on stderr); throws if the binary does not run. */
async function upstreamVersion(bin) {
  accessSync(bin, constants.X_OK);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (c) => (text += c));
    child.stderr.on('data', (c) => (text += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(text.trim());
      else reject(new Error(`${bin} --version failed (exit ${code}): ${text.trim()}`));
    });
  });
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces)');
  if (!existsSync(TS_BIN)) throw new Error(`${TS_BIN} missing: run npm run build first`);
  const out = (lines) => process.stdout.write(`${lines.join('\n')}\n`);
  const header = await machine();
  if (UPSTREAM_BIN) {
    header.push(`upstream: ${UPSTREAM_BIN} (${await upstreamVersion(UPSTREAM_BIN)})`);
  } else {
    header.push(
      'upstream: not compared (give --upstream PATH or FLANNEL_BENCH_UPSTREAM to run upstream flanneld alongside)',
    );
  }
  tmp = mkdtempSync(join(tmpdir(), 'ftbench-'));
  const why = [];
  cgroupRoot = createBenchCgroup(`ftbench-${randomBytes(3).toString('hex')}`, why);
  header.push(
    `method: kernel changes timed from ip monitor link/route/neigh lines; agent CPU ${cgroupRoot ? `from a cgroup v2 per run (${cgroupRoot}), children included` : `from /proc (agent + children; ${why.join('; ')})`}`,
    `run: K ${KS.join(', ')}; ${OPTS.rounds} round(s) per agent${UPSTREAM_BIN ? ', interleaved ts/upstream' : ''}, each in a fresh namespace with its own etcd; ${OPTS.samples} quiet samples, ${OPTS.idleS} s idle, ${OPTS.churnS} s churn at ${OPTS.churnRate} events/s, ${OPTS.healSamples} self-healing samples (timeout ${OPTS.healTimeoutS} s) per run; both agents with their default flags plus endpoints, prefix, --iface, --public-ip, --subnet-file (ip-masq off)`,
  );
  if (PROFILE_DIR) {
    mkdirSync(PROFILE_DIR, { recursive: true });
    header.push(
      `PROFILING: flannel-ts CPU profiles go to ${PROFILE_DIR}; its figures are slowed by it`,
    );
  }
  out(['', ...header]);
  const agents = UPSTREAM_BIN ? ['ts', 'upstream'] : ['ts'];
  // The 5000-peer targets: checked at K=5000, or else at the largest K of at least 1000.
  const bigK = KS.includes(5000) ? 5000 : Math.max(...KS.filter((k) => k >= 1000), NaN);
  const verdicts = [];
  for (const k of KS) {
    process.stderr.write(`K=${k}: raw iproute2 baseline\n`);
    const raw = await withNamespace('raw', (ns) => rawBaseline(ns, k, tmp));
    const results = { ts: [], upstream: [] };
    for (let round = 1; round <= OPTS.rounds; round++) {
      for (const agent of agents) {
        process.stderr.write(`K=${k}: ${agent} run ${round}/${OPTS.rounds}\n`);
        const name = `${agent}-${k}-${round}`;
        const dir = join(tmp, name);
        mkdirSync(dir);
        const cgroup = cgroupRoot ? createChildCgroup(cgroupRoot, name) : null;
        const suffix = agent === 'ts' ? 'ts' : 'up';
        results[agent].push(
          await withNamespace(suffix, (ns) => runInner(ns, agent, k, dir, cgroup)),
        );
        if (cgroupRoot) await removeCgroup(join(cgroupRoot, name));
      }
    }
    const ts = pool(results.ts);
    const up = pool(results.upstream);
    const [lines, v] = tableForK(k, ts, up, raw, bigK, OPTS);
    verdicts.push(...v);
    out([
      '',
      `K=${k} (raw bridge -batch + ip -batch: ${raw.runsS.map((s) => s.toFixed(3)).join(' / ')} s)`,
      ...lines,
      '',
      ...details('flannel-ts', ts),
      ...(up ? details('upstream', up) : []),
    ]);
  }
  const count = (v) => verdicts.filter((x) => x.verdict === v).length;
  const misses = verdicts.filter((x) => x.verdict === 'MISS');
  out([
    '',
    `targets: ${count('PASS')} PASS, ${count('MISS')} MISS${count('n/a') ? `, ${count('n/a')} n/a (need upstream)` : ''}${misses.length ? `; missed: ${misses.map((m) => `K=${m.k} ${m.label.trim()}`).join('; ')}` : ''}`,
    ...(UPSTREAM_BIN ? [] : ['upstream: not compared']),
  ]);
}

let code = 0;
try {
  await main();
} catch (err) {
  if (!interrupted)
    process.stderr.write(`bench failed: ${err instanceof Error ? err.message : err}\n`);
  code = interrupted ? 130 : 1;
} finally {
  await cleanup();
}
process.exit(code);
