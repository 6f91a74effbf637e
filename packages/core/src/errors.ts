/**
 * What should happen after an error, decided where the error is made and acted on by one place
 * only (flanneld's supervisor, and its start-up steps):
 * - `retry`: the world may change (etcd unreachable, a kernel race); try the same again with
 *   back-off, for as long as it takes;
 * - `restart`: this task's own state may be wrong (a watch that ended, an unexpected bug); start the
 *   task afresh with back-off, and give up (fatal) if it keeps failing;
 * - `fatal`: retrying cannot help (a missing binary, a lost lease, a port in use); stop the agent
 *   with the message, so the operator or the service manager acts.
 */
export type Disposition = 'retry' | 'restart' | 'fatal';

/**
 * Base class of every error flannel-ts throws on purpose. `code` is a stable, greppable identifier;
 * `disposition` says what should happen next (see {@link Disposition}; `fatal` unless said).
 */
export class FlannelError extends Error {
  readonly code: string;
  readonly disposition: Disposition;

  constructor(
    code: string,
    message: string,
    options: { cause?: unknown; retryable?: boolean; disposition?: Disposition } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.disposition = options.disposition ?? (options.retryable === true ? 'retry' : 'fatal');
  }

  /** True when trying the same again later can succeed. */
  get retryable(): boolean {
    return this.disposition === 'retry';
  }
}

/**
 * The disposition of any thrown value: a {@link FlannelError}'s own; anything else is a failure
 * nobody planned for (a bug, a library's surprise), so the task that hit it is restarted.
 */
export function dispositionOf(err: unknown): Disposition {
  return err instanceof FlannelError ? err.disposition : 'restart';
}

/** Message of any thrown value, for log fields. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
