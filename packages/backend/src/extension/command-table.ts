import { Backoff, systemClock } from '@flannel-ts/core';
import type { Clock, Lease, Logger } from '@flannel-ts/core';
import type { PeerState, SyncReport } from '../backend';
import { describePeer } from '../peers';
import { ExtensionCommandError } from './command-error';
import { peerInput, sameInput } from './command-input';
import type { PeerInput } from './command-input';
import { failureOf, quoteOutput } from './command-runner';
import type { CommandRunner } from './command-runner';
import type { ExtensionCommands } from './extension-options';
import { runBounded } from './run-bounded';

/** Options of {@link CommandTable}. */
export interface CommandTableOptions {
  /** SubnetAddCommand and SubnetRemoveCommand (the others are not the table's). */
  readonly commands: ExtensionCommands;
  readonly runner: CommandRunner;
  readonly logger: Logger;
  readonly clock?: Clock | undefined;
  /** Commands of different subnets running at once; default 8. */
  readonly concurrency?: number | undefined;
  /** First retry delay of a failed command, doubling up to `retryMaxMs`; default 1 s. */
  readonly retryInitialMs?: number | undefined;
  /** Default 60 s. */
  readonly retryMaxMs?: number | undefined;
  /** Runs of a failing SubnetRemoveCommand before it is given up; default 5. */
  readonly removeAttempts?: number | undefined;
}

type Op = 'add' | 'remove';
const COMMAND: Readonly<Record<Op, 'SubnetAddCommand' | 'SubnetRemoveCommand'>> = {
  add: 'SubnetAddCommand',
  remove: 'SubnetRemoveCommand',
};

interface Failure {
  readonly op: Op;
  /** The lease the failed command was run for. */
  readonly lease: Lease;
  readonly message: string;
  readonly attempts: number;
  readonly retryAt: number;
  readonly backoff: Backoff;
}

/** One peer, by lease key. */
interface Peer {
  /** Its lease now; undefined once it left. */
  lease: Lease | undefined;
  /** What its add command is to be given, while it is here and can be run. */
  wanted: PeerInput | undefined;
  /** Why it cannot be run (its BackendData), while so. */
  skip: string | undefined;
  /** What the last add that succeeded was given: nothing to do while `wanted` is the same. */
  done: PeerInput | undefined;
  /** The last add that ran, succeeded or not (it may have done part): a remove is owed for it. */
  ran: { readonly input: PeerInput; readonly lease: Lease } | undefined;
  failure: Failure | undefined;
  /** Bumped by every change: a command decided on before it is stale. */
  generation: number;
}

interface Job {
  readonly key: string;
  readonly peer: Peer;
  readonly op: Op;
  readonly input: PeerInput;
  readonly lease: Lease;
  readonly generation: number;
}

/**
 * The extension backend's table of peers: desired state (each peer's lease), applied state (what
 * its add command last succeeded with), a dirty set, and one pass at a time, as the kernel table
 * (engine/kernel-table.ts) has. It is not that table: there are no kernel entries to plan, read
 * back or observe, only commands whose exit status is all we learn, so what succeeded is recorded
 * here and never re-run for an unchanged lease. A failed command is retried with back-off; a
 * failing remove is given up after a few runs (its peer is gone, and with it what `flanneld
 * status` could show). A pass runs one command per subnet, and passes never overlap, so commands
 * of one subnet never run at once; different subnets run side by side, a few at a time.
 */
export class CommandTable {
  private readonly peers = new Map<string, Peer>();
  private readonly dirty = new Set<string>();
  private readonly failing = new Set<string>();
  private readonly clock: Clock;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: CommandTableOptions) {
    this.clock = o.clock ?? systemClock;
  }

  /** Records changed peers (lease key → lease, undefined when it left). Runs nothing. */
  update(changes: Iterable<readonly [string, Lease | undefined]>): void {
    for (const [key, lease] of changes) {
      const p = this.peers.get(key) ?? this.newPeer(key);
      const next = lease ? peerInput(lease) : undefined;
      const wanted = next && 'env' in next ? next : undefined;
      const skip = next && 'skip' in next ? next.skip : undefined;
      const same = p.lease !== undefined && lease !== undefined && skip === p.skip;
      p.lease = lease;
      // A renewal (same value, new TTL) changes nothing a command sees.
      if (same && (wanted && p.wanted ? sameInput(wanted, p.wanted) : wanted === p.wanted)) {
        continue;
      }
      if (skip !== undefined && skip !== p.skip && lease) {
        this.o.logger.warn('skipping peer', { peer: describePeer(lease), reason: skip });
      }
      p.wanted = wanted;
      p.skip = skip;
      p.generation++;
      // Tried at once, whatever the back-off: it is a new state.
      p.failure = undefined;
      this.failing.delete(key);
      this.dirty.add(key);
    }
  }

  /** True when a pass has something to run now. */
  get pending(): boolean {
    if (this.dirty.size > 0) return true;
    const now = this.clock.now();
    for (const key of this.failing) {
      if ((this.peers.get(key)?.failure?.retryAt ?? Infinity) <= now) return true;
    }
    return false;
  }

  /** Runs what changed and the failed commands that are due; one pass at a time. */
  apply(signal?: AbortSignal): Promise<SyncReport> {
    const run = this.tail.then(
      () => this.pass(signal),
      () => this.pass(signal),
    );
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Each peer here: programmed (its add succeeded, or none is configured), pending or skipped. */
  peerStates(): PeerState[] {
    const out: PeerState[] = [];
    for (const [key, p] of this.peers) {
      if (!p.lease) continue;
      if (p.skip !== undefined) out.push({ key, state: 'skipped', reason: p.skip });
      else if (this.programmed(p)) out.push({ key, state: 'programmed' });
      else if (p.failure?.op === 'add') {
        out.push({ key, state: 'pending', reason: p.failure.message });
      } else out.push({ key, state: 'pending' });
    }
    return out;
  }

  private programmed(p: Peer): boolean {
    return (
      !this.o.commands.SubnetAddCommand || (!!p.done && !!p.wanted && sameInput(p.done, p.wanted))
    );
  }

  private newPeer(key: string): Peer {
    const p: Peer = {
      lease: undefined,
      wanted: undefined,
      skip: undefined,
      done: undefined,
      ran: undefined,
      failure: undefined,
      generation: 0,
    };
    this.peers.set(key, p);
    return p;
  }

  private async pass(signal?: AbortSignal): Promise<SyncReport> {
    const now = this.clock.now();
    const keys = new Set(this.dirty);
    this.dirty.clear();
    for (const key of this.failing) {
      if ((this.peers.get(key)?.failure?.retryAt ?? Infinity) <= now) keys.add(key);
    }
    const jobs: Job[] = [];
    for (const key of keys) {
      const job = this.decide(key);
      if (job) jobs.push(job);
    }
    let changes = 0;
    const thrown: unknown[] = [];
    await runBounded(jobs, this.o.concurrency ?? 8, async (job) => {
      try {
        if (await this.run(job, signal)) changes++;
      } catch (err) {
        // Nothing is known of what it did: decided afresh by the next pass.
        this.dirty.add(job.key);
        thrown.push(err);
      }
    });
    if (thrown.length > 0) throw thrown[0];
    return this.report(changes);
  }

  /** What one peer needs run now, if anything (and forgets a peer that left with nothing owed). */
  private decide(key: string): Job | undefined {
    const p = this.peers.get(key);
    if (!p) return undefined;
    const { SubnetAddCommand: add, SubnetRemoveCommand: remove } = this.o.commands;
    const job = (op: Op, input: PeerInput, lease: Lease): Job => {
      return { key, peer: p, op, input, lease, generation: p.generation };
    };
    if (p.wanted && p.lease) {
      if (!add) {
        // Nothing to run; upstream still runs the remove command when such a peer leaves.
        p.done = p.wanted;
        p.ran = { input: p.wanted, lease: p.lease };
        return undefined;
      }
      if (p.done && sameInput(p.done, p.wanted)) return undefined;
      return job('add', p.wanted, p.lease);
    }
    if (p.ran && remove) return job('remove', p.ran.input, p.ran.lease);
    p.ran = undefined;
    p.done = undefined;
    if (!p.lease) this.forget(key);
    return undefined;
  }

  /** Runs one job; true when its command succeeded. */
  private async run(job: Job, signal?: AbortSignal): Promise<boolean> {
    const { peer: p, op, input, lease, key } = job;
    // Its lease changed while it waited for a turn: the next pass decides again.
    if (p.generation !== job.generation) return false;
    const name = COMMAND[op];
    const script = this.o.commands[name] ?? '';
    const fields = { subnet: input.env['SUBNET'], publicIp: input.env['PUBLIC_IP'] };
    this.o.logger.debug(`running ${name}`, fields);
    if (op === 'add') p.ran = { input, lease };
    const result = await this.o.runner.run(
      { name, script, env: input.env, stdin: input.stdin },
      signal,
    );
    this.o.logger.trace(`${name} output`, {
      ...fields,
      stdout: quoteOutput(result.stdout),
      stderr: quoteOutput(result.stderr),
    });
    const failure = failureOf(result);
    if (failure === undefined) {
      if (p.failure) {
        this.o.logger.info(`${name} succeeded after failing`, {
          ...fields,
          attempts: p.failure.attempts + 1,
        });
      }
      p.failure = undefined;
      this.failing.delete(key);
      if (op === 'add') p.done = input;
      else {
        p.ran = undefined;
        p.done = undefined;
        if (!p.lease) this.forget(key);
      }
      return true;
    }
    this.failed(job, failure, fields);
    return false;
  }

  private failed(job: Job, message: string, fields: Record<string, unknown>): void {
    const { peer: p, op, key } = job;
    const name = COMMAND[op];
    const before = p.failure?.op === op ? p.failure : undefined;
    const attempts = (before?.attempts ?? 0) + 1;
    if (op === 'remove' && attempts >= (this.o.removeAttempts ?? 5)) {
      this.o.logger.error(`${name} keeps failing; giving it up`, {
        ...fields,
        attempts,
        error: message,
        todo: 'undo by hand what the add command set up for this subnet',
      });
      p.failure = undefined;
      this.failing.delete(key);
      p.ran = undefined;
      p.done = undefined;
      if (!p.lease) this.forget(key);
      return;
    }
    if (p.generation !== job.generation) {
      // A change arrived meanwhile and marked the peer dirty: the next pass decides afresh.
      this.o.logger.warn(`${name} failed`, { ...fields, error: message });
      return;
    }
    const backoff =
      before?.backoff ?? new Backoff(this.o.retryInitialMs ?? 1000, this.o.retryMaxMs ?? 60_000);
    const retryInMs = backoff.next();
    const retryAt = this.clock.now() + retryInMs;
    p.failure = { op, lease: job.lease, message, attempts, backoff, retryAt };
    this.failing.add(key);
    // Warned about once; the same answer again is detail.
    const line = { ...fields, error: message, attempts, retryInMs };
    if (before?.message === message) this.o.logger.debug(`${name} failed again`, line);
    else this.o.logger.warn(`${name} failed; retrying`, line);
  }

  private forget(key: string): void {
    this.peers.delete(key);
    this.failing.delete(key);
  }

  private report(changes: number): SyncReport {
    const failed: string[] = [];
    let programmedPeers = 0;
    const skippedPeers: string[] = [];
    for (const p of this.peers.values()) {
      if (p.failure) {
        const { op, lease, message } = p.failure;
        failed.push(`${COMMAND[op]} for ${describePeer(lease)}: ${message}`);
      }
      if (!p.lease) continue;
      if (p.skip !== undefined) skippedPeers.push(describePeer(p.lease));
      else if (this.programmed(p)) programmedPeers++;
    }
    if (failed.length > 0) {
      const more = failed.length > 3 ? ` (and ${failed.length - 3} more)` : '';
      throw new ExtensionCommandError(
        `${failed.length} extension command(s) failing, retried with back-off: ${failed.slice(0, 3).join('; ')}${more}`,
      );
    }
    return { changes, repairs: 0, programmedPeers, skippedPeers };
  }
}
