import { Backoff, systemClock } from '@flannel-ts/core';
import type { Clock, Lease, Logger } from '@flannel-ts/core';
import type { PeerState, SyncReport } from '../backend';
import { describePeer } from '../peers';
import { peerInput, sameInput } from './command-input';
import type { PeerInput } from './command-input';
import { failureOf, quoteOutput } from './command-runner';
import type { CommandRunner } from './command-runner';
import type { ExtensionCommands } from './extension-options';
import { RetrySchedule } from './retry-schedule';
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
const COMMAND = { add: 'SubnetAddCommand', remove: 'SubnetRemoveCommand' } as const;

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
  /** The last command failed: what, why, how often, and the back-off of its retries. */
  failure: { op: Op; message: string; attempts: number; backoff: Backoff } | undefined;
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
 * here and never re-run for an unchanged lease.
 *
 * A failed command leaves its peer pending (with the failure as reason) and is retried with
 * back-off ({@link followRetries} says when one is due). It does not fail the pass: upstream's
 * own examples fail harmlessly when re-run (`ip route add` of a route an agent restart left in
 * place answers "File exists"), and a failing pass would hold back readiness and systemd's
 * READY=1 for good. A failing remove is given up after a few runs: its peer is gone.
 *
 * A pass runs at most one command per subnet, and passes never overlap, so commands of one
 * subnet never run at once; different subnets run side by side, a few at a time.
 */
export class CommandTable {
  private readonly peers = new Map<string, Peer>();
  private readonly dirty = new Set<string>();
  private readonly clock: Clock;
  private readonly retries: RetrySchedule;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: CommandTableOptions) {
    this.clock = o.clock ?? systemClock;
    this.retries = new RetrySchedule(this.clock);
  }

  /** Records changed peers (lease key → lease, undefined when it left). Runs nothing. */
  update(changes: Iterable<readonly [string, Lease | undefined]>): void {
    for (const [key, lease] of changes) {
      const p = this.peers.get(key) ?? this.newPeer(key);
      const next = lease ? peerInput(lease) : undefined;
      const wanted = next && 'env' in next ? next : undefined;
      const skip = next && 'skip' in next ? next.skip : undefined;
      const unchanged =
        p.lease !== undefined &&
        lease !== undefined &&
        skip === p.skip &&
        (wanted && p.wanted ? sameInput(wanted, p.wanted) : wanted === p.wanted);
      p.lease = lease;
      // A renewal (same value, new TTL) changes nothing a command sees.
      if (unchanged) continue;
      if (lease && skip !== undefined && skip !== p.skip) {
        this.o.logger.warn('skipping peer', { peer: describePeer(lease), reason: skip });
      }
      p.wanted = wanted;
      p.skip = skip;
      p.generation++;
      // A new state is tried at once, whatever the back-off of the old one.
      p.failure = undefined;
      this.retries.clear(key);
      this.dirty.add(key);
    }
  }

  /** True when a pass has something to run now. */
  get pending(): boolean {
    return this.dirty.size > 0 || this.retries.anyDue;
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

  /** Calls `onDue` whenever a failed command is due again, until `signal` aborts. */
  followRetries(onDue: () => void, signal: AbortSignal): Promise<void> {
    return this.retries.follow(onDue, signal);
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
    if (!this.o.commands.SubnetAddCommand) return true;
    return !!p.done && !!p.wanted && sameInput(p.done, p.wanted);
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
    const keys = new Set([...this.dirty, ...this.retries.dueNow()]);
    this.dirty.clear();
    const jobs: Job[] = [];
    for (const key of keys) {
      this.retries.clear(key);
      const job = this.decide(key);
      if (job) jobs.push(job);
    }
    let changes = 0;
    const thrown: unknown[] = [];
    await runBounded(jobs, this.o.concurrency ?? 8, async (job) => {
      try {
        if (await this.run(job, signal)) changes++;
      } catch (err) {
        // Nothing is known of what it did (aborted, or no shell): decided afresh next pass.
        this.dirty.add(job.key);
        thrown.push(err);
      }
    });
    if (thrown.length > 0) throw thrown[0];
    let programmedPeers = 0;
    const skippedPeers: string[] = [];
    for (const p of this.peers.values()) {
      if (!p.lease) continue;
      if (p.skip !== undefined) skippedPeers.push(describePeer(p.lease));
      else if (this.programmed(p)) programmedPeers++;
    }
    return { changes, repairs: 0, programmedPeers, skippedPeers };
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
    if (!p.lease) this.peers.delete(key);
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
    const command = { name, script, env: input.env, stdin: input.stdin };
    const result = await this.o.runner.run(command, signal);
    this.o.logger.trace(`${name} output`, {
      ...fields,
      stdout: quoteOutput(result.stdout),
      stderr: quoteOutput(result.stderr),
    });
    const failure = failureOf(result);
    if (failure !== undefined) {
      this.failed(job, failure, fields);
      return false;
    }
    if (p.failure) {
      const attempts = p.failure.attempts + 1;
      this.o.logger.info(`${name} succeeded after failing`, { ...fields, attempts });
    }
    p.failure = undefined;
    if (op === 'add') p.done = input;
    else {
      p.ran = undefined;
      p.done = undefined;
      if (!p.lease) this.peers.delete(key);
    }
    return true;
  }

  private failed(job: Job, message: string, fields: Record<string, unknown>): void {
    const { peer: p, op, key } = job;
    const name = COMMAND[op];
    if (p.generation !== job.generation) {
      // A change arrived meanwhile and marked the peer dirty: the next pass decides afresh.
      this.o.logger.warn(`${name} failed`, { ...fields, error: message });
      return;
    }
    const before = p.failure?.op === op ? p.failure : undefined;
    const attempts = (before?.attempts ?? 0) + 1;
    if (op === 'remove' && attempts >= (this.o.removeAttempts ?? 5)) {
      this.o.logger.error(`${name} keeps failing; giving it up`, {
        ...fields,
        attempts,
        error: message,
        todo: 'undo by hand what SubnetAddCommand set up for this subnet',
      });
      p.failure = undefined;
      p.ran = undefined;
      p.done = undefined;
      if (!p.lease) this.peers.delete(key);
      return;
    }
    const { retryInitialMs = 1000, retryMaxMs = 60_000 } = this.o;
    const backoff = before?.backoff ?? new Backoff(retryInitialMs, retryMaxMs);
    const retryInMs = backoff.next();
    p.failure = { op, message, attempts, backoff };
    this.retries.set(key, this.clock.now() + retryInMs);
    // Warned about once; the same answer again is detail.
    const line = { ...fields, error: message, attempts, retryInMs };
    if (before?.message === message) this.o.logger.debug(`${name} failed again`, line);
    else this.o.logger.warn(`${name} failed; retrying`, line);
  }
}
