import { formatCidr } from '@flannel-ts/core';
import type { Cidr, Lease } from '@flannel-ts/core';

// Go's unicode.IsSpace set, which strings.TrimSpace trims: JavaScript's trim() differs (it trims
// U+FEFF and keeps U+0085).
const GO_SPACE =
  '[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+';
const GO_TRIM = new RegExp(`^${GO_SPACE}|${GO_SPACE}$`, 'g');

/**
 * What our lease's BackendData carries for PreStartupCommand's output: the output with leading and
 * trailing white space removed as Go's strings.TrimSpace does (upstream backend/extension
 * extension.go runCmd), published as a JSON string (`json.Marshal` of that string).
 */
export function leaseDataOf(output: string): string {
  return output.replace(GO_TRIM, '');
}

/** What a peer's add or remove command is given, worked out from its lease. */
export interface PeerInput {
  /** `SUBNET`, `PUBLIC_IP`, and `IPV6SUBNET` / `PUBLIC_IPV6` when the peer has them. */
  readonly env: Readonly<Record<string, string>>;
  /** The peer's BackendData string and a newline, as upstream writes it. */
  readonly stdin: string;
}

/**
 * The input of a peer's SubnetAddCommand / SubnetRemoveCommand, or why the peer cannot be run.
 * Upstream decodes BackendData into a string (absent or `null`: the empty string) and skips a
 * peer whose BackendData is anything else (`failed to unmarshal BackendData`). Upstream sets only
 * `SUBNET` and `PUBLIC_IP` for these commands; its documentation also promises `IPV6SUBNET` and
 * `PUBLIC_IPV6`, which we set when the peer's lease has them (and never as placeholders).
 */
export function peerInput(lease: Lease): PeerInput | { readonly skip: string } {
  const data = lease.attrs.backendData;
  if (data !== undefined && data !== null && typeof data !== 'string') {
    return {
      skip: `its BackendData is not a JSON string (${Array.isArray(data) ? 'array' : typeof data}); extension hosts publish their PreStartupCommand output as one`,
    };
  }
  const { ipv6 } = lease.subnets;
  const env: Record<string, string> = {
    SUBNET: formatCidr(lease.subnets.ipv4),
    PUBLIC_IP: lease.attrs.publicIp,
  };
  if (ipv6) env['IPV6SUBNET'] = formatCidr(ipv6);
  if (lease.attrs.publicIpv6 !== null) env['PUBLIC_IPV6'] = lease.attrs.publicIpv6;
  return { env, stdin: `${data ?? ''}\n` };
}

/** True when two inputs would run a command identically. */
export function sameInput(a: PeerInput, b: PeerInput): boolean {
  if (a.stdin !== b.stdin) return false;
  const ka = Object.keys(a.env);
  return ka.length === Object.keys(b.env).length && ka.every((k) => a.env[k] === b.env[k]);
}

/**
 * PostStartupCommand's variables, as upstream sets them: `NETWORK`, `SUBNET` (our subnet, in
 * network form) and `PUBLIC_IP` (our lease's); `IPV6SUBNET` and `PUBLIC_IPV6` (upstream v0.22.0
 * and later) only when we have them, where upstream HEAD would pass `::/0` and `<nil>`.
 */
export function postStartupEnv(own: Lease, network: Cidr): Record<string, string> {
  const env: Record<string, string> = {
    NETWORK: formatCidr(network),
    SUBNET: formatCidr(own.subnets.ipv4),
    PUBLIC_IP: own.attrs.publicIp,
  };
  if (own.subnets.ipv6) env['IPV6SUBNET'] = formatCidr(own.subnets.ipv6);
  if (own.attrs.publicIpv6 !== null) env['PUBLIC_IPV6'] = own.attrs.publicIpv6;
  return env;
}
