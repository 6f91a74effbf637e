import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { noopLogger, parseCidr } from '@flannel-ts/core';
import type { Lease } from '@flannel-ts/core';
import { createEthtool, createIproute2Runner, createVxlanBackend } from '@flannel-ts/backend';
import type { DataPlaneRunners, SysctlWriter } from '@flannel-ts/backend';

// The settings the vxlan backend gives its device besides iproute2's attributes, with the real
// ethtool and /proc/sys of a throwaway namespace: TX checksum offload and accept_ra.
const ns = `ftds-${randomBytes(3).toString('hex')}`;
const inNs = ['ip', 'netns', 'exec', ns];
const sh = (...args: string[]): string =>
  execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
const nsExec = (...args: string[]): string =>
  execFileSync(inNs[0]!, [...inNs.slice(1), ...args], { encoding: 'utf8' });
/** /proc/sys/net belongs to the namespace of the process that opens it: write from inside `ns`. */
const sysctl: SysctlWriter = {
  set: (key, value) => {
    execFileSync(inNs[0]!, [...inNs.slice(1), 'tee', `/proc/sys/${key}`], { input: value });
    return Promise.resolve();
  },
};
const runners: DataPlaneRunners = {
  ip: createIproute2Runner({ netns: ns }),
  bridge: createIproute2Runner({ netns: ns, binary: 'bridge' }),
  ethtool: createEthtool({ prefix: inNs }),
  sysctl,
};
const txChecksum = (): string =>
  /tx-checksum-ip-generic: (\w+)/.exec(nsExec('ethtool', '-k', 'flannel.1'))?.[1] ?? 'absent';
const acceptRa = (): string => nsExec('cat', '/proc/sys/net/ipv6/conf/flannel.1/accept_ra').trim();
const signal = new AbortController().signal;

beforeAll(() => {
  execFileSync('ip', ['netns', 'add', ns]);
  sh('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
  sh('addr', 'add', '192.0.2.10/24', 'dev', 'v0');
  sh('link', 'set', 'v0', 'up');
});
afterAll(() => {
  runners.ip.close();
  runners.bridge.close();
  execFileSync('ip', ['netns', 'del', ns]);
});

describe('vxlan device settings on a real kernel', () => {
  it('turns TX checksum offload and accept_ra off on flannel.1, and again on the device rebuilt after a deletion', async () => {
    const backend = createVxlanBackend({
      iface: {
        name: 'v0',
        index: 0,
        mtu: 1500,
        ipv4: { address: '192.0.2.10', publicIp: '192.0.2.10' },
      },
      options: {},
      logger: noopLogger,
      runners,
      vxlanChecksumOffload: { mode: 'off', kernelRelease: '6.1.0' },
    });
    await backend.register(signal);
    expect({ tx: txChecksum(), acceptRa: acceptRa() }).toEqual({ tx: 'off', acceptRa: '0' });

    const own: Lease = {
      subnets: { ipv4: parseCidr('10.5.1.0/24')! },
      attrs: { publicIp: '192.0.2.10', publicIpv6: null },
      ttlLeaseId: '1',
    };
    const dp = (await backend.start(own, { ipv4: parseCidr('10.5.0.0/16')! }, signal))!;
    await dp.resync(signal); // the first pass (on a device just made, it reads nothing)
    sh('link', 'del', 'flannel.1');
    await dp.resync(signal);

    // A device made by `ip link add` has both on; the rebuilt one has them off again.
    expect({ tx: txChecksum(), acceptRa: acceptRa() }).toEqual({ tx: 'off', acceptRa: '0' });
  });

  it('says ethtool is missing, and which package has it, when it cannot be run', async () => {
    const noEthtool = createEthtool({ prefix: [...inNs, 'env', 'PATH=/nonexistent'] });
    await expect(noEthtool.set('flannel.1', 'tx-checksum-ip-generic', false)).rejects.toThrow(
      'ethtool is not installed: install it (Debian package ethtool)',
    );
  });

  it('names the command and ethtool’s error when the device does not exist', async () => {
    await expect(
      createEthtool({ prefix: inNs }).set('nosuch0', 'tx-checksum-ip-generic', false),
    ).rejects.toThrow(
      /ethtool -K nosuch0 tx-checksum-ip-generic off failed \(exit \d+\): .*no device matches name.*; .*No such device$/,
    );
  });
});
