import winston from 'winston';
import type { LogFields, Logger } from '@flannel-ts/core';

function formatValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

/** `2026-11-22T07:37:19.449Z info  [lease] lease acquired subnet=10.5.3.0/24 publicIp=192.0.2.1` */
const textFormat = winston.format.printf((info) => {
  const { level, message, timestamp, component, ...fields } = info as Record<string, unknown>;
  const tag = typeof component === 'string' ? ` [${component}]` : '';
  const extra = Object.entries(fields)
    .filter(([k]) => typeof k === 'string')
    .map(([k, v]) => ` ${k}=${formatValue(v)}`)
    .join('');
  return `${String(timestamp)} ${String(level).padEnd(5)}${tag} ${String(message)}${extra}`;
});

/**
 * What `-v` shows (upstream: klog verbosity; its docs say use 10 for everything):
 * - 0: what upstream logs at info: start-up, the lease, the first programming, repairs, failures
 *   and recoveries, shutdown (levels info, warn, error);
 * - 1 to 3: adds debug: lease events, each data-plane pass, retries, etcd reconnects;
 * - 4 and above: adds trace: every kernel entry changed, iproute2 and monitor detail.
 */
export const VERBOSITY = { debug: 1, trace: 4 } as const;

const LEVELS = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 };

class WinstonLogger implements Logger {
  constructor(
    private readonly w: winston.Logger,
    private readonly verbosity: number,
  ) {}
  trace(message: string, fields?: LogFields): void {
    // winston formats a line before its transport drops it by level: at 5000 peers the per-entry
    // lines of one sync cost 300+ ms of CPU, so skip them here unless -v asked for them.
    if (this.verbosity >= VERBOSITY.trace) this.w.log('trace', message, fields);
  }
  debug(message: string, fields?: LogFields): void {
    if (this.verbosity >= VERBOSITY.debug) this.w.debug(message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.w.info(message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.w.warn(message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.w.error(message, fields);
  }
  child(fields: LogFields): Logger {
    return new WinstonLogger(this.w.child(fields), this.verbosity);
  }
}

/** The agent's logger: structured lines on stderr (as upstream's klog), text or JSON, graded by `-v`. */
export function createLogger(options: {
  format: 'text' | 'json';
  verbosity: number;
  /** Where lines go instead of stderr (tests). */
  stream?: NodeJS.WritableStream;
}): Logger {
  const w = winston.createLogger({
    levels: LEVELS,
    level: 'trace',
    format: winston.format.combine(
      winston.format.timestamp(),
      options.format === 'json' ? winston.format.json() : textFormat,
    ),
    transports: [
      options.stream
        ? new winston.transports.Stream({ stream: options.stream })
        : new winston.transports.Console({ stderrLevels: Object.keys(LEVELS) }),
    ],
  });
  return new WinstonLogger(w, options.verbosity);
}
