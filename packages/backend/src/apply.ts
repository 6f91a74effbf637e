import type { OpFailure } from './engine/kernel-table';
import { IpCommandError } from './ip-runner';
import { BULK_BATCH_LINES } from './kernel/iproute2-runner';
import type { KernelMonitor } from './kernel/kernel-monitor';
import type { IpRunner } from './ip-runner';
import { BLACKHOLE_METRIC } from './kernel-state';
import type { DataPlaneOp } from './plan';
import type { WgPeerOp, WgPeerRunner } from './kernel/wg-peer-runner';
import { wgPeerLine } from './kernel/wg-peer-runner';
import type { SysctlWriter } from './kernel/sysctl';
import type { DeviceFeatures } from './kernel/ethtool';

/** The two iproute2 binaries the data plane is programmed with. */
export interface DataPlaneRunners {
  readonly ip: IpRunner;
  readonly bridge: IpRunner;
  /** Kernel events, for repairs within milliseconds; without it only full passes repair. */
  readonly monitor?: KernelMonitor | undefined;
  /** WireGuard peers (`wg set`, `wg show dump`): the wireguard backend's runners only. */
  readonly wg?: WgPeerRunner | undefined;
  /** Kernel parameters of a device (vxlan's `accept_ra`); without it they are left as they are. */
  readonly sysctl?: SysctlWriter | undefined;
  /** Offload features of a device (`ethtool -K`): vxlan's TX checksum offload, when it is set. */
  readonly ethtool?: DeviceFeatures | undefined;
}

/** True for an op on a WireGuard peer (applied by `wg`, not iproute2). @internal */
export const isWgPeerOp = (o: DataPlaneOp): o is WgPeerOp =>
  o.op === 'replace-wgpeer' || o.op === 'delete-wgpeer';

/** The batch line for one op (`ip -batch` or `bridge -batch` syntax). @internal */
export function opLine(o: DataPlaneOp): { tool: 'ip' | 'bridge' | 'wg'; line: string } {
  switch (o.op) {
    case 'replace-wgpeer':
    case 'delete-wgpeer':
      return { tool: 'wg', line: wgPeerLine(o) };
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
    // Main table, proto boot, scope global: iproute2's defaults, as upstream's netlink call. The
    // metric (our mark) is in both lines: `replace` then only ever takes our slot, never the
    // metric-0 route of Docker's bridge, and `del` only ever removes ours.
    case 'replace-blackhole':
      return {
        tool: 'ip',
        line: `route replace blackhole ${o.entry.dst} metric ${BLACKHOLE_METRIC}`,
      };
    case 'delete-blackhole':
      return { tool: 'ip', line: `route del blackhole ${o.entry.dst} metric ${BLACKHOLE_METRIC}` };
  }
}

/** One batch of a pass: the ops it carries, in order, and the runner it goes to. */
interface Lane {
  readonly tool: 'ip' | 'bridge';
  readonly ops: DataPlaneOp[];
  readonly lines: string[];
}

/**
 * Splits a pass into batches that run side by side: the `bridge` lines, and the `ip` lines; a
 * bulk pass (start-up, a rebuilt device) also gets its routes a batch of their own, because the
 * kernel takes ~100 µs per route with a distinct gateway against ~15 µs per neighbour or FDB
 * entry, so routes set the pace. @internal
 */
export function lanesOf(ops: readonly DataPlaneOp[]): Lane[] {
  const bridge: Lane = { tool: 'bridge', ops: [], lines: [] };
  const ip: Lane = { tool: 'ip', ops: [], lines: [] };
  const routes: Lane = { tool: 'ip', ops: [], lines: [] };
  const ipCount = ops.filter((o) => opLine(o).tool === 'ip').length;
  const splitRoutes = ipCount > BULK_BATCH_LINES;
  for (const o of ops) {
    const { tool, line } = opLine(o);
    if (tool === 'wg') continue;
    const lane = tool === 'bridge' ? bridge : splitRoutes && o.op.endsWith('route') ? routes : ip;
    lane.ops.push(o);
    lane.lines.push(line);
  }
  return [bridge, ip, routes].filter((l) => l.ops.length > 0);
}

/**
 * The only code that changes the data plane: all `bridge` lines in one batch and all `ip` lines
 * in another (SPEC D13), sent side by side; within the ip batch a neighbour always precedes the
 * route that uses it, except in a bulk pass, whose routes run beside the neighbours. For a new
 * peer the FDB entry or neighbour may land a moment after its route; a packet in that moment is
 * dropped, never misrouted. Every line is attempted. Resolves with the ops iproute2 refused;
 * rejects only when a batch could not run at all (iproute2 missing).
 */
export async function applyDataPlane(
  ops: readonly DataPlaneOp[],
  runners: DataPlaneRunners,
  signal?: AbortSignal,
): Promise<OpFailure[]> {
  const lanes = lanesOf(ops);
  // WireGuard peers first: a route to a peer never exists before the peer does (a packet sent
  // in between would start a handshake the peer is not ready for, retried only 5 s later).
  const failures: OpFailure[] = await applyWgPeers(ops.filter(isWgPeerOp), runners, signal);
  const results = await Promise.allSettled(
    lanes.map((l) => runners[l.tool].batch(l.lines, signal)),
  );
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') return;
    const lane = lanes[i]!;
    if (!(r.reason instanceof IpCommandError)) throw r.reason;
    const err = r.reason;
    const failedAt = new Set<number>();
    for (const f of err.failedLines) {
      const op = lane.ops[f.lineNumber - 1];
      if (!op) continue;
      failedAt.add(f.lineNumber - 1);
      failures.push({ op, message: f.message });
    }
    // A one-shot batch that stopped early (an argument error): what came after is unknown.
    if (err.batchAbort !== undefined || err.failedLines.length === 0) {
      lane.ops.forEach((op, j) => {
        if (!failedAt.has(j)) failures.push({ op, message: err.message });
      });
    }
  });
  return failures;
}

/** The WireGuard peer ops of a pass, through `runners.wg` (refused when there is none). */
async function applyWgPeers(
  ops: readonly WgPeerOp[],
  runners: DataPlaneRunners,
  signal?: AbortSignal,
): Promise<OpFailure[]> {
  if (ops.length === 0) return [];
  if (!runners.wg) return ops.map((op) => ({ op, message: 'no wg runner for WireGuard peers' }));
  return runners.wg.apply(ops, signal);
}
