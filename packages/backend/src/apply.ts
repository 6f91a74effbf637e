import type { OpFailure } from './engine/kernel-table';
import { IpCommandError } from './ip-runner';
import type { KernelMonitor } from './kernel/kernel-monitor';
import type { IpRunner } from './ip-runner';
import type { DataPlaneOp } from './plan';

/** The two iproute2 binaries the data plane is programmed with. */
export interface DataPlaneRunners {
  readonly ip: IpRunner;
  readonly bridge: IpRunner;
  /** Kernel events, for repairs within milliseconds; without it only full passes repair. */
  readonly monitor?: KernelMonitor | undefined;
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
 * The only code that changes the data plane: all `bridge` lines in one `bridge` batch and all `ip`
 * lines in one `ip` batch (SPEC D13), sent side by side; within the ip batch a neighbour always
 * precedes the route that uses it. Every line is attempted. Resolves with the ops iproute2 refused;
 * rejects only when a batch could not run at all (iproute2 missing).
 */
export async function applyDataPlane(
  ops: readonly DataPlaneOp[],
  runners: DataPlaneRunners,
  signal?: AbortSignal,
): Promise<OpFailure[]> {
  const byTool = { ip: [] as DataPlaneOp[], bridge: [] as DataPlaneOp[] };
  const lines = { ip: [] as string[], bridge: [] as string[] };
  for (const o of ops) {
    const { tool, line } = opLine(o);
    byTool[tool].push(o);
    lines[tool].push(line);
  }
  // For a new peer the FDB entry may land a moment after its route; a packet in that moment is
  // dropped, never misrouted.
  const results = await Promise.allSettled(
    (['bridge', 'ip'] as const).map((tool) =>
      lines[tool].length > 0 ? runners[tool].batch(lines[tool], signal) : Promise.resolve(),
    ),
  );
  const failures: OpFailure[] = [];
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') return;
    const tool = i === 0 ? 'bridge' : 'ip';
    if (!(r.reason instanceof IpCommandError)) throw r.reason;
    const err = r.reason;
    const failedAt = new Set<number>();
    for (const f of err.failedLines) {
      const op = byTool[tool][f.lineNumber - 1];
      if (!op) continue;
      failedAt.add(f.lineNumber - 1);
      failures.push({ op, message: f.message });
    }
    // A one-shot batch that stopped early (an argument error): what came after is unknown.
    if (err.batchAbort !== undefined || err.failedLines.length === 0) {
      byTool[tool].forEach((op, j) => {
        if (!failedAt.has(j)) failures.push({ op, message: err.message });
      });
    }
  });
  return failures;
}
