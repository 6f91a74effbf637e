import { request } from 'node:http';
import { errorMessage } from '@flannel-ts/core';
import type { AgentStatus } from './status-model';

/** What asking a running agent for `GET /status` gave. */
export type AgentAnswer =
  | { readonly kind: 'status'; readonly url: string; readonly status: AgentStatus }
  /** Nothing answered (refused, timed out): there is no agent on that port. */
  | { readonly kind: 'unreachable'; readonly url: string; readonly error: string }
  /** Something answered, but not with a status document (another program, an older agent). */
  | { readonly kind: 'unexpected'; readonly url: string; readonly error: string };

/** Options of {@link fetchAgentStatus}. */
export interface AgentClientOptions {
  /** `--healthz-ip`; the wildcard addresses are asked on loopback. */
  readonly healthzIp: string;
  readonly port: number;
  /** For the whole exchange, connect to last byte (default 2000). */
  readonly timeoutMs?: number;
}

/** The most of an answer read; a status document of thousands of peers is far smaller. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

/**
 * Where to reach an agent listening on `healthzIp`: an agent bound to every address (`0.0.0.0`,
 * `::`, upstream's default) is asked on loopback.
 */
export function agentHost(healthzIp: string): string {
  if (healthzIp === '0.0.0.0' || healthzIp === '') return '127.0.0.1';
  if (healthzIp === '::') return '::1';
  return healthzIp;
}

/** The URL of the agent's status document, for messages and the request. */
export function agentStatusUrl(options: AgentClientOptions): string {
  const host = agentHost(options.healthzIp);
  return `http://${host.includes(':') ? `[${host}]` : host}:${options.port}/status`;
}

/**
 * Asks the agent on its health port for `GET /status`, within a short timeout. Never throws: a
 * refused connection or a timeout is `unreachable`; a non-200 answer or a body that is not a
 * status document is `unexpected`, with what was wrong.
 */
export function fetchAgentStatus(options: AgentClientOptions): Promise<AgentAnswer> {
  const url = agentStatusUrl(options);
  const timeoutMs = options.timeoutMs ?? 2000;
  return new Promise((resolve) => {
    const signal = AbortSignal.timeout(timeoutMs);
    const req = request(url, { signal, headers: { accept: 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          req.destroy();
          resolve({ kind: 'unexpected', url, error: `answer larger than ${MAX_BODY_BYTES} bytes` });
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (err) => resolve(failed(url, err, signal, timeoutMs)));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) {
          const text = body.trim().split('\n')[0]?.slice(0, 120) ?? '';
          const error = `HTTP ${res.statusCode ?? '?'}${text === '' ? '' : `: ${text}`}`;
          resolve({ kind: 'unexpected', url, error });
          return;
        }
        const status = parseAgentStatus(body);
        resolve(
          typeof status === 'string'
            ? { kind: 'unexpected', url, error: status }
            : { kind: 'status', url, status },
        );
      });
    });
    req.on('error', (err) => resolve(failed(url, err, signal, timeoutMs)));
    req.end();
  });
}

function failed(url: string, err: unknown, signal: AbortSignal, timeoutMs: number): AgentAnswer {
  const error = signal.aborted ? `no answer within ${timeoutMs} ms` : errorMessage(err);
  return { kind: 'unreachable', url, error };
}

/**
 * Reads a `/status` body: JSON with the fields every {@link AgentStatus} has. Returns what is
 * wrong when it is not one (so the caller can say why it read the sources itself instead).
 */
export function parseAgentStatus(body: string): AgentStatus | string {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return `not JSON: ${JSON.stringify(body.slice(0, 60))}`;
  }
  const v = value as Partial<Record<keyof AgentStatus, unknown>> | null;
  if (typeof v !== 'object' || v === null) return 'not a JSON object';
  const missing = [
    v.source === 'agent' || v.source === 'direct' ? undefined : 'source',
    Array.isArray(v.peers) ? undefined : 'peers',
    isObject(v.etcd) ? undefined : 'etcd',
    isObject(v.traffic) ? undefined : 'traffic',
    isObject(v.subnetFile) ? undefined : 'subnetFile',
  ].filter((f) => f !== undefined);
  if (missing.length > 0) return `not a status document (missing or wrong: ${missing.join(', ')})`;
  return value as AgentStatus;
}

function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
