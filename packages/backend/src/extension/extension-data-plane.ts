import type { DataPlane, SyncReport } from '../backend';
import type { CommandTable } from './command-table';

/**
 * The extension backend's data plane: the command table, and beside it, with
 * `--ip-blackhole-route`, the shared peer data plane holding just our subnet's blackhole route (as
 * alloc's). There are no kernel events of the table's to follow: its watch asks for a pass when a
 * failed command is due again (and follows the blackhole route's monitor, when there is one). A
 * pass runs both; the first failure is rethrown after both have run.
 */
export function extensionDataPlane(table: CommandTable, blackhole?: DataPlane): DataPlane {
  const both = async (
    mine: () => Promise<SyncReport>,
    other: (() => Promise<SyncReport>) | undefined,
  ): Promise<SyncReport> => {
    const [a, b] = await Promise.allSettled([mine(), other ? other() : Promise.resolve(undefined)]);
    if (a.status === 'rejected') throw a.reason;
    if (b.status === 'rejected') throw b.reason;
    return {
      ...a.value,
      changes: a.value.changes + (b.value?.changes ?? 0),
      repairs: b.value?.repairs ?? 0,
    };
  };
  return {
    update: (changes) => table.update(changes),
    get pending() {
      return table.pending || (blackhole?.pending ?? false);
    },
    apply: (signal) =>
      both(() => table.apply(signal), blackhole && (() => blackhole.apply(signal))),
    // Nothing that succeeded is run again: a full pass is the table's retries that are due.
    resync: (signal) =>
      both(() => table.apply(signal), blackhole && (() => blackhole.resync(signal))),
    async watch(onDirty, signal) {
      const retries = (s: AbortSignal): Promise<void> =>
        table.followRetries(() => onDirty(false), s);
      if (!blackhole) return retries(signal);
      // Whichever ends first ends both: a monitor that stopped is the caller's to restart.
      const inner = new AbortController();
      const stop = (): void => inner.abort();
      signal.addEventListener('abort', stop, { once: true });
      try {
        await Promise.race([blackhole.watch(onDirty, inner.signal), retries(inner.signal)]);
      } finally {
        inner.abort();
        signal.removeEventListener('abort', stop);
      }
    },
    peerStates: () => table.peerStates(),
  };
}
