import { noopLogger, parseCidr } from '@flannel-ts/core';
import type { Lease, Logger } from '@flannel-ts/core';
import { extensionBackendFactory } from '@flannel-ts/backend';
import type { Backend, ExtensionBackendDeps, ExternalInterface } from '@flannel-ts/backend';
import { FakeIpRunner } from '@flannel-ts/backend/testing';
import { FakeCommandRunner } from './fake-command-runner';

/** The host of the examples: upstream's observed vxlan lease used 192.168.77.1. */
export const iface: ExternalInterface = {
  name: 'eth0',
  index: 2,
  mtu: 1500,
  ipv4: { address: '192.168.77.1', publicIp: '192.168.77.1' },
};
export const network = parseCidr('10.5.0.0/16')!;
/** Our lease, as the agent acquires it. */
export const own: Lease = {
  subnets: { ipv4: parseCidr('10.5.34.0/24')! },
  attrs: { publicIp: '192.168.77.1', publicIpv6: null, backendType: 'extension' },
  ttlLeaseId: '1',
};

/**
 * An extension backend over a {@link FakeCommandRunner}. Its ip and bridge runners answer
 * nothing, so any kernel access fails the test: the extension backend itself touches no kernel.
 */
export function extensionBackend(
  options: Record<string, unknown>,
  extra: { deps?: ExtensionBackendDeps; logger?: Logger } = {},
): { backend: Backend; runner: FakeCommandRunner } {
  const runner = new FakeCommandRunner();
  const backend = extensionBackendFactory({ runner, ...extra.deps })({
    iface,
    options: { Type: 'extension', ...options },
    logger: extra.logger ?? noopLogger,
    runners: { ip: new FakeIpRunner(), bridge: new FakeIpRunner() },
  });
  return { backend, runner };
}
