import { FlannelError, formatCidr, parseCidr } from '@flannel-ts/core';

/** mk-docker-opts options (SPEC 5.3): `-i`, `-c` (neither ⇒ both), `-k KEY`, `-m`. */
export interface DockerOptsOptions {
  readonly individual: boolean;
  readonly combined: boolean;
  readonly combinedKey: string;
  readonly ipMasq: boolean;
}

/** The values of a subnet file as mk-docker-opts sees them (shell variables after sourcing it). */
export type SubnetVars = Readonly<Record<string, string | undefined>>;

/** `FLANNEL_IPMASQ` holds something other than true/false. */
export class InvalidIpMasqError extends FlannelError {
  constructor(value: string) {
    super('INVALID_IPMASQ', `Invalid value of FLANNEL_IPMASQ: ${value}`);
  }
}

/**
 * The Docker options derived from a subnet file, as mk-docker-opts derives them: `--bip` from
 * FLANNEL_SUBNET, `--mtu` from FLANNEL_MTU, and `--ip-masq` inverted from FLANNEL_IPMASQ (when
 * flannel masquerades, Docker must not). Keyed by variable name.
 *
 * Our addition (upstream's mk-docker-opts.sh knows no IPv6): with FLANNEL_IPV6_SUBNET,
 * `DOCKER_OPT_IPV6="--ipv6"` and `DOCKER_OPT_FIXED_CIDR_V6="--fixed-cidr-v6=<our IPv6 subnet>"`,
 * which dockerd needs to give containers addresses from it. Without that variable the output is
 * upstream's, byte for byte.
 */
export function dockerOptVars(vars: SubnetVars, ipMasq: boolean): Map<string, string> {
  const out = new Map<string, string>();
  if (vars['FLANNEL_SUBNET']) out.set('DOCKER_OPT_BIP', `--bip=${vars['FLANNEL_SUBNET']}`);
  const v6 = fixedCidrV6(vars['FLANNEL_IPV6_SUBNET']);
  if (v6) {
    out.set('DOCKER_OPT_IPV6', '--ipv6');
    out.set('DOCKER_OPT_FIXED_CIDR_V6', `--fixed-cidr-v6=${v6}`);
  }
  if (vars['FLANNEL_MTU']) out.set('DOCKER_OPT_MTU', `--mtu=${vars['FLANNEL_MTU']}`);
  const masq = vars['FLANNEL_IPMASQ'];
  if (masq && ipMasq) {
    if (masq === 'true') out.set('DOCKER_OPT_IPMASQ', '--ip-masq=false');
    else if (masq === 'false') out.set('DOCKER_OPT_IPMASQ', '--ip-masq=true');
    else throw new InvalidIpMasqError(masq);
  }
  return out;
}

/**
 * The network form of FLANNEL_IPV6_SUBNET (`fd00:42:0:7::1/64` → `fd00:42:0:7::/64`): what
 * dockerd's `--fixed-cidr-v6` / daemon.json `fixed-cidr-v6` take. Undefined when absent or not an
 * IPv6 CIDR.
 */
export function fixedCidrV6(ipv6Subnet: string | undefined): string | undefined {
  const cidr = ipv6Subnet === undefined ? undefined : parseCidr(ipv6Subnet.trim());
  return cidr?.family === 6 ? formatCidr(cidr) : undefined;
}

/**
 * Renders the Docker env file byte for byte as upstream's mk-docker-opts.sh: individual
 * `DOCKER_OPT_*="…"` lines in alphabetical order (including any DOCKER_OPT_* variables already in
 * the environment, as the script's `set | grep` picks them up), then the combined variable: its
 * value from the environment (plus a space, if set), followed by each option prefixed with a space.
 */
export function renderDockerOpts(
  vars: SubnetVars,
  env: Readonly<Record<string, string | undefined>>,
  options: DockerOptsOptions,
): string {
  const opts = dockerOptVars(vars, options.ipMasq);
  for (const [k, v] of Object.entries(env)) {
    if (k.startsWith('DOCKER_OPT_') && v !== undefined && !opts.has(k)) opts.set(k, v);
  }
  const names = [...opts.keys()].sort();
  const both = !options.individual && !options.combined;
  let lines = '';
  const existing = env[options.combinedKey];
  let combined = existing ? `${existing} ` : '';
  for (const name of names) {
    if (options.individual || both) lines += `${name}="${opts.get(name)!}"\n`;
    combined += ` ${opts.get(name)!}`;
  }
  if (options.combined || both) lines += `${options.combinedKey}="${combined}"\n`;
  return lines;
}

/**
 * mk-docker-opts' final check: a route to the subnet's network through a gateway means docker0's
 * subnet would collide with an existing route. Reads `/proc/net/route` text (the main table, as
 * `ip route show` prints it); returns the conflicting routes in `ip route` form, or [].
 */
export function conflictingRoutes(flannelSubnet: string, procNetRoute: string): string[] {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(flannelSubnet);
  if (!m) return [];
  const [a, b, c, d, len] = m.slice(1).map(Number) as [number, number, number, number, number];
  // As the script does: the network is the .1 address with its last octet decremented.
  const network = `${a}.${b}.${c}.${d - 1}`;
  const hexIp = (h: string): string => {
    const n = parseInt(h, 16);
    return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join('.');
  };
  const prefixOf = (mask: string): number =>
    parseInt(mask, 16)
      .toString(2)
      .split('')
      .filter((x) => x === '1').length;
  return procNetRoute
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 8)
    .filter(
      (f) => hexIp(f[1]!) === network && prefixOf(f[7]!) === len && hexIp(f[2]!) !== '0.0.0.0',
    )
    .map((f) => `${network}/${len} via ${hexIp(f[2]!)} dev ${f[0]!}`);
}
