import type { PeerState } from '../backend';
import { sameEntry } from '../plan';
import { keyOf } from './entry-kinds';
import type { Entry, EntryKind, Tables } from './entry-kinds';

/**
 * Works out each peer's {@link PeerState} from the kernel table's maps, and keeps the last state
 * object handed out per peer, reused while the peer's state and reason stay the same: reading
 * 5000 peers' states at rest allocates the array and nothing per peer. @internal
 */
export class PeerStates {
  private readonly last = new Map<string, PeerState>();

  /**
   * `programmed` when every entry a peer wants is what was applied, `pending` when one is not
   * (the reason: the kernel's refusal of it, if it refused), `skipped` with the backend's reason.
   * A peer programmed in part (one family left out, `partial`) carries that reason.
   */
  collect(
    peers: ReadonlyMap<string, readonly (readonly [EntryKind, Entry])[]>,
    skipped: ReadonlyMap<string, { readonly reason: string }>,
    applied: Tables<ReadonlyMap<string, Entry>>,
    failed: Tables<ReadonlyMap<string, string>>,
    partial?: ReadonlyMap<string, string>,
  ): PeerState[] {
    const out: PeerState[] = [];
    peers.forEach((list, key) => {
      let reason: string | undefined;
      let programmed = true;
      for (const [kind, e] of list) {
        const k = keyOf(kind, e);
        const h = applied[kind].get(k);
        if (h === e || (h !== undefined && sameEntry(h, e))) continue;
        programmed = false;
        reason ??= failed[kind].get(k);
      }
      reason ??= partial?.get(key);
      out.push(this.get(key, programmed ? 'programmed' : 'pending', reason));
    });
    skipped.forEach((s, key) => out.push(this.get(key, 'skipped', s.reason)));
    return out;
  }

  /** Drops a peer that left. */
  forget(key: string): void {
    this.last.delete(key);
  }

  private get(key: string, state: PeerState['state'], reason: string | undefined): PeerState {
    const had = this.last.get(key);
    if (had && had.state === state && had.reason === reason) return had;
    const next: PeerState = reason === undefined ? { key, state } : { key, state, reason };
    this.last.set(key, next);
    return next;
  }
}
