// The raw baseline: how long iproute2 alone takes to program K peers, i.e. the floor the agent's
// "start → all programmed" is compared with (SPEC D13: about what iproute2 itself costs).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEVICE, batchLines, percentile, run } from './lib.mjs';
import { createVxlanDevice, deleteVxlanDevice } from './netns.mjs';

const REPEATS = 3;

/**
 * In the given (already created) namespace: REPEATS times, build a fresh flannel.1 and time
 * `bridge -batch FDB` followed by `ip -batch NEIGH+ROUTES` (wall time of the two processes, files
 * written beforehand). A fresh device each time, because the agent's first sync creates entries
 * rather than replacing existing ones. `-n` makes iproute2 enter the namespace itself, so there is
 * no `ip netns exec` in the timed part. Returns the median and every run, in seconds.
 */
export async function rawBaseline(ns, k, dir) {
  const lines = batchLines(k);
  const bridgeFile = join(dir, `raw-${k}.bridge`);
  const ipFile = join(dir, `raw-${k}.ip`);
  writeFileSync(bridgeFile, `${lines.bridge.join('\n')}\n`);
  writeFileSync(ipFile, `${lines.ip.join('\n')}\n`);
  const runs = [];
  for (let r = 0; r < REPEATS; r++) {
    await createVxlanDevice(ns);
    const t0 = performance.now();
    await run('bridge', ['-n', ns, '-batch', bridgeFile], { timeoutMs: 120_000 });
    await run('ip', ['-n', ns, '-batch', ipFile], { timeoutMs: 120_000 });
    runs.push((performance.now() - t0) / 1000);
    // Outside the timing: check that iproute2 really programmed every route.
    const routes = await run('ip', ['-n', ns, 'route', 'show', 'dev', DEVICE]);
    const count = routes.split('\n').filter((l) => l.includes(' via ')).length;
    if (count !== k) throw new Error(`raw baseline: ${count} routes on ${DEVICE}, expected ${k}`);
    await deleteVxlanDevice(ns);
  }
  return {
    medianS: percentile(
      [...runs].sort((a, b) => a - b),
      50,
    ),
    runsS: runs,
  };
}
