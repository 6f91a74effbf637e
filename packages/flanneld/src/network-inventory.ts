import { FlannelError, parseCidr } from '@flannel-ts/core';
import { IpCommandError } from '@flannel-ts/backend';
import type { IpRunner } from '@flannel-ts/backend';
import { IPV4_STACK } from './interface-addresses';
import type { IpStack } from './interface-addresses';
import { selectInterface } from './interface-selection';
import type { InterfaceSelection, SelectionCriteria } from './interface-selection';

/** One entry of `addr_info` in `ip -json addr show` (only the fields we read). */
export interface IpAddrInfo {
  readonly family: string;
  readonly local: string;
  readonly prefixlen: number;
  readonly scope?: string;
  readonly dynamic?: boolean;
  readonly deprecated?: boolean;
  readonly temporary?: boolean;
}

/** One interface of `ip -json addr show`. */
export interface IpLink {
  readonly ifindex: number;
  readonly ifname: string;
  readonly mtu?: number;
  readonly addr_info?: readonly IpAddrInfo[];
}

/** One route of `ip -json route show default` or `ip -json route get`. */
export interface IpRoute {
  readonly dst?: string;
  readonly dev?: string;
  readonly gateway?: string;
  readonly prefsrc?: string;
  readonly nexthops?: readonly { readonly dev?: string }[];
}

/** Answer of `ip route get <--iface-can-reach>`: the route, or why there is none. */
export type RouteLookup =
  { readonly ok: true; readonly route: IpRoute } | { readonly ok: false; readonly error: string };

/** What the kernel told us, already JSON-parsed: the input of selectInterface. */
export interface NetworkInventory {
  readonly links: readonly IpLink[];
  /** IPv4 default routes in kernel order (`ip -4 -json route show default`). */
  readonly defaultRoutes: readonly IpRoute[];
  /** IPv6 default routes (`ip -6 -json route show default`), read only when IPv6 is enabled. */
  readonly defaultRoutesV6?: readonly IpRoute[];
  /** Present when `--iface-can-reach` was given. */
  readonly canReach?: RouteLookup;
}

/**
 * Reads what interface selection needs from the kernel, through the `ip` seam:
 * `ip -json addr show`, `ip -4 -json route show default` (when IPv4 is enabled),
 * `ip -6 -json route show default` (when IPv6 is) and, for `--iface-can-reach`,
 * `ip -json route get <ip>`.
 */
export async function readNetworkInventory(
  criteria: SelectionCriteria,
  runner: IpRunner,
  signal?: AbortSignal,
  stack: IpStack = IPV4_STACK,
): Promise<NetworkInventory> {
  const none = Promise.resolve({ stdout: '' });
  const [addrs, defaults, defaults6] = await Promise.all([
    runner.run(['-json', 'addr', 'show'], signal),
    stack.ipv4 ? runner.run(['-4', '-json', 'route', 'show', 'default'], signal) : none,
    stack.ipv6 ? runner.run(['-6', '-json', 'route', 'show', 'default'], signal) : none,
  ]);
  const inventory: NetworkInventory = {
    links: parseIpLinks(addrs.stdout),
    defaultRoutes: parseIpRoutes(defaults.stdout),
    ...(stack.ipv6 ? { defaultRoutesV6: parseIpRoutes(defaults6.stdout) } : {}),
  };
  if (criteria.ifaceCanReach === undefined) return inventory;
  return { ...inventory, canReach: await lookupRoute(criteria.ifaceCanReach, runner, signal) };
}

/**
 * Finds the external interface: {@link readNetworkInventory} fed to the pure selectInterface.
 * An unusable choice is a result (`ok: false`, with a message naming what was tried); only a
 * failure to run `ip` at all rejects.
 */
export async function discoverInterface(
  criteria: SelectionCriteria,
  runner: IpRunner,
  signal?: AbortSignal,
  stack: IpStack = IPV4_STACK,
): Promise<InterfaceSelection> {
  const inventory = await readNetworkInventory(criteria, runner, signal, stack);
  const selection = selectInterface(inventory, criteria, stack);
  if (!selection.ok) return selection;
  // The backends need the interface's connected networks: hand over what was read already.
  const link = inventory.links.find((l) => l.ifname === selection.choice.name);
  const connected = (family: string) =>
    (link?.addr_info ?? [])
      .filter((a) => a.family === family)
      .flatMap((a) => parseCidr(`${a.local}/${a.prefixlen}`) ?? []);
  const { choice } = selection;
  return {
    ok: true,
    choice: {
      ...choice,
      ...(choice.ipv4 ? { ipv4: { ...choice.ipv4, connected: connected('inet') } } : {}),
      ...(choice.ipv6 ? { ipv6: { ...choice.ipv6, connected: connected('inet6') } } : {}),
    },
  };
}

async function lookupRoute(
  target: string,
  runner: IpRunner,
  signal: AbortSignal | undefined,
): Promise<RouteLookup> {
  try {
    const { stdout } = await runner.run(['-json', 'route', 'get', target], signal);
    const [route] = parseIpRoutes(stdout);
    return route ? { ok: true, route } : { ok: false, error: 'ip route get returned no route' };
  } catch (err) {
    // "Network is unreachable" is an answer about the network, not a broken ip command.
    if (err instanceof IpCommandError) {
      return { ok: false, error: err.stderr.trim() === '' ? err.message : err.stderr.trim() };
    }
    throw err;
  }
}

/**
 * Parses `ip -json addr show`. Interfaces must have a name and index; address entries without a
 * family or address (iproute2 prints some for link types without addresses) are skipped.
 * @throws FlannelError `IP_OUTPUT_INVALID` when the output is not the JSON iproute2 prints.
 */
export function parseIpLinks(stdout: string): IpLink[] {
  return parseArray(stdout, 'ip -json addr show').map((item) => {
    if (typeof item.ifname !== 'string' || typeof item.ifindex !== 'number') {
      throw invalid('ip -json addr show', 'an interface without ifname/ifindex');
    }
    const addrInfo = Array.isArray(item.addr_info) ? (item.addr_info as unknown[]) : [];
    return {
      ifindex: item.ifindex,
      ifname: item.ifname,
      ...(typeof item.mtu === 'number' ? { mtu: item.mtu } : {}),
      addr_info: addrInfo.filter(isAddrInfo),
    };
  });
}

/**
 * Parses `ip -json route show …` or `ip -json route get …`.
 * @throws FlannelError `IP_OUTPUT_INVALID` when the output is not a JSON array of objects.
 */
export function parseIpRoutes(stdout: string): IpRoute[] {
  return parseArray(stdout, 'ip -json route').map((item) => {
    const text = (key: string): Record<string, string> => {
      const value = item[key];
      return typeof value === 'string' ? { [key]: value } : {};
    };
    const hops = Array.isArray(item.nexthops) ? (item.nexthops as unknown[]) : undefined;
    return {
      ...text('dst'),
      ...text('dev'),
      ...text('gateway'),
      ...text('prefsrc'),
      ...(hops === undefined
        ? {}
        : {
            nexthops: hops.map((h) =>
              isRecord(h) && typeof h.dev === 'string' ? { dev: h.dev } : {},
            ),
          }),
    };
  });
}

function parseArray(stdout: string, what: string): Record<string, unknown>[] {
  // iproute2 prints nothing at all (not "[]") for some empty answers.
  if (stdout.trim() === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch (err) {
    throw new FlannelError('IP_OUTPUT_INVALID', `${what} printed invalid JSON`, { cause: err });
  }
  if (!Array.isArray(parsed) || !parsed.every(isRecord))
    throw invalid(what, 'not an array of objects');
  return parsed;
}

function isAddrInfo(value: unknown): value is IpAddrInfo {
  return (
    isRecord(value) &&
    typeof value.family === 'string' &&
    typeof value.local === 'string' &&
    typeof value.prefixlen === 'number'
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(what: string, detail: string): FlannelError {
  return new FlannelError('IP_OUTPUT_INVALID', `${what} printed unexpected JSON: ${detail}`);
}
