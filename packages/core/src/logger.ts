/** Structured fields attached to a log line. */
export type LogFields = Readonly<Record<string, unknown>>;

/**
 * The logging seam library packages write to. Only flanneld creates a real logger (winston); the
 * default everywhere else is {@link noopLogger}, so libraries stay silent unless wired.
 */
export interface Logger {
  /** Per-entry detail (each kernel entry changed, each iproute2 line): shown at `-v 4` and above. */
  trace(message: string, fields?: LogFields): void;
  /** What the agent does (lease events, passes, retries): shown at `-v 1` and above. */
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` (e.g. `{ component: 'lease' }`) to every line. */
  child(fields: LogFields): Logger;
}

/** A logger that drops everything. */
export const noopLogger: Logger = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => noopLogger,
};
