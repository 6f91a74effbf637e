import type { Clock, Logger } from '@flannel-ts/core';
import { noopLogger, systemClock } from '@flannel-ts/core';
import type { FailedBatchLine } from '../ip-runner';
import { IpBinaryNotFoundError } from '../ip-runner';
import type { ChildHandle, SpawnChild } from './child-process';

/**
 * A line bound to fail, ending every batch: an interface name cannot contain `/`, so iproute2
 * always answers `Command failed -:N`, and it does so on stderr after any real error of the batch
 * (a stdout marker could overtake them).
 */
export const FENCE_LINE = 'link show dev flannel/fence';
/** iproute2 6.1 keeps ~4 KiB per modifying line for the life of a batch process. */
export const DEFAULT_RECYCLE_AFTER_LINES = 1000;
/** Consecutive deaths without progress after which the rest of a batch is reported failed. */
const MAX_CRASHES = 8;

const MARKER = /^Command failed .*:(\d+)$/;

/** Options of {@link BatchChild}. */
export interface BatchChildOptions {
  readonly binary: 'ip' | 'bridge';
  /** Arguments before `-force -batch -`, e.g. `['-n', netns]`. */
  readonly prefix?: readonly string[];
  readonly spawn: SpawnChild;
  /** Lines after which the child is replaced (between batches). */
  readonly recycleAfterLines?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

interface Job {
  readonly lines: readonly string[];
  /** Index of the first line not yet known to be done. */
  next: number;
  failures: (FailedBatchLine & { index: number })[];
  /** After a death mid-batch: one fence per line, so the line that kills iproute2 is known. */
  careful: boolean;
  resolve(failures: FailedBatchLine[]): void;
  reject(err: Error): void;
}

/** What a child line number stands for: a line of the job, or a fence covering lines before it. */
type Expect = { kind: 'line'; index: number } | { kind: 'fence'; upTo: number };

interface Live {
  readonly handle: ChildHandle;
  /** Lines written over the child's life (iproute2's `N` counts these). */
  written: number;
  /** Modifying lines written, for recycling. */
  modifying: number;
  readonly expect: Map<number, Expect>;
  /** stderr text since the last marker. */
  pending: string[];
  partial: string;
  /** Set once the child is replaced or closed: its exit is expected and means nothing. */
  retired: boolean;
  /** Whether iproute2 answered anything yet (a child that cannot start answers nothing). */
  answered: boolean;
}

/**
 * One long-lived `ip -force -batch -` (or `bridge`) child fed on stdin, so a kernel change costs a
 * write and a ~1 ms answer instead of a process start (6-11 ms that block Node's event loop).
 * Batches run one at a time. Each ends with {@link FENCE_LINE}; errors are attributed by iproute2's
 * line number, which counts over the child's whole life. A child that dies mid-batch (an argument
 * error makes `ip` exit even with `-force`; or it was killed) is restarted with back-off and the
 * lines not yet confirmed are replayed in order, one fence per line, so the culprit is named and
 * nothing is lost. The child is replaced after `recycleAfterLines` modifying lines because iproute2
 * never frees what each line allocates.
 */
export class BatchChild {
  private readonly queue: Job[] = [];
  private job: Job | undefined;
  private live: Live | undefined;
  /** Deaths in a row without progress (a culprit named, or a fence passed). */
  private crashes = 0;
  /** What the last dead child said, when it died without answering anything. */
  private lastSilentDeath: string | undefined;
  private recycleRequested = false;
  private closed = false;
  private readonly recycleAfter: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  /** Children started so far (for tests and the log). */
  spawned = 0;

  /** The live child's pid, if one runs. */
  get pid(): number | undefined {
    return this.live?.handle.pid;
  }

  constructor(private readonly options: BatchChildOptions) {
    this.recycleAfter = options.recycleAfterLines ?? DEFAULT_RECYCLE_AFTER_LINES;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? noopLogger;
  }

  /** Applies `lines` in order; resolves with the lines iproute2 reported as failed. */
  submit(lines: readonly string[]): Promise<FailedBatchLine[]> {
    if (this.closed)
      return Promise.reject(new Error(`${this.options.binary} batch child is closed`));
    return new Promise((resolve, reject) => {
      this.queue.push({ lines, next: 0, failures: [], careful: false, resolve, reject });
      if (!this.job) this.startNext();
    });
  }

  /**
   * Replaces the child before the next batch (its stdin is closed once nothing is pending).
   * iproute2 caches interface indices by name for the life of the process: after a device is
   * deleted and created again, a long-lived child still uses the old index.
   */
  recycle(): void {
    if (this.job) {
      this.recycleRequested = true;
      return;
    }
    this.retire();
  }

  private retire(): void {
    const live = this.live;
    this.live = undefined;
    this.recycleRequested = false;
    if (!live) return;
    live.retired = true;
    live.handle.end();
  }

  /**
   * Ends the child: its stdin is closed, or it is killed when a batch is under way; that batch and
   * any queued one reject (what they changed is unknown).
   */
  close(): void {
    this.closed = true;
    const live = this.live;
    this.live = undefined;
    const pending = [...(this.job ? [this.job] : []), ...this.queue.splice(0)];
    this.job = undefined;
    if (live) {
      live.retired = true;
      if (pending.length > 0) live.handle.kill();
      else live.handle.end();
    }
    const err = new Error(`${this.options.binary} batch child closed before the batch completed`);
    for (const j of pending) j.reject(err);
  }

  private startNext(): void {
    this.crashes = 0;
    this.lastSilentDeath = undefined;
    this.job = this.queue.shift();
    if (!this.job) return;
    if (this.job.lines.length === 0) return this.finish(this.job);
    this.feed(this.job);
  }

  private feed(job: Job): void {
    const live = this.live ?? this.spawnLive();
    if (!live) return;
    let text = '';
    const add = (line: string, e: Expect): void => {
      live.written += 1;
      live.expect.set(live.written, e);
      text += `${line}\n`;
    };
    for (let i = job.next; i < job.lines.length; i++) {
      add(job.lines[i]!, { kind: 'line', index: i });
      live.modifying += 1;
      if (job.careful) add(FENCE_LINE, { kind: 'fence', upTo: i + 1 });
    }
    if (!job.careful) add(FENCE_LINE, { kind: 'fence', upTo: job.lines.length });
    live.handle.write(text);
  }

  private spawnLive(): Live | undefined {
    const args = [...(this.options.prefix ?? []), '-force', '-batch', '-'];
    const live = {
      written: 0,
      modifying: 0,
      expect: new Map(),
      pending: [],
      partial: '',
      retired: false,
      answered: false,
    } as Omit<Live, 'handle'> as Live;
    this.live = live;
    this.spawned += 1;
    (live as { handle: ChildHandle }).handle = this.options.spawn(this.options.binary, args, {
      stdout: () => undefined,
      stderr: (t) => this.onStderr(live, t),
      exit: (code, error) => this.onExit(live, code, error),
    });
    // A failed start may be reported at once (through exit()): then there is no live child.
    return this.live === live ? live : undefined;
  }

  private onStderr(live: Live, text: string): void {
    const parts = (live.partial + text).split('\n');
    live.partial = parts.pop() ?? '';
    for (const raw of parts) {
      const line = raw.trim();
      if (line === '') continue;
      const m = MARKER.exec(line);
      if (!m) {
        live.pending.push(line);
        continue;
      }
      live.answered = true;
      const message = live.pending.join('; ') || 'failed';
      live.pending = [];
      const e = live.expect.get(Number(m[1]));
      live.expect.delete(Number(m[1]));
      const job = this.job;
      if (!e || !job || live !== this.live) continue;
      if (e.kind === 'line') {
        job.failures.push({
          index: e.index,
          lineNumber: e.index + 1,
          line: job.lines[e.index],
          message,
        });
        continue;
      }
      job.next = e.upTo;
      this.crashes = 0;
      if (job.next >= job.lines.length) this.finish(job);
    }
  }

  private onExit(live: Live, code: number | undefined, error?: NodeJS.ErrnoException): void {
    if (live.retired || live !== this.live) return; // a recycled or closed child finishing
    this.live = undefined;
    const job = this.job;
    if (!job || this.closed) return;
    if (error?.code === 'ENOENT') {
      const err = new IpBinaryNotFoundError(this.options.binary, { cause: error });
      for (const j of [job, ...this.queue.splice(0)]) j.reject(err);
      this.job = undefined;
      return;
    }
    const said = [...live.pending, live.partial.trim()].filter((t) => t !== '').join('; ');
    const why = said || (code === undefined ? 'killed' : `exit ${code}`);
    // Failures not yet confirmed by a fence are reported again by the replay: drop them here.
    job.failures = job.failures.filter((f) => f.index < job.next);
    // A death that names nothing, or that repeats word for word what a child that answered
    // nothing said (e.g. `Cannot open network namespace`), is no progress: back off, give up.
    // (Only deaths in careful replay count: the first death of a batch names no line.)
    const repeated = job.careful && !live.answered && said !== '' && said === this.lastSilentDeath;
    if (job.careful) this.lastSilentDeath = live.answered ? undefined : said;
    if (said === '' || repeated) this.crashes += 1;
    else this.crashes = 0;
    if (job.careful && said !== '') {
      // Every line before job.next was fenced: the first unconfirmed line is the one it died on.
      job.failures.push({
        index: job.next,
        lineNumber: job.next + 1,
        line: job.lines[job.next],
        message: `${this.options.binary} exited: ${why}`,
      });
      job.next += 1;
    }
    // Lines may have been applied, but which is unknown: replay the rest one fence per line.
    job.careful = true;
    this.logger.warn('iproute2 batch child exited mid-batch; restarting it and replaying', {
      binary: this.options.binary,
      why,
      remaining: job.lines.length - job.next,
    });
    if (this.crashes >= MAX_CRASHES) {
      for (let i = job.next; i < job.lines.length; i++)
        job.failures.push({
          index: i,
          lineNumber: i + 1,
          line: job.lines[i],
          message: `not applied: ${this.options.binary} keeps exiting (${why})`,
        });
      job.next = job.lines.length;
    }
    if (job.next >= job.lines.length) return this.finish(job);
    const delayMs = this.crashes <= 1 ? 0 : Math.min(2000, 10 * 2 ** (this.crashes - 2));
    if (delayMs === 0) return this.feed(job);
    void this.clock.sleep(delayMs).then(() => {
      if (this.job === job && !this.closed) this.feed(job);
    });
  }

  private finish(job: Job): void {
    job.resolve(
      job.failures
        .sort((a, b) => a.index - b.index)
        .map(({ lineNumber, line, message }) => ({ lineNumber, line, message })),
    );
    this.job = undefined;
    if (this.recycleRequested || (this.live && this.live.modifying >= this.recycleAfter)) {
      this.retire();
    }
    this.startNext();
  }
}
