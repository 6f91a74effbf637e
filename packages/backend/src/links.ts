import type { Cidr } from '@flannel-ts/core';
import { addressBits, cidrContainsIp, formatIp, parseIp } from '@flannel-ts/core';
import type { IpFamily } from '@flannel-ts/core';
import { IpCommandError, saysDeviceMissing } from './ip-runner';
import type { IpRunner } from './ip-runner';

/** The parts of `ip -json -d link show` the backends look at. */
export interface LinkInfo {
  readonly name: string;
  readonly mac: string;
  readonly mtu: number;
  /** Administratively up (`UP` among its flags). */
  readonly up: boolean;
  readonly kind?: string | undefined;
  readonly data: Readonly<Record<string, unknown>>;
  /** IPv4 addresses with prefix length, e.g. `10.5.1.0/32`. */
  readonly ipv4: readonly LinkAddress[];
  /** IPv6 addresses with prefix length (link-local ones too), e.g. `fd00:5:0:1::/128`. */
  readonly ipv6: readonly LinkAddress[];
}

/** One address of a link. */
export interface LinkAddress {
  readonly local: string;
  readonly prefixlen: number;
}

interface JsonLink {
  ifname?: string;
  address?: string;
  mtu?: number;
  flags?: string[];
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

function addressesOf(link: JsonLink, family: string, hostBits: number): LinkAddress[] {
  return (link.addr_info ?? [])
    .filter((a) => a.family === family && a.local)
    .map((a) => ({ local: a.local!, prefixlen: a.prefixlen ?? hostBits }));
}

/** The link's addresses of one family. */
export function linkAddresses(link: LinkInfo, family: IpFamily): readonly LinkAddress[] {
  return family === 6 ? link.ipv6 : link.ipv4;
}

/** Reads one link with its details and addresses; undefined when it does not exist. */
export async function readLink(
  ip: IpRunner,
  name: string,
  signal?: AbortSignal,
): Promise<LinkInfo | undefined> {
  let stdout: string;
  try {
    ({ stdout } = await ip.run(['-json', '-d', 'addr', 'show', 'dev', name], signal));
  } catch (err) {
    if (err instanceof IpCommandError && saysDeviceMissing(err.stderr)) return undefined;
    throw err;
  }
  const link = (JSON.parse(stdout) as JsonLink[])[0];
  if (!link) return undefined;
  return {
    name,
    mac: (link.address ?? '').toLowerCase(),
    mtu: link.mtu ?? 0,
    up: (link.flags ?? []).includes('UP'),
    kind: link.linkinfo?.info_kind,
    data: link.linkinfo?.info_data ?? {},
    ipv4: addressesOf(link, 'inet', 32),
    ipv6: addressesOf(link, 'inet6', 128),
  };
}

/**
 * Gives `dev` exactly one address inside `network`: the own subnet's network address as a host
 * address, /32 or /128 (SPEC 4.1, upstream's `ConfigureIPv6` likewise), removing any other address
 * of the flannel network (left by an earlier lease). `own` and `network` are of one family.
 */
export async function ensureSubnetAddress(
  ip: IpRunner,
  link: LinkInfo,
  own: Cidr,
  network: Cidr,
  signal?: AbortSignal,
): Promise<void> {
  const want = formatIp({ family: own.family, value: own.address });
  const hostLen = addressBits(own.family);
  const have = linkAddresses(link, own.family);
  const lines: string[] = [];
  for (const a of have) {
    const addr = parseIp(a.local);
    const isWanted = a.local === want && a.prefixlen === hostLen;
    if (addr && cidrContainsIp(network, addr) && !isWanted)
      lines.push(`addr del ${a.local}/${a.prefixlen} dev ${link.name}`);
  }
  if (!have.some((a) => a.local === want && a.prefixlen === hostLen)) {
    lines.push(`addr add ${want}/${hostLen} dev ${link.name}`);
  }
  if (lines.length > 0) await ip.batch(lines, signal);
}
