import { noopLogger } from '@flannel-ts/core';
import {
  BackendConfigError,
  createExtensionBackend,
  parseExtensionOptions,
} from '@flannel-ts/backend';
import type { BackendContext } from '@flannel-ts/backend';
import { FakeIpRunner } from '@flannel-ts/backend/testing';

describe('parseExtensionOptions', () => {
  it('reads the four commands by upstream’s names, matched case-insensitively as Go’s JSON', () => {
    expect(
      parseExtensionOptions({
        Type: 'extension',
        prestartupcommand: 'cat /sys/class/net/x/address',
        POSTSTARTUPCOMMAND: 'ip link set x up',
        SubnetAddCommand: 'ip route add "$SUBNET" via "$PUBLIC_IP"',
        subnetRemoveCommand: 'ip route del "$SUBNET" via "$PUBLIC_IP"',
      }),
    ).toEqual({
      PreStartupCommand: 'cat /sys/class/net/x/address',
      PostStartupCommand: 'ip link set x up',
      SubnetAddCommand: 'ip route add "$SUBNET" via "$PUBLIC_IP"',
      SubnetRemoveCommand: 'ip route del "$SUBNET" via "$PUBLIC_IP"',
    });
  });

  it('requires none of them: absent, null and empty commands are left out (upstream skips them)', () => {
    expect(parseExtensionOptions({ Type: 'extension' })).toEqual({});
    expect(
      parseExtensionOptions({
        PreStartupCommand: null,
        SubnetAddCommand: '',
        PostStartupCommand: 'true',
      }),
    ).toEqual({ PostStartupCommand: 'true' });
  });

  it('refuses a command that is not a string, naming the option', () => {
    expect(() => parseExtensionOptions({ SubnetAddCommand: ['ip', 'route'] })).toThrow(
      new BackendConfigError(
        'Backend.SubnetAddCommand=["ip","route"]: must be a string (a command for sh -c); quote it in the network config',
      ),
    );
  });

  it('is checked when the backend is built, before anything runs', () => {
    const ctx = {
      iface: {
        name: 'eth0',
        index: 2,
        mtu: 1500,
        ipv4: { address: '192.0.2.1', publicIp: '192.0.2.1' },
      },
      options: { Type: 'extension', PreStartupCommand: 42 },
      logger: noopLogger,
      runners: { ip: new FakeIpRunner(), bridge: new FakeIpRunner() },
    } satisfies BackendContext;
    expect(() => createExtensionBackend(ctx)).toThrow(
      'Backend.PreStartupCommand=42: must be a string',
    );
  });
});
