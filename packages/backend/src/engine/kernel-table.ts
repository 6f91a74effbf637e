import type { Lease, Logger } from '@flannel-ts/core';
import type { PeerState } from '../backend';
import type { BlackholeEntry, DataPlaneState } from '../kernel-state';
import type { PeerEntries } from '../peer-entries';
import { peerKey } from '../peer-entries';
import { describePeer } from '../peers';
import { planDataPlane, sameEntry } from '../plan';
import type { DataPlaneOp } from '../plan';
import { KINDS, keyOf, kindOf, stateOf, tables } from './entry-kinds';
import type { Entry, EntryKind, Tables } from './entry-kinds';
import { PeerStates } from './peer-states';

export type { EntryKind } from './entry-kinds';

/** What the kernel was seen holding under one of our keys (from a monitor event). */
export interface Observation {
  readonly kind: EntryKind;
  readonly key: string;
  /**
   * `present`: `entry` is there, in the shape we write; `absent`: deleted (`entry`, when known, is
   * what was deleted); `foreign`: something of another shape holds the key.
   */
  readonly state: 'present' | 'absent' | 'foreign';
  readonly entry?: Entry | undefined;
}

/** An op the kernel refused, with iproute2's words. */
export interface OpFailure {
  readonly op: DataPlaneOp;
  readonly message: string;
}

/** What one apply did. */
export interface ApplyReport {
  readonly changes: number;
  /** Entries put back after someone deleted or changed them. */
  readonly repairs: number;
  readonly failures: readonly OpFailure[];
}

/** Entries the host itself wants, whatever the peers: the blackhole route of our subnet. */
export interface LocalEntries {
  readonly blackholes?: readonly BlackholeEntry[];
}

/** Options of {@link KernelTable}. */
export interface KernelTableOptions {
  /** What one peer needs in the kernel, or why it is left out (the backend's only say). */
  readonly entriesFor: (lease: Lease) => PeerEntries;
  /** Sends ops to the kernel; resolves with the ops that failed. */
  readonly applyOps: (ops: readonly DataPlaneOp[], signal?: AbortSignal) => Promise<OpFailure[]>;
  /** Reads the owned part of the kernel (full passes). */
  readonly readKernel: (signal?: AbortSignal) => Promise<DataPlaneState>;
  readonly logger: Logger;
}

// A delete that finds nothing to delete has done its job.
const ALREADY_GONE = /No such (process|file or directory)|Cannot find|not found/i;
/** The owner of the host's own entries; a lease key never looks like this. */
const LOCAL = '(local)';

/**
 * The one kernel table of a backend, in the spirit of Calico Felix's route table: it holds the
 * desired entries (from peer leases), the only cache of what was applied, and a dirty set, and it
 * is the only caller of the applier. Lease changes and kernel events only record intent and mark
 * keys dirty; {@link apply} plans just the dirty keys with the pure planner and sends those lines.
 * A full pass ({@link resync}) reads the kernel into the cache and marks what differs. Entries
 * have owners: each peer (by lease key), and the host itself ({@link setLocal}).
 */
export class KernelTable {
  private readonly desired = tables(() => new Map<string, Entry>());
  private readonly applied = tables(() => new Map<string, Entry>());
  private readonly dirty = tables(() => new Set<string>());
  /** Keys whose last apply failed, with the kernel's words; retried by the next full pass. */
  private readonly failed = tables(() => new Map<string, string>());
  /** Which owner put each desired entry there (`kind key` → peer key, or {@link LOCAL}). */
  private readonly owner = new Map<string, string>();
  /** Per peer, the entries it wants, by kind. */
  private readonly peers = new Map<string, [EntryKind, Entry][]>();
  /** The host's own entries. */
  private local: [EntryKind, Entry][] = [];
  private readonly skipped = new Map<string, { reason: string; peer: string }>();
  /** Peers programmed in part (a family left out), with the reason. */
  private readonly partial = new Map<string, string>();
  private readonly states = new PeerStates();
  /** Keys an observation changed while an apply was in flight: the apply must not overwrite. */
  private touched: Set<string> | undefined;
  private repairs = 0;

  constructor(private readonly options: KernelTableOptions) {}

  /** Records changed peers (lease key → lease, undefined when it left). Touches no kernel. */
  update(changes: Iterable<readonly [string, Lease | undefined]>): void {
    for (const [key, lease] of changes) {
      this.release(key, this.peers.get(key) ?? []);
      this.peers.delete(key);
      const wants = lease ? this.options.entriesFor(lease) : undefined;
      this.noteSkip(key, lease, wants);
      if (!lease) this.states.forget(key);
      this.notePartial(key, lease, wants);
      if (!lease || !wants || 'skip' in wants) continue;
      const list: [EntryKind, Entry][] = [
        ...(wants.fdb ?? []).map((e) => ['fdb', e] as [EntryKind, Entry]),
        ...(wants.neighbours ?? []).map((e) => ['neighbours', e] as [EntryKind, Entry]),
        ...(wants.wgPeers ?? []).map((e) => ['wgPeers', e] as [EntryKind, Entry]),
        ...wants.routes.map((e) => ['routes', e] as [EntryKind, Entry]),
      ];
      this.peers.set(key, list);
      this.claim(key, list);
    }
  }

  /** Replaces the host's own entries (none by default). Touches no kernel. */
  setLocal(entries: LocalEntries): void {
    this.release(LOCAL, this.local);
    this.local = (entries.blackholes ?? []).map((e) => ['blackholes', e]);
    this.claim(LOCAL, this.local);
  }

  private claim(owner: string, list: readonly [EntryKind, Entry][]): void {
    for (const [kind, e] of list) {
      const k = keyOf(kind, e);
      this.owner.set(`${kind} ${k}`, owner);
      this.desired[kind].set(k, e);
      this.dirty[kind].add(k);
    }
  }

  private release(owner: string, list: readonly [EntryKind, Entry][]): void {
    for (const [kind, e] of list) {
      const k = keyOf(kind, e);
      if (this.owner.get(`${kind} ${k}`) !== owner) continue;
      this.owner.delete(`${kind} ${k}`);
      this.desired[kind].delete(k);
      this.dirty[kind].add(k);
    }
  }

  /** Replaces every peer with `leases` (start-up, or a re-listing after a watch gap). */
  replacePeers(leases: readonly Lease[]): void {
    const next = new Map(leases.map((l) => [peerKey(l), l] as const));
    const gone = [...this.peers.keys(), ...this.skipped.keys()].filter((k) => !next.has(k));
    this.update([...gone.map((k) => [k, undefined] as const), ...next]);
  }

  /**
   * Takes in what a monitor saw under one of our keys; true when that needs an apply (an entry we
   * want was deleted or changed, or an entry of ours that no peer explains appeared).
   */
  observe(o: Observation): boolean {
    const want = this.desired[o.kind].get(o.key);
    const had = this.applied[o.kind].get(o.key);
    if (o.state === 'absent') {
      // Someone deleted another entry under our key (e.g. another remote of the same MAC).
      if (had && o.entry && !sameEntry(had, o.entry)) return false;
      if (!had && !want) return false;
      this.applied[o.kind].delete(o.key);
    } else if (o.state === 'present' && o.entry) {
      if (want && sameEntry(want, o.entry)) {
        this.applied[o.kind].set(o.key, o.entry);
        return false;
      }
      this.applied[o.kind].set(o.key, o.entry);
    } else {
      if (!want) return false;
      this.applied[o.kind].delete(o.key);
    }
    this.touched?.add(`${o.kind} ${o.key}`);
    this.dirty[o.kind].add(o.key);
    if (want) this.repairs += 1;
    return true;
  }

  /** Forgets what was applied (the device was rebuilt: the kernel lost every entry on it). */
  invalidate(): void {
    for (const kind of KINDS) {
      this.applied[kind].clear();
      for (const k of this.desired[kind].keys()) this.dirty[kind].add(k);
    }
  }

  /** True when {@link apply} has something to do. */
  get pending(): boolean {
    return KINDS.some((k) => this.dirty[k].size > 0);
  }

  /** Peers whose entries are wanted, and the peers left out (`10.5.3.0/24 (192.0.2.3)`). */
  get peerCounts(): { programmed: number; skipped: string[] } {
    return {
      programmed: this.peers.size,
      skipped: [...this.skipped.values()].map((s) => s.peer),
    };
  }

  /** Each peer's state, from memory: a few map lookups per peer (see {@link PeerStates}). */
  peerStates(): PeerState[] {
    return this.states.collect(this.peers, this.skipped, this.applied, this.failed, this.partial);
  }

  /** Plans the dirty keys against the cache and applies them; failed keys wait for a full pass. */
  async apply(signal?: AbortSignal): Promise<ApplyReport> {
    const want = tables(() => [] as Entry[]);
    const have = tables(() => [] as Entry[]);
    for (const kind of KINDS) {
      for (const k of this.dirty[kind]) {
        const w = this.desired[kind].get(k);
        const h = this.applied[kind].get(k);
        if (w) want[kind].push(w);
        if (h) have[kind].push(h);
        // Tried again now: a refusal is recorded afresh, and a key that needs nothing any more
        // (its peer left) is not retried for ever.
        this.failed[kind].delete(k);
      }
      this.dirty[kind].clear();
    }
    const ops = planDataPlane(stateOf(want), stateOf(have));
    const repairs = this.repairs;
    this.repairs = 0;
    if (ops.length === 0) return { changes: 0, repairs, failures: [] };
    const touched = new Set<string>();
    this.touched = touched;
    let failures: OpFailure[];
    try {
      failures = await this.options.applyOps(ops, signal);
    } catch (err) {
      // Nothing is known of what reached the kernel: every key goes back to dirty.
      for (const o of ops) this.dirty[kindOf(o)].add(keyOf(kindOf(o), o.entry));
      throw err;
    } finally {
      this.touched = undefined;
    }
    const failedOps = new Map(failures.map((f) => [f.op, f.message]));
    const real: OpFailure[] = [];
    for (const o of ops) {
      const kind = kindOf(o);
      const k = keyOf(kind, o.entry);
      if (touched.has(`${kind} ${k}`)) continue; // a newer observation already says what is there
      const message = failedOps.get(o);
      const removing = o.op.startsWith('delete');
      if (message !== undefined && !(removing && ALREADY_GONE.test(message))) {
        this.applied[kind].delete(k);
        this.failed[kind].set(k, message);
        real.push({ op: o, message });
        continue;
      }
      if (removing) this.applied[kind].delete(k);
      else this.applied[kind].set(k, o.entry);
    }
    for (const o of ops) this.options.logger.trace(o.op, { ...o.entry });
    return { changes: ops.length - real.length, repairs, failures: real };
  }

  /**
   * A full pass: re-marks keys that failed, optionally reads the kernel into the cache (marking
   * every difference dirty: deletions, changes, and entries of ours that no peer explains), then
   * applies. `readKernel: false` is for a device that was just created and holds nothing.
   */
  async resync(signal?: AbortSignal, readKernel = true): Promise<ApplyReport> {
    for (const kind of KINDS) {
      for (const k of this.failed[kind].keys()) this.dirty[kind].add(k);
    }
    if (readKernel) {
      const read = await this.options.readKernel(signal);
      const actual: Tables<ReadonlyMap<string, Entry>> = {
        ...read,
        wgPeers: read.wgPeers ?? new Map<string, Entry>(),
      };
      for (const kind of KINDS) this.fold(kind, actual[kind]);
    }
    return this.apply(signal);
  }

  private fold(kind: EntryKind, actual: ReadonlyMap<string, Entry>): void {
    const applied = this.applied[kind];
    const desired = this.desired[kind];
    for (const k of new Set([...actual.keys(), ...applied.keys(), ...desired.keys()])) {
      const a = actual.get(k);
      const h = applied.get(k);
      const w = desired.get(k);
      if (a && h && sameEntry(a, h) && (!w || sameEntry(w, a))) {
        if (!w) this.dirty[kind].add(k);
        continue;
      }
      if (a) applied.set(k, a);
      else applied.delete(k);
      if (w && (!a || !sameEntry(w, a))) {
        this.dirty[kind].add(k);
        if (h) this.repairs += 1;
      } else if (!w && a) this.dirty[kind].add(k);
    }
  }

  private notePartial(key: string, lease: Lease | undefined, wants: PeerEntries | undefined): void {
    const reason = lease && wants && !('skip' in wants) ? wants.partial : undefined;
    if (reason === undefined) {
      this.partial.delete(key);
      return;
    }
    if (this.partial.get(key) === reason) return;
    this.partial.set(key, reason);
    this.options.logger.warn('programming peer in part', { peer: describePeer(lease!), reason });
  }

  private noteSkip(key: string, lease: Lease | undefined, wants: PeerEntries | undefined): void {
    const reason = wants && 'skip' in wants ? wants.skip : undefined;
    if (!lease || reason === undefined) {
      this.skipped.delete(key);
      return;
    }
    if (this.skipped.get(key)?.reason === reason) return;
    const peer = describePeer(lease);
    this.skipped.set(key, { reason, peer });
    this.options.logger.warn('skipping peer', { peer, reason });
  }
}
