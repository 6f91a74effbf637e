import type { LogFields, Logger } from '../logger';

/** One captured log line. */
export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly message: string;
}

/**
 * A {@link Logger} for tests that keeps every line (children share the lists): `lines` holds level
 * and message, `fields` the structured fields of the same line (same index).
 */
export type RecordingLogger = Logger & {
  readonly lines: LogLine[];
  readonly fields: (LogFields | undefined)[];
};

/** Creates a {@link RecordingLogger}. */
export function createRecordingLogger(): RecordingLogger {
  const lines: LogLine[] = [];
  const fieldList: (LogFields | undefined)[] = [];
  const at =
    (level: LogLine['level']) =>
    (message: string, fields?: LogFields): void => {
      lines.push({ level, message });
      fieldList.push(fields);
    };
  const logger: RecordingLogger = {
    // Detail below debug; tests that leave debug out leave it out too.
    trace: at('debug'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
    lines,
    fields: fieldList,
  };
  return logger;
}

/**
 * Polls `cond` (which may be async) every `pollMs` until it holds; rejects naming `what` after
 * `timeoutMs`. Resolves to how long it took, for tests that bound a recovery time.
 */
export async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
  pollMs = 10,
): Promise<number> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return Date.now() - start;
}
