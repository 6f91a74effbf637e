import type { IpRunner } from './ip-runner';
import type { DataPlaneOp } from './plan';

/** The two iproute2 binaries the data plane is programmed with. */
export interface DataPlaneRunners {
  readonly ip: IpRunner;
  readonly bridge: IpRunner;
}

/** The batch line for one op (`ip -batch` or `bridge -batch` syntax). @internal */
export function opLine(o: DataPlaneOp): { tool: 'ip' | 'bridge'; line: string } {
  switch (o.op) {
    case 'replace-route':
    case 'delete-route': {
      const e = o.entry;
      const verb = o.op === 'replace-route' ? 'replace' : 'del';
      return {
        tool: 'ip',
        line: `route ${verb} ${e.dst} via ${e.gateway} dev ${e.dev}${e.onlink ? ' onlink' : ''}`,
      };
    }
    case 'replace-neighbour':
      return {
        tool: 'ip',
        line: `neigh replace ${o.entry.ip} lladdr ${o.entry.mac} dev ${o.entry.dev} nud permanent`,
      };
    case 'delete-neighbour':
      return { tool: 'ip', line: `neigh del ${o.entry.ip} dev ${o.entry.dev}` };
    case 'replace-fdb':
      return {
        tool: 'bridge',
        line: `fdb replace ${o.entry.mac} dev ${o.entry.dev} dst ${o.entry.dst} self permanent`,
      };
    case 'delete-fdb':
      return {
        tool: 'bridge',
        line: `fdb del ${o.entry.mac} dev ${o.entry.dev} dst ${o.entry.dst} self`,
      };
  }
}

/**
 * The only code that changes the data plane: all `bridge` lines in one `bridge -batch` process and
 * all `ip` lines in one `ip -batch` process (SPEC D13), run side by side; within the ip batch a
 * neighbour always precedes the route that uses it. Every line is attempted; a failure is reported
 * afterwards by the runner's error.
 */
export async function applyDataPlane(
  ops: readonly DataPlaneOp[],
  runners: DataPlaneRunners,
  signal?: AbortSignal,
): Promise<void> {
  const lines = ops.map(opLine);
  const bridge = lines.filter((l) => l.tool === 'bridge').map((l) => l.line);
  const ip = lines.filter((l) => l.tool === 'ip').map((l) => l.line);
  // Both processes run at once: an event's latency is one spawn, not two. For a new peer the FDB
  // entry may land a moment after its route; a packet in that moment is dropped, never misrouted.
  const results = await Promise.allSettled([
    bridge.length > 0 ? runners.bridge.batch(bridge, signal) : Promise.resolve(),
    ip.length > 0 ? runners.ip.batch(ip, signal) : Promise.resolve(),
  ]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
