import { parseCidr } from '@flannel-ts/core';
import type { Lease } from '@flannel-ts/core';
import { extensionBackend, network, own } from './extension-fixtures';
import { exit, extLease, joined, left } from './fake-command-runner';

// What each command is given (upstream backend/extension: extension.go RegisterNetwork for
// PostStartupCommand, extension_network.go handleSubnetEvents for the add and remove commands;
// runCmd appends the variables to the agent's environment and writes stdin, then a newline).

const signal = new AbortController().signal;

const dualStack: Lease = {
  subnets: { ipv4: parseCidr('10.5.34.0/24')!, ipv6: parseCidr('fd00:5:0:22::/64')! },
  attrs: { publicIp: '192.168.77.1', publicIpv6: '2001:db8::1', backendType: 'extension' },
  ttlLeaseId: '1',
};

describe('PostStartupCommand', () => {
  it('gets NETWORK, SUBNET and PUBLIC_IP in network form, and a newline on stdin', async () => {
    const { backend, runner } = extensionBackend({ PostStartupCommand: 'ip link set x up' });
    await backend.start(own, { ipv4: network }, signal);
    expect(runner.runs).toEqual([
      {
        name: 'PostStartupCommand',
        script: 'ip link set x up',
        env: { NETWORK: '10.5.0.0/16', SUBNET: '10.5.34.0/24', PUBLIC_IP: '192.168.77.1' },
        stdin: '\n',
      },
    ]);
  });

  it('also gets IPV6SUBNET and PUBLIC_IPV6 when our lease has them', async () => {
    const { backend, runner } = extensionBackend({ PostStartupCommand: 'true' });
    await backend.start(dualStack, { ipv4: network }, signal);
    expect(runner.runs[0]?.env).toEqual({
      NETWORK: '10.5.0.0/16',
      SUBNET: '10.5.34.0/24',
      PUBLIC_IP: '192.168.77.1',
      IPV6SUBNET: 'fd00:5:0:22::/64',
      PUBLIC_IPV6: '2001:db8::1',
    });
  });

  it('fails start, to be retried, with the exit status and stderr', async () => {
    const { backend, runner } = extensionBackend({ PostStartupCommand: 'ip addr add x' });
    runner.answer = () => exit(1, 'Cannot find device "flannel-vxlan"\n');
    const start = backend.start(own, { ipv4: network }, signal);
    await expect(start).rejects.toThrow(
      'PostStartupCommand failed: exit status 1: Cannot find device "flannel-vxlan"',
    );
    await expect(start).rejects.toMatchObject({ disposition: 'retry' });
  });

  it('is skipped when not configured', async () => {
    const { backend, runner } = extensionBackend({});
    await backend.start(own, { ipv4: network }, signal);
    expect(runner.runs).toEqual([]);
  });
});

describe('SubnetAddCommand and SubnetRemoveCommand', () => {
  const options = { SubnetAddCommand: 'add-it', SubnetRemoveCommand: 'remove-it' };

  it('get the peer’s SUBNET and PUBLIC_IP, and its BackendData string and a newline on stdin', async () => {
    const { backend, runner } = extensionBackend(options);
    const dp = (await backend.start(own, { ipv4: network }, signal))!;
    dp.update(joined(extLease(2)));
    await dp.apply(signal);
    dp.update(left(2));
    await dp.apply(signal);
    const given = {
      env: { SUBNET: '10.5.2.0/24', PUBLIC_IP: '192.0.2.2' },
      stdin: 'aa:bb:cc:dd:ee:02\n',
    };
    expect(runner.runs).toEqual([
      { name: 'SubnetAddCommand', script: 'add-it', ...given },
      { name: 'SubnetRemoveCommand', script: 'remove-it', ...given },
    ]);
  });

  it('give just a newline when the peer has no BackendData (absent or null)', async () => {
    const { backend, runner } = extensionBackend(options);
    const dp = (await backend.start(own, { ipv4: network }, signal))!;
    const absent = extLease(2);
    dp.update(
      joined({ ...absent, attrs: { ...absent.attrs, backendData: undefined } }, extLease(3, null)),
    );
    await dp.apply(signal);
    expect(runner.runs.map((r) => r.stdin)).toEqual(['\n', '\n']);
  });

  it('also get IPV6SUBNET and PUBLIC_IPV6 when the peer has them (upstream documents them)', async () => {
    const { backend, runner } = extensionBackend(options);
    const dp = (await backend.start(own, { ipv4: network }, signal))!;
    const peer: Lease = {
      ...extLease(2),
      subnets: { ipv4: parseCidr('10.5.2.0/24')!, ipv6: parseCidr('fd00:5:0:2::/64')! },
      attrs: { ...extLease(2).attrs, publicIpv6: '2001:db8::2' },
    };
    dp.update(joined(peer));
    await dp.apply(signal);
    expect(runner.runs[0]?.env).toEqual({
      SUBNET: '10.5.2.0/24',
      PUBLIC_IP: '192.0.2.2',
      IPV6SUBNET: 'fd00:5:0:2::/64',
      PUBLIC_IPV6: '2001:db8::2',
    });
  });

  it('skip a peer whose BackendData is not a string, saying why (upstream cannot decode it either)', async () => {
    const { backend, runner } = extensionBackend(options);
    const dp = (await backend.start(own, { ipv4: network }, signal))!;
    dp.update(joined(extLease(2, { VNI: 1, VtepMAC: 'aa:bb:cc:dd:ee:02' })));
    const report = await dp.apply(signal);
    expect(runner.runs).toEqual([]);
    expect(report.skippedPeers).toEqual(['10.5.2.0/24 (192.0.2.2)']);
    expect(dp.peerStates()).toEqual([
      {
        key: '10.5.2.0-24',
        state: 'skipped',
        reason:
          'its BackendData is not a JSON string (object); extension hosts publish their PreStartupCommand output as one',
      },
    ]);
  });
});
