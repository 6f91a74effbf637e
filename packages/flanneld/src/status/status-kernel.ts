import { errorMessage } from '@flannel-ts/core';
import type { IpRunner } from '@flannel-ts/backend';
import type { InterfaceChoice, SelectionCriteria } from '../interface-selection';
import { discoverInterface, parseIpRoutes } from '../network-inventory';
import type { IpRoute } from '../network-inventory';

/** What the kernel says: the external interface the agent would use, and the IPv4 routes. */
export interface KernelRead {
  /** As the agent chooses it from the same flags; undefined when none qualifies. */
  readonly iface: InterfaceChoice | undefined;
  /** Every IPv4 route of the main table; undefined when `ip` could not be run. */
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
): Promise<KernelRead> {
  const problems: string[] = [];
  const [found, routes] = await Promise.all([
    discoverInterface(criteria, ip, signal).catch((err: unknown) => ({
      ok: false as const,
      message: errorMessage(err),
    })),
    ip
      .run(['-4', '-json', 'route', 'show'], signal)
      .then(({ stdout }) => parseIpRoutes(stdout))
      .catch((err: unknown) => {
        problems.push(`cannot read the routes: ${errorMessage(err)}`);
        return undefined;
      }),
  ]);
  if (!found.ok) problems.push(`no external interface: ${found.message}`);
  return { iface: found.ok ? found.choice : undefined, routes, problems };
}
