import type { Logger } from '@flannel-ts/core';
import { noopLogger } from '@flannel-ts/core';
import { applyDataPlane } from './apply';
import type { DataPlaneRunners } from './apply';
import type { DataPlaneState } from './kernel-state';
import { planDataPlane } from './plan';
import type { DataPlaneOp } from './plan';

/** What one reconciliation did. */
export interface ReconcileReport {
  readonly ops: readonly DataPlaneOp[];
  /** True when the kernel was read (full pass), false when the last applied state was trusted. */
  readonly readKernel: boolean;
}

/**
 * Desired state against actual state: a pure planner and one applier (SPEC D8/D9). A full pass
 * reads the kernel, so entries someone deleted come back and entries of ours that nothing explains
 * go; an incremental pass (on a lease event) diffs against the state it last applied, which keeps
 * event-to-route latency independent of how many peers exist. A failed apply drops that cache, so
 * the next pass reads the kernel again.
 */
export class Reconciler {
  private applied: DataPlaneState | undefined;

  constructor(
    private readonly runners: DataPlaneRunners,
    private readonly readActual: (signal?: AbortSignal) => Promise<DataPlaneState>,
    private readonly logger: Logger = noopLogger,
  ) {}

  /** Forgets the last applied state (e.g. after the device was rebuilt). */
  invalidate(): void {
    this.applied = undefined;
  }

  async reconcile(
    desired: DataPlaneState,
    full: boolean,
    signal?: AbortSignal,
  ): Promise<ReconcileReport> {
    const readKernel = full || this.applied === undefined;
    const actual = readKernel ? await this.readActual(signal) : this.applied!;
    const ops = planDataPlane(desired, actual);
    if (ops.length > 0) {
      try {
        await applyDataPlane(ops, this.runners, signal);
      } catch (err) {
        this.applied = undefined;
        throw err;
      }
      for (const o of ops) this.logger.debug(o.op, { ...o.entry });
    }
    this.applied = desired;
    return { ops, readKernel };
  }
}
