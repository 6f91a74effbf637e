// A cgroup v2 per agent run, so that "agent CPU" counts the agent and every process it starts,
// long-lived children included (cpu.stat usage_usec), and so that the whole tree can be killed at
// once (cgroup.kill). run.mjs creates and removes the groups; inner.mjs, which runs under
// `ip netns exec` (that remounts /sys, so the host's cgroup mounts are not visible there), mounts
// cgroup2 in its own private mount namespace and puts the agent into its group.
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { run, sleep } from './lib.mjs';

/** Where cgroup2 is mounted in this mount namespace (pure v2 or hybrid's `unified`), or null. */
export function cgroup2Mount() {
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, mountPoint, type] = line.split(' ');
    if (type === 'cgroup2') return mountPoint;
  }
  return null;
}

/**
 * Creates `<cgroup2>/<name>` for this benchmark run; returns its absolute path, or null (with the
 * reason in `why`) when cgroup2 is absent or not writable (CPU then falls back to /proc readings).
 */
export function createBenchCgroup(name, why = []) {
  const mount = cgroup2Mount();
  if (!mount) {
    why.push('no cgroup2 mount');
    return null;
  }
  const path = join(mount, name);
  try {
    mkdirSync(path);
    return path;
  } catch (e) {
    why.push(`cannot create ${path}: ${e.message}`);
    return null;
  }
}

/** Creates a child group `<parent>/<name>`; returns its path relative to the cgroup2 root. */
export function createChildCgroup(parent, name) {
  mkdirSync(join(parent, name));
  return join(parent.slice(cgroup2Mount().length), name);
}

/**
 * Kills every process in the group and its children (cgroup.kill, Linux >= 5.14; else SIGKILL by
 * pid), waits until it is empty, then removes it. Bounded: gives up after 5 s with an error.
 */
export async function removeCgroup(path) {
  if (!existsSync(path)) return;
  for (const child of listChildren(path)) await removeCgroup(join(path, child));
  const deadline = Date.now() + 5000;
  for (;;) {
    const pids = readFileSync(join(path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
    if (pids.length === 0) break;
    if (existsSync(join(path, 'cgroup.kill'))) writeFileSync(join(path, 'cgroup.kill'), '1');
    else {
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
    }
    if (Date.now() > deadline) throw new Error(`processes ${pids} in ${path} do not die`);
    await sleep(20);
  }
  rmdirSync(path);
}

function listChildren(path) {
  // Child groups are the subdirectories; everything else in a group is a control file.
  return readdirSync(path, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);
}

/**
 * Inside inner.mjs: the absolute path of the group `relative` (to the cgroup2 root), mounting
 * cgroup2 at `mountDir` first if this mount namespace has none (the mount lives and dies with
 * the namespace `ip netns exec` made for us).
 */
export async function openCgroup(relative, mountDir) {
  let mount = cgroup2Mount();
  if (!mount) {
    mkdirSync(mountDir, { recursive: true });
    await run('mount', ['-t', 'cgroup2', 'cgroup2', mountDir]);
    mount = mountDir;
  }
  const path = join(mount, relative);
  if (!existsSync(join(path, 'cgroup.procs'))) throw new Error(`cgroup ${path} missing`);
  return path;
}

/** CPU seconds used by every process that ever ran in the group (cpu.stat usage_usec). */
export function cgroupCpuS(path) {
  const m = /^usage_usec (\d+)$/m.exec(readFileSync(join(path, 'cpu.stat'), 'utf8'));
  if (!m) throw new Error(`no usage_usec in ${path}/cpu.stat`);
  return Number(m[1]) / 1e6;
}

/** Pids currently in the group. */
export function cgroupPids(path) {
  return readFileSync(join(path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
}
