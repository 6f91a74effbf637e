import { errorMessage } from '@flannel-ts/core';
import type { IpRunner } from '@flannel-ts/backend';
import type { InterfaceChoice, SelectionCriteria } from '../interface-selection';
import { discoverInterface, parseIpRoutes } from '../network-inventory';
import type { IpRoute } from '../network-inventory';
import { IPV4_STACK } from '../interface-addresses';
import type { IpStack } from '../interface-addresses';

/** What the kernel says: the external interface the agent would use, and the routes. */
export interface KernelRead {
  /** As the agent chooses it from the same flags; undefined when none qualifies. */
  readonly iface: InterfaceChoice | undefined;
  /** Every route of the main table, of each family in use; undefined when `ip` could not be run. */
  readonly routes: readonly IpRoute[] | undefined;
  /** What could not be read, for the report. */
  readonly problems: readonly string[];
}

/**
 * Reads the kernel through the `ip` seam: the external interface (the agent's own choice, from
 * `--iface`, `--iface-regex`, `--iface-can-reach`, `--public-ip` or the default route) and
 * `ip -4 -json route show`, whose routes say which peers are programmed. Never throws.
 */
export async function readKernel(
  criteria: SelectionCriteria,
  ip: IpRunner,
  signal?: AbortSignal,
  stack: IpStack = IPV4_STACK,
): Promise<KernelRead> {
  const problems: string[] = [];
  const routesOf = (family: '-4' | '-6'): Promise<IpRoute[]> =>
    ip.run([family, '-json', 'route', 'show'], signal).then(({ stdout }) => parseIpRoutes(stdout));
  const [found, routes] = await Promise.all([
    discoverInterface(criteria, ip, signal, stack).catch((err: unknown) => ({
      ok: false as const,
      message: errorMessage(err),
    })),
    Promise.all([stack.ipv4 ? routesOf('-4') : [], stack.ipv6 ? routesOf('-6') : []]).then(
      ([v4, v6]) => [...v4, ...v6],
      (err: unknown) => {
        problems.push(`cannot read the routes: ${errorMessage(err)}`);
        return undefined;
      },
    ),
  ]);
  if (!found.ok) problems.push(`no external interface: ${found.message}`);
  return { iface: found.ok ? found.choice : undefined, routes, problems };
}
