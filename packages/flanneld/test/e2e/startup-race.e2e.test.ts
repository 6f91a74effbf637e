import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readEnv, waitFor } from './agent-harness';
import type { Agent } from './agent-harness';
import { createHostNamespace } from './netns-harness';
import type { HostNamespace } from './netns-harness';

// Agents starting at the same moment on one host (a restart overlap, a storm) must not kill each
// other (issue 8): each reads iptables and the vxlan device, then writes, and another agent may
// have changed them in between. Every host here is a throwaway namespace with its own firewall.
jest.setTimeout(300_000);

let host: HostNamespace;
const running: Agent[] = [];

beforeAll(async () => {
  host = await createHostNamespace();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((a) => a.stop('SIGKILL')));
});
afterAll(async () => {
  await host?.cleanup();
});

/** Our lines of `iptables -t <table> -S`: chain declarations, jumps and chain rules. */
async function flannelRules(table: 'nat' | 'filter'): Promise<string[]> {
  const listing = await host.exec(['iptables', '-w', '-t', table, '-S']);
  return listing.split('\n').filter((l) => /FLANNEL|flanneld/.test(l));
}

/** One agent's worth: FLANNEL-POSTRTG, its jump and 6 rules; FLANNEL-FWD, its jump and 2 rules. */
async function oneSetOfRules(): Promise<boolean> {
  const [nat, filter] = [await flannelRules('nat'), await flannelRules('filter')];
  const jumps = (rules: string[], chain: string) =>
    rules.filter((l) => l.startsWith(`-A ${chain} `));
  return (
    nat.length === 8 &&
    jumps(nat, 'POSTROUTING').length === 1 &&
    filter.length === 4 &&
    jumps(filter, 'FORWARD').length === 1
  );
}

/**
 * Starts `count` agents at once and waits until each is up (its file written and every line of
 * `ready` logged: rules in place, data plane in sync) or has exited; then none may have exited.
 */
async function startAtOnce(
  count: number,
  args: (i: number) => string[],
  tag: string,
  ready: readonly RegExp[],
) {
  const agents = Array.from({ length: count }, (_, i) =>
    host.startAgent(
      [`--etcd-endpoints=${host.endpoint}`, '--iface=ul0', ...args(i)],
      join(host.dir, `${tag}-${i}.env`),
    ),
  );
  running.push(...agents);
  const up = (a: Agent) => ready.every((r) => r.test(a.output())) && existsSync(a.subnetFile);
  await waitFor(
    () => agents.every((a) => up(a) || a.child.exitCode !== null),
    `${count} agents to come up`,
    120_000,
  );
  // Every agent that exited, with its output: the assertion then shows why.
  const exited = agents.filter((a) => a.child.exitCode !== null).map((a) => a.output());
  expect(exited).toEqual([]);
  return agents;
}

describe.each([2, 8])('%i vxlan agents started at once in one host namespace', (count) => {
  it('all come up, twice in a row, and one agent’s worth of FLANNEL rules remains', async () => {
    const prefix = `/race-${count}/network`;
    await host.etcdctl([
      'put',
      `${prefix}/config`,
      '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}',
    ]);
    for (const round of [1, 2]) {
      // The same host restarted several times over: same public IP, same etcd, own subnet files.
      const agents = await startAtOnce(
        count,
        () => [`--etcd-prefix=${prefix}`, '--ip-masq', '--iptables-resync=1'],
        `vx${count}-${round}`,
        [/iptables rules in place/, /data plane in sync/],
      );
      await waitFor(oneSetOfRules, 'duplicates to be resynced away', 20_000);
      expect(agents.filter((a) => a.child.exitCode !== null)).toEqual([]);
      const codes = await Promise.all(running.splice(0).map((a) => a.stop('SIGTERM')));
      expect(codes).toEqual(Array<number>(count).fill(0));
    }
  });
});

describe('40 alloc agents with their own public IPs started at once in one host namespace', () => {
  it('all come up with 40 distinct leases and files, none exits, one set of FLANNEL rules', async () => {
    const prefix = '/race-40/network';
    await host.etcdctl([
      'put',
      `${prefix}/config`,
      '{"Network":"10.6.0.0/16","Backend":{"Type":"alloc"}}',
    ]);
    const started = Date.now();
    const agents = await startAtOnce(
      40,
      (i) => [`--etcd-prefix=${prefix}`, '--ip-masq', `--public-ip=10.77.0.${i + 1}`],
      'alloc',
      [/iptables rules in place/],
    );
    const keys = (await host.etcdctl(['get', '--prefix', '--keys-only', `${prefix}/subnets/`]))
      .split('\n')
      .filter(Boolean);
    process.stderr.write(`40 agents up after ${Date.now() - started} ms\n`);
    expect(keys).toHaveLength(40);
    const subnets = await Promise.all(
      agents.map(async (a) => (await readEnv(a.subnetFile))['FLANNEL_SUBNET']),
    );
    expect(new Set(subnets).size).toBe(40);
    await waitFor(oneSetOfRules, 'duplicates to be resynced away', 30_000);
    expect(agents.filter((a) => a.child.exitCode !== null)).toEqual([]);
  });
});
