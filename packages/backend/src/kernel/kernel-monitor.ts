import type { Clock, Logger } from '@flannel-ts/core';
import { Backoff, noopLogger, systemClock } from '@flannel-ts/core';
import { IpBinaryNotFoundError } from '../ip-runner';
import { createSpawnChild } from './child-process';
import type { ChildHandle, SpawnChild } from './child-process';
import { parseFdbMonitorLine, parseIpMonitorLine } from './monitor-parse';
import type { MonitorEvent } from './monitor-parse';

/** Streams what changes in the kernel's links, routes, neighbours and FDB. */
export interface KernelMonitor {
  /**
   * Calls `onEvent` for every change until `signal` aborts. `onGap` is called when events may have
   * been missed (a monitor process died and was restarted): whoever relies on the stream should
   * then read the kernel once. Rejects only when iproute2 is missing.
   */
  watch(
    onEvent: (event: MonitorEvent) => void,
    onGap: () => void,
    signal: AbortSignal,
  ): Promise<void>;
}

/** Options of {@link createIproute2Monitor}. */
export interface Iproute2MonitorOptions {
  readonly netns?: string;
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** @internal Replaces process spawning (unit tests). */
  readonly spawn?: SpawnChild;
}

/**
 * A {@link KernelMonitor} made of two long-lived children, `ip -4 monitor label link route neigh`
 * and `bridge monitor fdb` (text: iproute2 ignores `-json` there). The kernel reports a change
 * within a fraction of a millisecond, which is what lets the data plane repair an entry someone
 * deleted at once instead of at the next full pass. A child that dies is restarted with back-off.
 */
export function createIproute2Monitor(options: Iproute2MonitorOptions = {}): KernelMonitor {
  const prefix = options.netns === undefined ? [] : ['-n', options.netns];
  const spawn = options.spawn ?? createSpawnChild();
  const logger = options.logger ?? noopLogger;
  const clock = options.clock ?? systemClock;
  const sources = [
    {
      binary: 'ip',
      args: [...prefix, '-4', 'monitor', 'label', 'link', 'route', 'neigh'],
      parse: parseIpMonitorLine,
    },
    { binary: 'bridge', args: [...prefix, 'monitor', 'fdb'], parse: parseFdbMonitorLine },
  ] as const;

  return {
    watch(onEvent, onGap, signal) {
      return new Promise((resolve, reject) => {
        const children = new Map<string, ChildHandle>();
        const stop = (err?: Error): void => {
          signal.removeEventListener('abort', onAbort);
          for (const c of children.values()) c.kill();
          children.clear();
          if (err) reject(err);
          else resolve();
        };
        const onAbort = (): void => stop();
        const start = (source: (typeof sources)[number], backoff: Backoff): void => {
          let partial = '';
          const child = spawn(source.binary, source.args, {
            stdout: (text) => {
              backoff.reset();
              const lines = (partial + text).split('\n');
              partial = lines.pop() ?? '';
              for (const line of lines) {
                const event = source.parse(line);
                if (event) onEvent(event);
              }
            },
            stderr: (text) => logger.debug('monitor stderr', { binary: source.binary, text }),
            exit: (code, error) => {
              if (signal.aborted || children.get(source.binary) !== child) return;
              children.delete(source.binary);
              if (error?.code === 'ENOENT') {
                stop(new IpBinaryNotFoundError(source.binary, { cause: error }));
                return;
              }
              const delayMs = backoff.next();
              logger.warn('kernel monitor exited; restarting it', {
                binary: source.binary,
                status: code ?? 'killed',
                delayMs,
              });
              clock.sleep(delayMs, signal).then(
                () => {
                  start(source, backoff);
                  onGap();
                },
                () => undefined,
              );
            },
          });
          if (!signal.aborted) children.set(source.binary, child);
          else child.kill();
        };
        if (signal.aborted) return resolve();
        signal.addEventListener('abort', onAbort, { once: true });
        for (const source of sources) start(source, new Backoff(50, 5000));
      });
    },
  };
}
