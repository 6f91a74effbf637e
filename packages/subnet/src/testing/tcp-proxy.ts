import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

/**
 * A loopback TCP proxy in front of a server, for outage tests (the etcd3 library tests lease loss
 * the same way). `cut()` closes every connection and stops listening, so new connections are
 * refused as by a host whose etcd is down; `restore()` listens on the same port again. `freeze()`
 * stops moving bytes while every connection stays open and new ones are accepted, as with an etcd
 * that hangs (SIGSTOP, a full disk) or a path that drops packets; `thaw()` delivers what waited.
 */
export interface TcpProxy {
  /** `http://127.0.0.1:<port>` of the proxy. */
  readonly endpoint: string;
  cut(): Promise<void>;
  restore(): Promise<void>;
  freeze(): void;
  thaw(): void;
  close(): Promise<void>;
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}

/** Starts a proxy to `target` (`http://host:port`) on a free loopback port. */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const url = new URL(target);
  const sockets = new Set<Socket>();
  let frozen = false;
  const track = (s: Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    // Paused sockets read nothing: bytes wait in the kernel, as for a process that hangs.
    if (frozen) s.pause();
  };
  const newServer = (): Server =>
    createServer((client) => {
      const upstream = createConnection(Number(url.port), url.hostname);
      track(client);
      track(upstream);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      // By hand, not pipe(): pipe() resumes a paused source on 'drain', which would thaw it.
      client.on('data', (d: Buffer) => upstream.write(d));
      upstream.on('data', (d: Buffer) => client.write(d));
      client.on('end', () => upstream.end());
      upstream.on('end', () => client.end());
    });
  let server: Server | undefined = newServer();
  const port = await listen(server, 0);
  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    cut: stop,
    async restore() {
      if (server) return;
      server = newServer();
      await listen(server, port);
    },
    close: stop,
    freeze() {
      frozen = true;
      for (const sock of sockets) sock.pause();
    },
    thaw() {
      frozen = false;
      for (const sock of sockets) sock.resume();
    },
  };
}
