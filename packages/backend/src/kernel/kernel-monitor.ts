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
  /**
   * Starts the monitor processes afresh, dropping what they had not reported yet, then reports a
   * gap. For after a device was rebuilt: the backlog of the old device's flush (thousands of
   * deletions) says nothing about the new device and would only be re-applied.
   */
  restart(): void;
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
 * A {@link KernelMonitor} made of two long-lived children, `ip monitor label link route neigh`
 * (both address families; the FDB entries it also prints as neighbours are told apart by the
 * parser) and `bridge monitor fdb` (text: iproute2 ignores `-json` there). The kernel reports a change
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
      args: [...prefix, 'monitor', 'label', 'link', 'route', 'neigh'],
      parse: parseIpMonitorLine,
    },
    { binary: 'bridge', args: [...prefix, 'monitor', 'fdb'], parse: parseFdbMonitorLine },
  ] as const;

  /** The running watch's restart, if one runs. */
  let restartWatch: (() => void) | undefined;
  return {
    restart() {
      restartWatch?.();
    },
    watch(onEvent, onGap, signal) {
      return new Promise((resolve, reject) => {
        /** The live child per binary; a replaced child's late output and exit are ignored. */
        const children = new Map<string, ChildHandle>();
        const stop = (err?: Error): void => {
          signal.removeEventListener('abort', onAbort);
          restartWatch = undefined;
          for (const c of children.values()) c.kill();
          children.clear();
          if (err) reject(err);
          else resolve();
        };
        const onAbort = (): void => stop();
        const backoffs = new Map(sources.map((s) => [s.binary, new Backoff(50, 5000)] as const));
        const start = (source: (typeof sources)[number]): void => {
          const backoff = backoffs.get(source.binary)!;
          let partial = '';
          const child: ChildHandle = spawn(source.binary, source.args, {
            stdout: (text) => {
              if (children.get(source.binary) !== child) return;
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
                  start(source);
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
        restartWatch = () => {
          for (const source of sources) {
            const old = children.get(source.binary);
            children.delete(source.binary);
            old?.kill();
            start(source);
          }
          onGap();
        };
        for (const source of sources) start(source);
      });
    },
  };
}
