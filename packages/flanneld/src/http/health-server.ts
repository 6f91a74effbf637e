import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FlannelError, errorMessage } from '@flannel-ts/core';
import type { Logger } from '@flannel-ts/core';

/** What one endpoint answers. */
export interface Reply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** Path → handler; anything else is 404. */
export type Routes = Readonly<Record<string, () => Reply | Promise<Reply>>>;

/** Options of {@link listenHealthServer}. */
export interface HealthServerOptions {
  /** `--healthz-ip`. */
  readonly ip: string;
  /** `--healthz-port` (> 0; 0 means no server, decided by the caller). */
  readonly port: number;
  readonly routes: Routes;
  readonly logger: Logger;
}

/** A listening health server. */
export interface HealthServer {
  /** The port it listens on (the one asked for; tests may ask for an ephemeral one). */
  readonly port: number;
  /** Resolves when the server stops by itself (it should not): the supervisor restarts it. */
  readonly closed: Promise<void>;
  /** Stops listening; open connections get `graceMs` to finish (upstream: 3 s), then are cut. */
  close(graceMs?: number): Promise<void>;
}

/** How `--healthz-ip`/`--healthz-port` were written, for messages. */
const where = (ip: string, port: number): string =>
  `${ip.includes(':') ? `[${ip}]` : ip}:${port} (--healthz-ip/--healthz-port)`;

/**
 * Starts the HTTP server of `/healthz`, `/readyz`, `/metrics` and `/status`. Resolves once it
 * listens; a port in use or an address this host does not have is a fatal error naming it (upstream
 * panics; a silently missing endpoint would leave probes failing with "connection refused").
 */
export function listenHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const { ip, port, routes, logger } = options;
  const server = createServer((req, res) => void answer(routes, req, res, logger));
  // A probe that opens a connection and stays silent must not hold the server.
  server.requestTimeout = 10_000;
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(listenError(err, ip, port));
    };
    server.once('error', onError);
    server.listen({ host: ip, port }, () => {
      server.removeListener('error', onError);
      const closed = new Promise<void>((done) => server.once('close', () => done()));
      server.on('error', (err) => logger.error('health server error', { error: err.message }));
      const actual = (server.address() as AddressInfo).port;
      logger.info('health server listening', {
        address: ip,
        port: actual,
        paths: Object.keys(routes).join(' '),
      });
      resolve({ port: actual, closed, close: (graceMs) => closeServer(server, graceMs ?? 3000) });
    });
  });
}

function listenError(err: NodeJS.ErrnoException, ip: string, port: number): FlannelError {
  const at = where(ip, port);
  if (err.code === 'EADDRINUSE') {
    return new FlannelError(
      'HEALTHZ_PORT_IN_USE',
      `cannot serve health checks on ${at}: the port is already in use by another process; choose another --healthz-port or stop that process`,
      { cause: err },
    );
  }
  if (err.code === 'EADDRNOTAVAIL') {
    return new FlannelError(
      'HEALTHZ_ADDRESS',
      `cannot serve health checks on ${at}: this host has no such address; set --healthz-ip to one of its addresses, or 0.0.0.0`,
      { cause: err },
    );
  }
  return new FlannelError(
    'HEALTHZ_LISTEN',
    `cannot serve health checks on ${at}: ${errorMessage(err)}`,
    { cause: err },
  );
}

async function answer(
  routes: Routes,
  req: IncomingMessage,
  res: ServerResponse,
  logger: Logger,
): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
  let reply: Reply;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    reply = { status: 405, contentType: 'text/plain', body: 'method not allowed: use GET\n' };
  } else if (!route) {
    reply = {
      status: 404,
      contentType: 'text/plain',
      body: `not found; try ${Object.keys(routes).join(', ')}\n`,
    };
  } else {
    try {
      reply = await route();
    } catch (err) {
      logger.error('health endpoint failed', { path, error: errorMessage(err) });
      reply = { status: 500, contentType: 'text/plain', body: `${errorMessage(err)}\n` };
    }
  }
  res.writeHead(reply.status, {
    'Content-Type': reply.contentType,
    'Content-Length': Buffer.byteLength(reply.body),
  });
  res.end(req.method === 'HEAD' ? undefined : reply.body);
}

function closeServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const cut = setTimeout(() => server.closeAllConnections(), graceMs);
    cut.unref();
    server.close(() => {
      clearTimeout(cut);
      resolve();
    });
    server.closeIdleConnections();
  });
}
