// Issue 10 "IPv6-only", black-box: a real flanneld (vxlan, "EnableIPv4": false) in a throwaway
// namespace with its own etcd: one clear error before anything is created when the interface has
// no IPv6 address; then the lease key and value as upstream writes them, the subnet file with only
// the IPv6 variables, no flannel.1, ip6tables rules, and the same subnet after a restart; then,
// switched to dual stack, a dual-stack lease in place of the IPv6-only one.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from './agent-harness';
import type { Agent } from './agent-harness';
import { createHostNamespace } from './netns-harness';
import type { HostNamespace } from './netns-harness';

jest.setTimeout(120_000);

const PREFIX = '/coreos.com/network';
const CONFIG =
  '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:42::/48","Backend":{"Type":"vxlan"}}';
const DUAL =
  '{"Network":"10.5.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:42::/48","Backend":{"Type":"vxlan"}}';
const V6 = '2001:db8:18::1';

let host: HostNamespace;
const agents: Agent[] = [];

beforeAll(async () => {
  host = await createHostNamespace();
  await host.etcdctl(['put', `${PREFIX}/config`, CONFIG]);
});
afterAll(async () => {
  for (const a of agents) await a.stop('SIGKILL');
  await host?.cleanup();
});

function start(): Agent {
  const agent = host.startAgent(['--etcd-endpoints=' + host.endpoint, '--iface=ul0'], file());
  agents.push(agent);
  return agent;
}
const file = () => join(host.dir, 'subnet.env');
const leases = async () =>
  (await host.etcdctl(['get', '--prefix', `${PREFIX}/subnets/`]))
    .trim()
    .split('\n')
    .filter((l) => l !== '');
const linkExists = (name: string) =>
  host.exec(['ip', 'link', 'show', name]).then(
    () => true,
    () => false,
  );

describe('an IPv6-only agent', () => {
  it('fails once, clearly, before creating anything, when the interface has no IPv6 address', async () => {
    // Not even a link-local one (upstream's rules accept fe80::/10 as a last resort).
    await host.exec(['sysctl', '-qw', 'net.ipv6.conf.ul0.disable_ipv6=1']);
    const agent = start();
    const code = await Promise.race([agent.exited, sleep(30_000).then(() => 'still running')]);
    expect(code).toBe(1);
    expect(agent.output()).toMatch(
      /interface ul0 has no usable IPv6 address \(global or link-local, not deprecated\), and the network config enables IPv6 \(EnableIPv6\)/,
    );
    expect(await linkExists('flannel.1')).toBe(false);
    expect(await linkExists('flannel-v6.1')).toBe(false);
    expect(await leases()).toEqual([]);
  });

  it('leases 0.0.0.0-0&<IPv6 subnet>, writes only the IPv6 variables, creates no flannel.1, and keeps its subnet across a restart', async () => {
    await host.exec(['sysctl', '-qw', 'net.ipv6.conf.ul0.disable_ipv6=0']);
    await host.exec(['ip', 'addr', 'add', `${V6}/64`, 'dev', 'ul0', 'nodad']);
    const first = start();
    await waitFor(
      () =>
        readFile(file(), 'utf8').then(
          () => true,
          () => false,
        ),
      'the subnet file',
    );
    const text = await readFile(file(), 'utf8');
    expect(text).toMatch(
      /^FLANNEL_IPV6_NETWORK=fd00:42::\/48\nFLANNEL_IPV6_SUBNET=fd00:42:[0-9a-f:]*::1\/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=false\n$/,
    );
    const subnet6 = /FLANNEL_IPV6_SUBNET=(\S+)::1\/64/.exec(text)![1]!;
    const [key, value] = await leases();
    expect(key).toBe(`${PREFIX}/subnets/0.0.0.0-0&${subnet6}::-64`);
    expect(value).toMatch(
      new RegExp(
        `^\\{"PublicIP":"0\\.0\\.0\\.0","PublicIPv6":"${V6}","BackendType":"vxlan","BackendV6Data":\\{"VNI":1,"VtepMAC":"[0-9a-f:]{17}"\\}\\}$`,
      ),
    );
    expect(first.output()).toMatch(/using interface.*IPv6 address 2001:db8:18::1/);
    expect(await linkExists('flannel.1')).toBe(false);
    // The forward rules (on by default) in ip6tables, and nothing of ours in iptables.
    await waitFor(
      async () => (await host.exec(['ip6tables-save', '-t', 'filter'])).includes('FLANNEL-FWD'),
      'the ip6tables forward rules',
    );
    expect(await host.exec(['ip6tables', '-S', 'FLANNEL-FWD'])).toContain(
      '-A FLANNEL-FWD -s fd00:42::/48 -m comment --comment "flanneld forward" -j ACCEPT',
    );
    expect(await host.exec(['iptables-save'])).not.toMatch(/FLANNEL/);

    expect(await first.stop('SIGTERM')).toBe(0);
    const second = start();
    await waitFor(() => second.output().includes('wrote subnet file'), 'the restarted agent');
    expect(await readFile(file(), 'utf8')).toBe(text);
    expect(await leases()).toHaveLength(2);
    expect((await leases())[0]).toBe(key);
    expect(second.output()).toMatch(/found lease for current IP, reusing/);
    expect(await second.stop('SIGTERM')).toBe(0);
  });

  it('switched to dual stack: replaces its IPv6-only lease with a dual-stack one carrying both families', async () => {
    await host.etcdctl(['put', `${PREFIX}/config`, DUAL]);
    const agent = start();
    await waitFor(() => agent.output().includes('wrote subnet file'), 'the dual-stack agent');
    expect(await readFile(file(), 'utf8')).toMatch(
      /^FLANNEL_NETWORK=10\.5\.0\.0\/16\nFLANNEL_SUBNET=10\.5\.\d+\.1\/24\nFLANNEL_IPV6_NETWORK=fd00:42::\/48\nFLANNEL_IPV6_SUBNET=fd00:42:[0-9a-f:]*::1\/64\nFLANNEL_MTU=\d+\nFLANNEL_IPMASQ=false\n$/,
    );
    const [key, value] = await leases();
    expect(key).toMatch(
      new RegExp(`^${PREFIX}/subnets/10\\.5\\.\\d+\\.0-24&fd00:42:[0-9a-f:]*::-64$`),
    );
    expect(value).toMatch(
      new RegExp(
        `^\\{"PublicIP":"198\\.18\\.0\\.1","PublicIPv6":"${V6}","BackendType":"vxlan",` +
          `"BackendData":\\{"VNI":1,"VtepMAC":"[0-9a-f:]{17}"\\},` +
          `"BackendV6Data":\\{"VNI":1,"VtepMAC":"[0-9a-f:]{17}"\\}\\}$`,
      ),
    );
    expect(await leases()).toHaveLength(2);
    expect(agent.output()).toMatch(/deleting our lease: it no longer fits the network config/);
  });
});
