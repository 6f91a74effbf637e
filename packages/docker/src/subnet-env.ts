import type { Cidr } from '@flannel-ts/core';
import { formatCidr, formatIp, parseCidr } from '@flannel-ts/core';

/** What flanneld writes to the subnet file (SPEC 5.2). */
export interface SubnetEnv {
  readonly network?: Cidr | undefined;
  /** The leased subnet (network form); the file carries its `.1` address. */
  readonly subnet?: Cidr | undefined;
  readonly ipv6Network?: Cidr | undefined;
  readonly ipv6Subnet?: Cidr | undefined;
  readonly mtu: number;
  readonly ipMasq: boolean;
}

function firstHost(subnet: Cidr): string {
  return `${formatIp({ family: subnet.family, value: subnet.address + 1n })}/${subnet.prefixLength}`;
}

/**
 * Renders the subnet file exactly as upstream: `KEY=value` lines, no quotes, `\n`-terminated, in the
 * order NETWORK, SUBNET, IPV6_NETWORK, IPV6_SUBNET, MTU, IPMASQ; SUBNET is the subnet's first host.
 */
export function renderSubnetEnv(env: SubnetEnv): string {
  const lines: string[] = [];
  if (env.network) lines.push(`FLANNEL_NETWORK=${formatCidr(env.network)}`);
  if (env.subnet) lines.push(`FLANNEL_SUBNET=${firstHost(env.subnet)}`);
  if (env.ipv6Network) lines.push(`FLANNEL_IPV6_NETWORK=${formatCidr(env.ipv6Network)}`);
  if (env.ipv6Subnet) lines.push(`FLANNEL_IPV6_SUBNET=${firstHost(env.ipv6Subnet)}`);
  lines.push(`FLANNEL_MTU=${env.mtu}`, `FLANNEL_IPMASQ=${env.ipMasq}`);
  return lines.map((l) => `${l}\n`).join('');
}

/** The parts of a previous subnet file flanneld trusts, plus what it refused and why. */
export interface PreviousSubnetEnv {
  readonly network?: Cidr | undefined;
  readonly subnet?: Cidr | undefined;
  readonly ipv6Network?: Cidr | undefined;
  readonly ipv6Subnet?: Cidr | undefined;
  readonly problems: readonly string[];
}

/** Reads `KEY=value` lines (dotenv-like: `#` comments, optional quotes, optional `export `). */
export function parseEnvLines(text: string): { vars: Map<string, string>; problems: string[] } {
  const vars = new Map<string, string>();
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) {
      problems.push(`line ${i + 1} is not KEY=value: ${JSON.stringify(raw.slice(0, 60))}`);
      return;
    }
    const value = m[2]!.replace(/^(['"])(.*)\1$/, '$2');
    vars.set(m[1]!, value);
  });
  return { vars, problems };
}

/**
 * A CIDR value from the file, masked to its network (`10.5.100.1/24` ⇒ `10.5.100.0/24`). As
 * upstream: a comma list is accepted only with exactly one valid entry; invalid entries are skipped.
 */
function readCidr(
  vars: Map<string, string>,
  key: string,
  family: 4 | 6,
  problems: string[],
): Cidr | undefined {
  const value = vars.get(key);
  if (value === undefined) return undefined;
  const valid = value
    .split(',')
    .map((v) => parseCidr(v.trim()))
    .filter((c): c is Cidr => c?.family === family);
  if (valid.length === 1) return valid[0];
  problems.push(
    valid.length === 0
      ? `${key}=${value} is not an IPv${family} CIDR`
      : `${key}=${value} holds ${valid.length} subnets; expected one`,
  );
  return undefined;
}

/** Parses a previous subnet file; never throws: what cannot be trusted is left out and explained. */
export function parseSubnetEnv(text: string): PreviousSubnetEnv {
  const { vars, problems } = parseEnvLines(text);
  return {
    network: readCidr(vars, 'FLANNEL_NETWORK', 4, problems),
    subnet: readCidr(vars, 'FLANNEL_SUBNET', 4, problems),
    ipv6Network: readCidr(vars, 'FLANNEL_IPV6_NETWORK', 6, problems),
    ipv6Subnet: readCidr(vars, 'FLANNEL_IPV6_SUBNET', 6, problems),
    problems,
  };
}
