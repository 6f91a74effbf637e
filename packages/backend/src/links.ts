import type { Cidr } from '@flannel-ts/core';
import { cidrContainsIp, formatIp, parseIp } from '@flannel-ts/core';
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
  readonly ipv4: readonly { readonly local: string; readonly prefixlen: number }[];
}

interface JsonLink {
  ifname?: string;
  address?: string;
  mtu?: number;
  flags?: string[];
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
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
    ipv4: (link.addr_info ?? [])
      .filter((a) => a.family === 'inet' && a.local)
      .map((a) => ({ local: a.local!, prefixlen: a.prefixlen ?? 32 })),
  };
}

/**
 * Gives `dev` exactly one address inside `network`: the own subnet's network address /32 (SPEC
 * 4.1), removing any other address of the flannel network (left by an earlier lease).
 */
export async function ensureSubnetAddress(
  ip: IpRunner,
  link: LinkInfo,
  own: Cidr,
  network: Cidr,
  signal?: AbortSignal,
): Promise<void> {
  const want = formatIp({ family: 4, value: own.address });
  const lines: string[] = [];
  for (const a of link.ipv4) {
    const addr = parseIp(a.local);
    const isWanted = a.local === want && a.prefixlen === 32;
    if (addr && cidrContainsIp(network, addr) && !isWanted)
      lines.push(`addr del ${a.local}/${a.prefixlen} dev ${link.name}`);
  }
  if (!link.ipv4.some((a) => a.local === want && a.prefixlen === 32)) {
    lines.push(`addr add ${want}/32 dev ${link.name}`);
  }
  if (lines.length > 0) await ip.batch(lines, signal);
}
