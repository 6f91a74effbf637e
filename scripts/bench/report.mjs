// The benchmark's report: per K, every figure of flannel-ts next to upstream flanneld's (when one
// was given) with the ratio ts/upstream and the issue's target with PASS/MISS. Runs of one agent
// at one K (rounds) are pooled: latency samples together, CPU as total CPU over total time.
import { stats } from './lib.mjs';

const TARGET_K_SMALL = 10;
const TARGET_K_BIG = 5000;

/** Pools the RESULT objects of one agent's rounds at one K into the figures the table shows. */
export function pool(results) {
  if (!results || results.length === 0) return null;
  const all = (f) => results.flatMap(f);
  const sum = (f) => results.reduce((s, r) => s + f(r), 0);
  const max = (f) => Math.max(...results.map(f));
  const pct = (part) => (100 * sum((r) => r[part].treeS)) / sum((r) => r[part].wallS);
  const healDevice = (name) => {
    const xs = results.map((r) => r.heal.device[name]);
    return xs.some((x) => x === null || x === undefined) ? null : Math.max(...xs);
  };
  return {
    runs: results,
    startS: sum((r) => r.startS) / results.length,
    startEntriesS: sum((r) => r.startEntriesS) / results.length,
    put: stats(all((r) => r.quiet.put)),
    del: stats(all((r) => r.quiet.del)),
    lost: sum((r) => r.quiet.lostPut + r.quiet.lostDel + r.churn.lostPut + r.churn.lostDel),
    lostDetail: {
      quietPut: sum((r) => r.quiet.lostPut),
      quietDel: sum((r) => r.quiet.lostDel),
      churnPut: sum((r) => r.churn.lostPut),
      churnDel: sum((r) => r.churn.lostDel),
    },
    events: sum((r) => r.quiet.events + r.churn.events),
    rssMiB: max((r) => r.mem.rssMiB),
    idlePct: pct('idle'),
    idleOwnPct: (100 * sum((r) => r.idle.ownS)) / sum((r) => r.idle.wallS),
    churnPct: pct('churn'),
    churnOwnPct: (100 * sum((r) => r.churn.ownS)) / sum((r) => r.churn.wallS),
    churnPut: stats(all((r) => r.churn.put)),
    churnDel: stats(all((r) => r.churn.del)),
    heal: Object.fromEntries(
      ['route', 'neigh', 'fdb'].map((kind) => [
        kind,
        {
          ...stats(all((r) => r.heal[kind])),
          failed: sum((r) => r.heal.notRepaired.filter((k) => k === kind).length),
          unseen: sum((r) => r.heal.unseen.filter((k) => k === kind).length),
        },
      ]),
    ),
    deviceUpMs: healDevice('upMs'),
    deviceRoutesMs: healDevice('routesBackMs'),
    deviceAllMs: healDevice('allBackMs'),
  };
}

const isNum = (x) => typeof x === 'number' && Number.isFinite(x);
/** Fixed decimals that keep about three significant digits. */
function num(x, unitDigits) {
  if (!isNum(x)) return '-';
  if (unitDigits !== undefined) return x.toFixed(unitDigits);
  const a = Math.abs(x);
  return x.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3);
}

/**
 * The table for one K. `ts` and `up` are pooled figures (`up` null when upstream was not run);
 * `raw` the raw batch baseline; `bigK` the K the 5000-peer targets are checked at; `opts` the
 * run's parameters (for "not within N s" cells). Returns [lines, verdicts].
 */
export function tableForK(k, ts, up, raw, bigK, opts) {
  const rows = [];
  const verdicts = [];
  const isBig = k === bigK;
  const bigNote = isBig && k !== TARGET_K_BIG ? ` (stated for ${TARGET_K_BIG})` : '';
  const healNever = `>${opts.healTimeoutS} s`;
  // One row: label, the two values (numbers, or strings for special cells), the target (text and
  // a check on the ts value, given the upstream value; null check = informative row).
  const row = (label, tv, uv, target = '', check = null, fmt = num) => {
    const cell = (v) => (typeof v === 'string' ? v : fmt(v));
    const ratio = up && isNum(tv) && isNum(uv) && uv !== 0 ? `${(tv / uv).toFixed(2)}` : '-';
    let verdict = '';
    if (check) {
      const ok = check(tv, uv);
      verdict = ok === null ? 'n/a' : ok ? 'PASS' : 'MISS';
      verdicts.push({ k, label, target, verdict });
    }
    rows.push([label, cell(tv), up ? cell(uv) : null, up ? ratio : null, target, verdict]);
  };
  const leUp = (factor) => (t, u) => (!up || !isNum(u) ? null : isNum(t) && t <= factor * u);
  const le = (limit) => (t) => isNum(t) && t <= limit;
  const U = (f) => (up ? f(up) : undefined);

  row(
    'put → route p50 (ms)',
    ts.put.p50,
    U((u) => u.put.p50),
    '≤ upstream',
    leUp(1),
  );
  row(
    'put → route p99 (ms)',
    ts.put.p99,
    U((u) => u.put.p99),
    isBig ? `≤ 15 ms${bigNote}` : '',
    isBig ? le(15) : null,
  );
  row(
    'delete → gone p50 (ms)',
    ts.del.p50,
    U((u) => u.del.p50),
    '≤ upstream',
    leUp(1),
  );
  row(
    'delete → gone p99 (ms)',
    ts.del.p99,
    U((u) => u.del.p99),
    isBig ? `≤ 15 ms${bigNote}` : '',
    isBig ? le(15) : null,
  );
  const lostCell = (p) => `${p.lost}/${p.events}`;
  row(
    `events lost (> ${opts.lostAfterMs / 1000} s)`,
    lostCell(ts),
    U(lostCell),
    'none',
    () => ts.lost === 0,
  );
  const startTarget = k === TARGET_K_SMALL ? ['≤ 0.35 s', le(0.35)] : [];
  row(
    'start → all routes (s)',
    ts.startS,
    U((u) => u.startS),
    ...startTarget,
  );
  row(
    `  ÷ raw batch ${num(raw.medianS)} s (x)`,
    ts.startS / raw.medianS,
    U((u) => u.startS / raw.medianS),
    isBig ? `≤ 1.5${bigNote}` : '',
    isBig ? le(1.5) : null,
  );
  row(
    'start → all entries (s)',
    ts.startEntriesS,
    U((u) => u.startEntriesS),
  );
  row(
    'RSS, all programmed (MiB)',
    ts.rssMiB,
    U((u) => u.rssMiB),
    isBig ? `≤ 70 MiB${bigNote}` : '',
    isBig ? le(70) : null,
  );
  row(
    'idle CPU (% of a core)',
    ts.idlePct,
    U((u) => u.idlePct),
    isBig ? `≤ 2x upstream${bigNote}` : '',
    isBig ? leUp(2) : null,
  );
  row(
    `churn CPU, ${opts.churnRate} ev/s (% core)`,
    ts.churnPct,
    U((u) => u.churnPct),
    '≤ 3x upstream',
    leUp(3),
  );
  row(
    'churn put → route p50 (ms)',
    ts.churnPut.p50,
    U((u) => u.churnPut.p50),
  );
  row(
    'churn put → route p99 (ms)',
    ts.churnPut.p99,
    U((u) => u.churnPut.p99),
  );
  row(
    'churn delete → gone p99 (ms)',
    ts.churnDel.p99,
    U((u) => u.churnDel.p99),
  );
  for (const kind of ['route', 'neigh', 'fdb']) {
    // The worst sample counts; an entry never repaired shows as "> timeout".
    const cell = (p) =>
      p.heal[kind].failed > 0 ? healNever : p.heal[kind].n === 0 ? 'not deleted' : p.heal[kind].max;
    row(
      `${kind} deleted → back, max (ms)`,
      cell(ts),
      U(cell),
      '≤ 50 ms',
      (t) => isNum(t) && t <= 50,
    );
  }
  const dev = (name) => (p) => (p[name] === null ? healNever : p[name]);
  row('device deleted → up (ms)', dev('deviceUpMs')(ts), U(dev('deviceUpMs')));
  row(
    'device deleted → all routes (ms)',
    dev('deviceRoutesMs')(ts),
    U(dev('deviceRoutesMs')),
    '≤ 1000 ms',
    (t) => isNum(t) && t <= 1000,
  );
  row('device deleted → all entries (ms)', dev('deviceAllMs')(ts), U(dev('deviceAllMs')));

  const head = ['', 'flannel-ts', up ? 'upstream' : null, up ? 'ts/up' : null, 'target', ''];
  const keep = head.map((h) => h !== null);
  const table = [head, ...rows].map((r) => r.filter((_, i) => keep[i]));
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  const lines = table.map((r) =>
    r
      .map((c, i) => (i === 0 || i >= r.length - 2 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd(),
  );
  return [lines, verdicts];
}

/** Detail lines for one agent at one K: what the table pools, per run. */
export function details(name, p) {
  const f = (x) => num(x);
  const out = [`  ${name}:`];
  const overflows = p.runs.reduce((n, r) => n + r.monitorOverflows, 0);
  if (overflows > 0) {
    out.push(
      `    WARNING: ip monitor reported ${overflows} netlink overflow(s) (ENOBUFS): some kernel events may be missing`,
    );
  }
  const r0 = p.runs[0];
  out.push(
    `    milestones of run 1 (ms after spawn): ${Object.entries(r0.milestones)
      .map(([m, ms]) => `${m} ${num(ms, 0)}`)
      .join('; ')}`,
  );
  out.push(
    `    start → all routes per run: ${p.runs.map((r) => `${num(r.startS, 3)} s`).join(', ')}; CPU until programmed ${p.runs.map((r) => `${num(r.cpuAtProgrammedS, 2)} s`).join(', ')}`,
  );
  out.push(
    `    quiet samples: put ${p.put.n}, delete ${p.del.n}; max put ${f(p.put.max)} ms, delete ${f(p.del.max)} ms; etcd put RPC p50/p99 ${p.runs.map((r) => `${f(r.quiet.rpc.p50)}/${f(r.quiet.rpc.p99)}`).join(', ')} ms`,
  );
  const l = p.lostDetail;
  out.push(
    `    lost: quiet put ${l.quietPut}, quiet delete ${l.quietDel}, churn put ${l.churnPut}, churn delete ${l.churnDel}; churn put→route p50/p99/max ${f(p.churnPut.p50)}/${f(p.churnPut.p99)}/${f(p.churnPut.max)} ms, delete ${f(p.churnDel.p50)}/${f(p.churnDel.p99)}/${f(p.churnDel.max)} ms`,
  );
  out.push(
    `    memory per run: ${p.runs.map((r) => `VmRSS ${f(r.mem.rssMiB)} (anon ${f(r.mem.anonMiB)}, file ${f(r.mem.fileMiB)}), HWM ${f(r.mem.hwmMiB)}, ${r.mem.children} children ${f(r.mem.childrenRssMiB)}`).join('; ')} MiB`,
  );
  out.push(
    `    CPU (${r0.cpuMethod}): idle ${f(p.idlePct)} % (agent process alone ${f(p.idleOwnPct)} %), churn ${f(p.churnPct)} % (alone ${f(p.churnOwnPct)} %)`,
  );
  const h = (kind) =>
    `${kind} ${p.heal[kind].n} back (p50 ${f(p.heal[kind].p50)} ms)${p.heal[kind].failed ? `, ${p.heal[kind].failed} not` : ''}${p.heal[kind].unseen ? `, ${p.heal[kind].unseen} deletion unseen` : ''}`;
  out.push(
    `    self-healing: ${['route', 'neigh', 'fdb'].map(h).join('; ')}; device runs ${p.runs
      .map((r) => {
        const d = r.heal.device;
        const ms = (x) => (x === null ? 'never' : `${num(x, 0)} ms`);
        return `up ${ms(d.upMs)}/routes ${ms(d.routesBackMs)}/all ${ms(d.allBackMs)}`;
      })
      .join(', ')}`,
  );
  return out;
}
