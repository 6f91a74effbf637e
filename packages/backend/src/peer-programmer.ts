import type { Lease, Logger } from '@flannel-ts/core';
import type { SyncReport } from './backend';
import { applyDataPlane } from './apply';
import type { DataPlaneRunners } from './apply';
import { mergePeerEntries, peerKey } from './peer-entries';
import type { PeerEntries } from './peer-entries';
import { planDataPlane } from './plan';
import { describePeer } from './peers';
import type { Reconciler } from './reconciler';

/**
 * Programs peers for a backend, which only says what one peer needs (`entriesFor`). A full pass
 * reconciles every peer against the kernel (through the {@link Reconciler}); a delta pass, on lease
 * events, plans only the peers that changed against what was last programmed for them, so an
 * event costs the same with 5 peers or 5000. Each skipped peer is warned about once per reason.
 */
export class PeerProgrammer {
  /** Per programmed peer, what it was given; only valid while `synced`. */
  private programmed = new Map<string, Lease>();
  private synced = false;
  /** Skipped peers: key → reason and description (`10.5.3.0/24 (192.0.2.3)`). */
  private readonly skipped = new Map<string, { reason: string; peer: string }>();

  constructor(
    private readonly reconciler: Reconciler,
    private readonly runners: DataPlaneRunners,
    private readonly entriesFor: (lease: Lease) => PeerEntries,
    private readonly logger: Logger,
  ) {}

  private noteSkips(leases: Iterable<[string, Lease | undefined]>): void {
    for (const [key, lease] of leases) {
      const e = lease ? this.entriesFor(lease) : undefined;
      const reason = e && 'skip' in e ? e.skip : undefined;
      if (reason === undefined || !lease) this.skipped.delete(key);
      else if (this.skipped.get(key)?.reason !== reason) {
        const peer = describePeer(lease);
        this.skipped.set(key, { reason, peer });
        this.logger.warn('skipping peer', { peer, reason });
      }
    }
  }

  private report(changes: number): SyncReport {
    return {
      changes,
      programmedPeers: this.programmed.size - this.skipped.size,
      skippedPeers: [...this.skipped.values()].map((s) => s.peer),
    };
  }

  async sync(
    peers: readonly Lease[],
    full: boolean,
    signal?: AbortSignal,
    changed?: ReadonlyMap<string, Lease | undefined>,
  ): Promise<SyncReport> {
    if (full || !this.synced || changed === undefined) {
      const desired = mergePeerEntries(peers, this.entriesFor);
      this.synced = false;
      const present = new Set(peers.map(peerKey));
      for (const k of this.skipped.keys()) if (!present.has(k)) this.skipped.delete(k);
      this.noteSkips(peers.map((p) => [peerKey(p), p]));
      const r = await this.reconciler.reconcile(desired.state, full, signal);
      this.programmed = new Map(peers.map((p) => [peerKey(p), p]));
      this.synced = true;
      return this.report(r.ops.length);
    }
    const before = [...changed.keys()].flatMap((k) => this.programmed.get(k) ?? []);
    const after = [...changed.values()].filter((l): l is Lease => l !== undefined);
    const ops = planDataPlane(
      mergePeerEntries(after, this.entriesFor).state,
      mergePeerEntries(before, this.entriesFor).state,
    );
    this.noteSkips(changed.entries());
    // The reconciler's view of the kernel is stale after a delta; its next full pass reads the kernel.
    this.reconciler.invalidate();
    try {
      await applyDataPlane(ops, this.runners, signal);
    } catch (err) {
      this.synced = false;
      throw err;
    }
    for (const [k, l] of changed) {
      if (l) this.programmed.set(k, l);
      else this.programmed.delete(k);
    }
    return this.report(ops.length);
  }
}
