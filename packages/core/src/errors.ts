/**
 * Base class of every error flannel-ts throws on purpose. `code` is a stable, greppable identifier;
 * `retryable` tells callers whether trying again later can succeed (etcd3's RecoverableError idea).
 */
export class FlannelError extends Error {
  readonly code: string;
  readonly retryable: boolean;

  constructor(
    code: string,
    message: string,
    options: { cause?: unknown; retryable?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** Message of any thrown value, for log fields. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
