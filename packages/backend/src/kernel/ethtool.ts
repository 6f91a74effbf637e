import { FlannelError } from '@flannel-ts/core';
import { prefixed, runProcess } from '../run-process';

/** Turns offload features of a network device on or off (`ethtool -K`). */
export interface DeviceFeatures {
  set(device: string, feature: string, on: boolean, signal?: AbortSignal): Promise<void>;
}

/** Options of {@link createEthtool}. */
export interface EthtoolOptions {
  /** Run through this command (`['ip', 'netns', 'exec', ns]`), for tests in a namespace. */
  readonly prefix?: readonly string[];
  readonly timeoutMs?: number;
}

/**
 * {@link DeviceFeatures} through the `ethtool` binary (Debian package `ethtool`). Node has no
 * ioctl and iproute2 sets no offload feature, so a device's features take one process each; the
 * agent sets them only when it creates a device or starts, never per peer.
 */
export function createEthtool(options: EthtoolOptions = {}): DeviceFeatures {
  const prefix = options.prefix ?? [];
  return {
    async set(device, feature, on, signal) {
      const args = ['-K', device, feature, on ? 'on' : 'off'];
      const [file, argv] = prefixed(prefix, 'ethtool', args);
      const r = await runProcess(file, argv, {
        signal,
        timeoutMs: options.timeoutMs ?? 10_000,
      }).catch((err: unknown) => {
        throw (err as { code?: unknown }).code === 'ENOENT' ? ethtoolMissing() : err;
      });
      // 127: the prefix's shell or `ip netns exec` found no ethtool.
      if (r.exitCode === 127 || /execute ethtool: No such file/.test(r.stderr))
        throw ethtoolMissing();
      if (r.exitCode !== 0) {
        throw new FlannelError(
          'ETHTOOL',
          `ethtool ${args.join(' ')} failed (exit ${r.exitCode ?? r.signal ?? 'unknown'}): ${oneLine(r.stderr) || oneLine(r.stdout)}`,
          { retryable: true },
        );
      }
    },
  };
}

/** Output lines joined with `; `, for a one-line log. */
const oneLine = (text: string): string => text.trim().split('\n').join('; ');

function ethtoolMissing(): FlannelError {
  return new FlannelError(
    'ETHTOOL',
    'ethtool is not installed: install it (Debian package ethtool) to set offload features of the VXLAN device',
  );
}
