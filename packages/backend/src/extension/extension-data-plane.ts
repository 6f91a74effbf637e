import type { DataPlane, SyncReport } from '../backend';
import type { CommandTable } from './command-table';

/**
 * The extension backend's data plane: the command table, and beside it, with
 * `--ip-blackhole-route`, the shared peer data plane holding just our subnet's blackhole route (as
 * alloc's). The table has no kernel events to follow; the blackhole route's monitor is followed
 * when there is one. A pass runs both; the first failure is rethrown after both have run.
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
    watch: (onDirty, signal) =>
      blackhole ? blackhole.watch(onDirty, signal) : untilAborted(signal),
    peerStates: () => table.peerStates(),
  };
}

/** Resolves when the signal aborts. */
function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
