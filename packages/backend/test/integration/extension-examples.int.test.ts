import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { noopLogger, parseCidr } from '@flannel-ts/core';
import type { Lease } from '@flannel-ts/core';
import { createShellCommandRunner, extensionBackendFactory } from '@flannel-ts/backend';
import type { Backend } from '@flannel-ts/backend';
import { FakeIpRunner } from '@flannel-ts/backend/testing';
import { HOST_GW_EXAMPLE, VXLAN_EXAMPLE, VXLAN_RESTART_SAFE } from './extension-examples';
import { describeAsRoot } from './traffic-netns';

// Upstream's two documented examples, verbatim, run by the extension backend through `sh -c`
// inside a throwaway network namespace (`ip netns exec`, which also gives the namespace its own
// /sys): what they do to the namespace's kernel is checked with ip and bridge.

const ns = `ftext-${process.pid}`;
const ip = (...args: string[]): string =>
  execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
const signal = new AbortController().signal;

function backendOf(options: Record<string, unknown>): Backend {
  return extensionBackendFactory({ runner: createShellCommandRunner({ netns: ns }) })({
    iface: {
      name: 'v0',
      index: 2,
      mtu: 1500,
      ipv4: { address: '192.0.2.10', publicIp: '192.0.2.10' },
    },
    options,
    logger: noopLogger,
    runners: { ip: new FakeIpRunner(), bridge: new FakeIpRunner() },
  });
}

function leaseOf(subnet: string, publicIp: string, backendData?: string): Lease {
  return {
    subnets: { ipv4: parseCidr(subnet)! },
    attrs: { publicIp, publicIpv6: null, backendType: 'extension', backendData },
    ttlLeaseId: '5',
  };
}

describeAsRoot('upstream’s extension examples, verbatim, in a network namespace', () => {
  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', ns]);
    ip('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
    ip('addr', 'add', '192.0.2.10/24', 'dev', 'v0');
    ip('link', 'set', 'v0', 'up');
    ip('link', 'set', 'v1', 'up');
  });
  afterAll(() => {
    execFileSync('ip', ['netns', 'del', ns]);
  });

  it('host-gw: adds the route to a peer’s subnet via its public IP, and deletes it', async () => {
    const backend = backendOf({ ...HOST_GW_EXAMPLE });
    await backend.register(signal);
    const own = leaseOf('10.0.1.0/24', '192.0.2.10');
    const dp = (await backend.start(own, { ipv4: parseCidr('10.0.0.0/16')! }, signal))!;
    dp.update([['10.0.2.0-24', leaseOf('10.0.2.0/24', '192.0.2.11')]]);
    await dp.apply(signal);
    expect(ip('route', 'show', '10.0.2.0/24')).toBe('10.0.2.0/24 via 192.0.2.11 dev v0 \n');

    dp.update([['10.0.2.0-24', undefined]]);
    await dp.apply(signal);
    expect(ip('route', 'show', '10.0.2.0/24')).toBe('');
  });

  it('host-gw: after a restart the add finds its route still there and fails: the peer stays pending', async () => {
    const own = leaseOf('10.0.1.0/24', '192.0.2.10');
    const peer = leaseOf('10.0.3.0/24', '192.0.2.11');
    const startOnce = async () => {
      const dp = (await backendOf({ ...HOST_GW_EXAMPLE }).start(
        own,
        { ipv4: parseCidr('10.0.0.0/16')! },
        signal,
      ))!;
      dp.update([['10.0.3.0-24', peer]]);
      await dp.apply(signal);
      return dp;
    };
    await startOnce();
    // The agent restarts; its route is still in place. Upstream logs the failure once and goes
    // on; we retry it with back-off and show the peer pending (see docs/configuration.md).
    const restarted = await startOnce();
    expect(restarted.peerStates()).toEqual([
      {
        key: '10.0.3.0-24',
        state: 'pending',
        reason: 'exit status 2: RTNETLINK answers: File exists',
      },
    ]);
    ip('route', 'del', '10.0.3.0/24');
  });

  it('vxlan: the device, its MAC in our lease, our address, and a peer’s route, neighbour and FDB entry', async () => {
    const backend = backendOf({ ...VXLAN_EXAMPLE });
    const data = await backend.register(signal);
    const [link] = JSON.parse(ip('-j', 'link', 'show', 'flannel-vxlan')) as { address: string }[];
    expect(data).toEqual({ backendType: 'extension', backendData: link?.address });

    const own = leaseOf('10.50.34.0/24', '192.0.2.10');
    const dp = (await backend.start(own, { ipv4: parseCidr('10.50.0.0/16')! }, signal))!;
    expect(ip('-br', 'addr', 'show', 'dev', 'flannel-vxlan')).toMatch(
      /^flannel-vxlan\s+UNKNOWN\s+10\.50\.34\.0\/32 /,
    );

    dp.update([['10.50.2.0-24', leaseOf('10.50.2.0/24', '192.0.2.11', 'aa:bb:cc:dd:ee:02')]]);
    await expect(dp.apply(signal)).resolves.toMatchObject({ programmedPeers: 1 });
    expect(ip('route', 'show', '10.50.2.0/24')).toBe(
      '10.50.2.0/24 via 10.50.2.0 dev flannel-vxlan onlink \n',
    );
    expect(ip('neigh', 'show', 'dev', 'flannel-vxlan')).toBe(
      '10.50.2.0 lladdr aa:bb:cc:dd:ee:02 PERMANENT \n',
    );
    const fdb = execFileSync('bridge', ['-n', ns, 'fdb', 'show', 'dev', 'flannel-vxlan'], {
      encoding: 'utf8',
    });
    expect(fdb).toContain('aa:bb:cc:dd:ee:02 dst 192.0.2.11 self permanent');
  });

  it('vxlan, restart-safe (docs/configuration.md): a restart keeps device, MAC and peer; a new peer MAC replaces its entries; a leaving peer’s entries go', async () => {
    try {
      ip('link', 'del', 'flannel-vxlan'); // the verbatim example's device, from the test above
    } catch {
      // none: nothing to remove
    }
    const fdb = (): string =>
      execFileSync('bridge', ['-n', ns, 'fdb', 'show', 'dev', 'flannel-vxlan'], {
        encoding: 'utf8',
      });
    const own = leaseOf('10.50.34.0/24', '192.0.2.10');
    const startOnce = async (peerMac: string) => {
      const backend = backendOf({ ...VXLAN_RESTART_SAFE });
      const data = await backend.register(signal);
      const dp = (await backend.start(own, { ipv4: parseCidr('10.50.0.0/16')! }, signal))!;
      dp.update([['10.50.5.0-24', leaseOf('10.50.5.0/24', '192.0.2.11', peerMac)]]);
      await dp.apply(signal);
      return { data, dp };
    };
    const first = await startOnce('aa:bb:cc:dd:ee:05');
    // The agent restarts, and meanwhile the peer's VTEP MAC changed.
    const { data, dp } = await startOnce('aa:bb:cc:dd:ee:06');

    expect(data).toEqual(first.data);
    expect(dp.peerStates()).toEqual([{ key: '10.50.5.0-24', state: 'programmed' }]);
    expect(ip('route', 'show', '10.50.5.0/24')).toBe(
      '10.50.5.0/24 via 10.50.5.0 dev flannel-vxlan onlink \n',
    );
    expect(ip('neigh', 'show', 'dev', 'flannel-vxlan')).toBe(
      '10.50.5.0 lladdr aa:bb:cc:dd:ee:06 PERMANENT \n',
    );
    expect(fdb()).toContain('aa:bb:cc:dd:ee:06 dst 192.0.2.11 self permanent');

    dp.update([['10.50.5.0-24', undefined]]);
    await dp.apply(signal);
    expect(ip('route', 'show', '10.50.5.0/24')).toBe('');
    expect(ip('neigh', 'show', 'dev', 'flannel-vxlan')).toBe('');
    expect(fdb()).not.toContain('aa:bb:cc:dd:ee:06');
  });

  it('docs/configuration.md shows the restart-safe variant exactly as tested here', () => {
    const doc = readFileSync(resolve(__dirname, '../../../../docs/configuration.md'), 'utf8');
    const config = { Network: '10.50.0.0/16', Backend: VXLAN_RESTART_SAFE };
    expect(doc).toContain(`\`\`\`json\n${JSON.stringify(config, null, 2)}\n\`\`\``);
  });
});
