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

class WinstonLogger implements Logger {
  constructor(
    private readonly w: winston.Logger,
    private readonly debugEnabled: boolean,
  ) {}
  debug(message: string, fields?: LogFields): void {
    // winston formats a line before its transport drops it by level: at 5000 peers the per-entry
    // debug lines of one sync cost 300+ ms of CPU, so skip them here unless -v asked for them.
    if (this.debugEnabled) this.w.debug(message, fields);
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
    return new WinstonLogger(this.w.child(fields), this.debugEnabled);
  }
}

/**
 * The agent's logger: structured lines on stderr (as upstream's klog), text or JSON. Verbosity
 * (`-v`) above 0 enables debug lines.
 */
export function createLogger(options: { format: 'text' | 'json'; verbosity: number }): Logger {
  const w = winston.createLogger({
    level: options.verbosity > 0 ? 'debug' : 'info',
    format: winston.format.combine(
      winston.format.timestamp(),
      options.format === 'json' ? winston.format.json() : textFormat,
    ),
    transports: [
      new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] }),
    ],
  });
  return new WinstonLogger(w, options.verbosity > 0);
}
