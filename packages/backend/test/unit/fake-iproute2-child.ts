import type { ChildHandle, ChildListeners, SpawnChild } from '@flannel-ts/backend';

/** What one spawned child does besides behaving like `ip -force -batch -`. */
export interface FakeChildScript {
  /** Dies (killed: exit code undefined, no output) on receiving its k-th line, before running it. */
  readonly killOnLine?: number;
  /** Prints this and exits 255 before running any line (e.g. a missing network namespace). */
  readonly cannotStart?: string;
  /** The binary is missing: the start fails with ENOENT and the child never runs. */
  readonly missingBinary?: boolean;
}

/** The message iproute2 6.1 prints for `route replace 10.0.0.0/24 garbage` before it exits. */
export const ARGUMENT_ERROR = 'Error: either "to" is duplicate, or "garbage" is a garbage.';
/** What the kernel answers to a delete of an entry that is not there. */
export const NO_SUCH_PROCESS = 'RTNETLINK answers: No such process';

/**
 * One fake `ip -force -batch -` process, as iproute2 6.1 behaves: it numbers every line it reads
 * over its whole life, answers a failing line with its message(s) then `Command failed -:N` on
 * stderr, keeps going after a kernel error, and exits with status 255 (no marker, the rest of the
 * input unread) on an argument error. Output and exit arrive asynchronously, in order.
 */
export class FakeIproute2Child implements ChildHandle {
  readonly pid: number;
  /** Every line written to stdin, in order (including lines it never got to run). */
  readonly received: string[] = [];
  /** Every line it ran (read and acted on), in order. */
  readonly ran: string[] = [];
  /** Each `write()` call's text, in order. */
  readonly writes: string[] = [];
  stdinClosed = false;
  killed = false;
  /** Set once it has exited: the status (undefined when killed or never started). */
  exit: { code: number | undefined } | undefined;
  private lineNumber = 0;
  private partial = '';

  constructor(
    private readonly owner: FakeIproute2,
    readonly binary: string,
    readonly args: readonly string[],
    private readonly listeners: ChildListeners,
    private readonly script: FakeChildScript,
  ) {
    this.pid = 1000 + owner.children.length;
    if (script.missingBinary) {
      const error = Object.assign(new Error(`spawn ${binary} ENOENT`), {
        code: 'ENOENT',
      }) as NodeJS.ErrnoException;
      this.later(() => this.finish(undefined, error));
    }
  }

  write(text: string): void {
    if (this.exit || this.stdinClosed) return;
    this.writes.push(text);
    const parts = (this.partial + text).split('\n');
    this.partial = parts.pop() ?? '';
    this.received.push(...parts);
    this.later(() => parts.forEach((line) => this.runLine(line)));
  }

  end(): void {
    if (this.stdinClosed) return;
    this.stdinClosed = true;
    // iproute2 finishes what it has read, then exits 0 (or 1 if a line failed; nobody looks).
    this.later(() => this.finish(0));
  }

  kill(): void {
    if (this.exit) return;
    this.killed = true;
    this.later(() => this.finish(undefined));
  }

  private runLine(line: string): void {
    if (this.exit || this.killed) return;
    this.lineNumber += 1;
    if (this.script.cannotStart !== undefined) {
      this.stderr(this.script.cannotStart);
      return this.finish(255);
    }
    if (this.script.killOnLine === this.lineNumber) {
      this.killed = true;
      return this.finish(undefined);
    }
    this.ran.push(line);
    const n = this.lineNumber;
    const words = line.split(' ');
    if (line.includes('garbage')) {
      this.stderr(ARGUMENT_ERROR);
      return this.finish(255);
    }
    const [object, verb, key] = words;
    if (verb === 'show') {
      const dev = words[words.indexOf('dev') + 1] ?? '';
      if (dev.includes('/'))
        this.stderr(`Device "${dev}" does not exist.`, `Command failed -:${n}`);
      return;
    }
    const id = `${object} ${key}`;
    if (verb === 'replace') {
      this.owner.kernel.add(id);
      this.owner.applied.push(line);
    } else if (verb === 'del') {
      if (!this.owner.kernel.delete(id))
        return this.stderr(NO_SUCH_PROCESS, `Command failed -:${n}`);
      this.owner.applied.push(line);
    } else {
      this.stderr(`Object "${object}" is unknown, try "ip help".`);
      this.finish(255);
    }
  }

  private stderr(...lines: string[]): void {
    const text = lines.map((l) => `${l}\n`).join('');
    const size = this.owner.stderrChunkChars;
    // A pipe hands text over in chunks that need not end at a line break.
    for (let i = 0; i < text.length; i += size) this.listeners.stderr(text.slice(i, i + size));
  }

  private finish(code: number | undefined, error?: NodeJS.ErrnoException): void {
    if (this.exit) return;
    this.exit = { code };
    this.listeners.exit(code, error);
  }

  /** Runs `fn` after the caller has returned, in call order (like events from a real process). */
  private later(fn: () => void): void {
    setImmediate(fn);
  }
}

/**
 * A scripted {@link SpawnChild} standing in for iproute2: every child it starts shares one fake
 * kernel, a set of `object key` ids (`route 10.5.2.0/24`) that `… replace KEY …` adds and
 * `… del KEY …` removes (or fails on with {@link NO_SUCH_PROCESS} when absent). A line containing
 * `garbage` is an argument error. Records every child and every line applied, across children.
 */
export class FakeIproute2 {
  readonly children: FakeIproute2Child[] = [];
  /** The fake kernel: ids of the entries present. */
  readonly kernel = new Set<string>();
  /** Every modifying line that took effect, in order, over all children. */
  readonly applied: string[] = [];
  /** Size of the stderr chunks handed to the listener (large: one chunk per answer). */
  stderrChunkChars = 1 << 20;

  /** `script(i)` says how the i-th child (0-based) misbehaves. */
  constructor(private readonly script: (index: number) => FakeChildScript = () => ({})) {}

  readonly spawn: SpawnChild = (binary, args, listeners) => {
    const child = new FakeIproute2Child(
      this,
      binary,
      args,
      listeners,
      this.script(this.children.length),
    );
    this.children.push(child);
    return child;
  };

  /** The child started `i`-th (0-based); throws when there is none, so a test fails clearly. */
  child(i: number): FakeIproute2Child {
    const c = this.children[i];
    if (!c) throw new Error(`no child #${i} was started (${this.children.length} were)`);
    return c;
  }
}
