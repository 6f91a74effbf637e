import type { Cidr } from '@flannel-ts/core';
import { cidrEquals, formatCidr, formatIp, parseCidr } from '@flannel-ts/core';
import type { BridgeNetworkSpec, DockerNetworkInfo } from './docker-api';

/** What the lease says docker0 should look like. */
export interface LeasedBridge {
  /** The leased subnet, network form (`10.5.3.0/24`). */
  readonly subnet: Cidr;
  readonly mtu: number;
}

/**
 * Compares Docker's default bridge with the lease and says exactly what to change (pure).
 * Docker reports the default bridge's MTU option only when it differs from 1500.
 */
export function checkDefaultBridge(bridge: DockerNetworkInfo, want: LeasedBridge): string[] {
  const problems: string[] = [];
  const gateway = formatIp({ family: 4, value: want.subnet.address + 1n });
  const bip = `${gateway}/${want.subnet.prefixLength}`;
  const actual = bridge.subnet ? parseCidr(bridge.subnet) : undefined;
  if (
    !actual ||
    !cidrEquals(actual, want.subnet) ||
    (bridge.gateway && bridge.gateway !== gateway)
  ) {
    problems.push(
      `docker0 is on ${bridge.subnet ?? 'no subnet'} (gateway ${bridge.gateway ?? 'none'}) but this host's lease is ${formatCidr(want.subnet)}: ` +
        `start dockerd with --bip=${bip} (or "bip": "${bip}" in daemon.json; flanneld --docker-daemon-json does this) and restart it`,
    );
  }
  const mtu = bridge.mtu ?? 1500;
  if (mtu !== want.mtu) {
    problems.push(
      `docker0's MTU is ${mtu} but the flannel MTU is ${want.mtu}: start dockerd with --mtu=${want.mtu} (or "mtu": ${want.mtu} in daemon.json), or containers will fragment or black-hole large packets`,
    );
  }
  return problems;
}

/**
 * A user-defined bridge network on the flannel subnet: subnet = the network address and gateway =
 * its `.1` (upstream's docs pass FLANNEL_SUBNET, the `.1` host address, as the subnet, which
 * Docker rejects).
 */
export function flannelNetworkSpec(name: string, want: LeasedBridge): BridgeNetworkSpec {
  return {
    name,
    subnet: formatCidr(want.subnet),
    gateway: formatIp({ family: 4, value: want.subnet.address + 1n }),
    mtu: want.mtu,
  };
}
