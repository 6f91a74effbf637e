// Throwaway network namespaces for the benchmark. Everything the benchmark creates lives in one of
// these, so deleting them (after killing the processes still inside, by pid) undoes everything.
import { randomBytes } from 'node:crypto';
import { DEVICE, UNDERLAY_IP, run, sleep } from './lib.mjs';

/** A fresh name: `ftbench-<6 hex>` plus a suffix telling what it is for. */
export function namespaceName(suffix) {
  return `ftbench-${randomBytes(3).toString('hex')}-${suffix}`;
}

/**
 * Creates a namespace with lo up and a veth pair v0/v1 (both ends inside), v0 = 10.200.0.1/16 up:
 * the agent's "external interface" and the underlay of the synthetic peers' PublicIPs. The caller
 * must record the name for cleanup before calling (a half-built namespace must still be removed).
 */
export async function createNamespace(name) {
  await run('ip', ['netns', 'add', name]);
  const lines = [
    'link set lo up',
    'link add v0 type veth peer name v1',
    `addr add ${UNDERLAY_IP}/16 dev v0`,
    'link set v0 up',
    'link set v1 up',
  ];
  await run('ip', ['-n', name, '-batch', '-'], { input: `${lines.join('\n')}\n` });
}

/** The VXLAN device as the agent builds it (SPEC 4.1), made by hand for the raw baseline. */
export async function createVxlanDevice(name) {
  const lines = [
    `link add ${DEVICE} type vxlan id 1 local ${UNDERLAY_IP} dev v0 dstport 8472 nolearning`,
    `link set ${DEVICE} mtu 1450 up`,
    // An own-subnet address outside every synthetic peer subnet, as the agent would add.
    `addr add 10.254.0.0/32 dev ${DEVICE}`,
  ];
  await run('ip', ['-n', name, '-batch', '-'], { input: `${lines.join('\n')}\n` });
}

export async function deleteVxlanDevice(name) {
  await run('ip', ['-n', name, 'link', 'del', DEVICE]);
}

async function pidsIn(name) {
  const out = await run('ip', ['netns', 'pids', name]).catch(() => '');
  return out.split(/\s+/).filter(Boolean).map(Number);
}

/**
 * Kills whatever still runs inside the namespace (only processes this benchmark started can be
 * there: the namespace is ours and fresh), then deletes it. `ip netns del` alone would leave the
 * namespace alive as long as a process holds it. Bounded: gives up after 10 s with an error.
 */
export async function deleteNamespace(name) {
  const list = await run('ip', ['netns', 'list']);
  if (!list.split('\n').some((l) => l.split(' ')[0] === name)) return;
  const deadline = Date.now() + 10_000;
  for (let pids = await pidsIn(name); pids.length > 0; pids = await pidsIn(name)) {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone between the listing and the kill.
      }
    }
    if (Date.now() > deadline) throw new Error(`processes ${pids} in ${name} do not die`);
    await sleep(50);
  }
  await run('ip', ['netns', 'del', name]);
}
