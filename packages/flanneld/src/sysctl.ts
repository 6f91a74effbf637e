import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import type { Logger } from '@flannel-ts/core';
import { FlannelError, errorMessage } from '@flannel-ts/core';

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

/** Turns on IPv4 forwarding (a host routing container traffic needs it), if it is not on already. */
export async function enableIpForwarding(logger: Logger): Promise<void> {
  try {
    if ((await readFile(IP_FORWARD, 'utf8')).trim() === '1') return;
    await writeFile(IP_FORWARD, '1\n');
    logger.info('enabled IPv4 forwarding', { sysctl: 'net.ipv4.ip_forward' });
  } catch (err) {
    throw new FlannelError(
      'SYSCTL',
      `cannot enable IPv4 forwarding (${IP_FORWARD}): ${errorMessage(err)}; run flanneld as root`,
      { cause: err },
    );
  }
}

const IPV6_FORWARD = '/proc/sys/net/ipv6/conf/all/forwarding';

/**
 * Warns when IPv6 forwarding is off while the network has IPv6: containers' IPv6 traffic is then
 * not routed. Not turned on for the operator (unlike IPv4's): with forwarding on, Linux ignores
 * router advertisements on interfaces with accept_ra=1, so a host that takes its IPv6 default
 * route by SLAAC would lose it. Upstream does not touch it either.
 */
export async function warnWithoutIpv6Forwarding(
  logger: Logger,
  path = IPV6_FORWARD,
): Promise<void> {
  const value = await readFile(path, 'utf8').then(
    (t) => t.trim(),
    () => undefined,
  );
  if (value === '1') return;
  logger.warn(
    "IPv6 forwarding is off: containers' IPv6 traffic will not be routed; set net.ipv6.conf.all.forwarding=1 (and accept_ra=2 on an uplink configured by router advertisements)",
    { sysctl: 'net.ipv6.conf.all.forwarding', value: value ?? 'unreadable' },
  );
}

/** Options of {@link warnWithoutBrNetfilter}. */
export interface BrNetfilterCheckOptions {
  /** nftables mode (`"EnableNFTables": true`): no check, as upstream skips it there. */
  readonly nftables?: boolean;
}

/**
 * Upstream exits when `br_netfilter` is not loaded (SPEC quirk 14); plain Docker hosts often lack
 * it and do not need it for flannel's own rules, so we only warn (SPEC D12). Upstream skips the
 * check in nftables mode (SPEC 3 step 7); so do we, so the two agents say the same on one host.
 */
export function warnWithoutBrNetfilter(
  logger: Logger,
  options: BrNetfilterCheckOptions = {},
): void {
  if (options.nftables === true) return;
  if (!existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')) {
    logger.warn(
      'br_netfilter is not loaded: bridged container traffic bypasses iptables (upstream flanneld would exit here); load it with `modprobe br_netfilter` if you rely on that',
    );
  }
}
