import { FlannelError } from '@flannel-ts/core';
import { prefixed, runProcess } from '../run-process';

/** `wg` (wireguard-tools) refused a command, or could not be run. */
export class WgCommandError extends FlannelError {
  constructor(
    readonly args: readonly string[],
    readonly stderr: string,
    readonly exitCode: number | undefined,
  ) {
    super(
      'WG_COMMAND',
      `wg ${args.join(' ')} failed (exit ${exitCode ?? 'signal'}): ${stderr.trim() || 'no error output'}`,
      { disposition: 'retry' },
    );
  }
}

/** A binary WireGuard needs is not installed. */
export class WgBinaryNotFoundError extends FlannelError {
  constructor(binary: string, pkg: string) {
    super(
      'WIREGUARD_UNAVAILABLE',
      `${binary} was not found in PATH; install it (Debian package ${pkg})`,
      { disposition: 'fatal' },
    );
  }
}

/**
 * The seam to WireGuard's userspace tools: `wg` (configure and read a device) and `wireguard-go`
 * (the userspace implementation, for hosts without the kernel module). Arguments are lists, never
 * shell text. Tests build it with a `prefix` (`nsenter --net=… --mount=… --`) to run the real
 * tools inside a throwaway network and mount namespace.
 */
export interface WgTools {
  /** Runs `wg <args>`, with `input` on stdin; resolves stdout, rejects {@link WgCommandError}. */
  wg(args: readonly string[], options?: { input?: string; signal?: AbortSignal }): Promise<string>;
  /**
   * Starts `wireguard-go <device>`, which creates the TUN device and its control socket
   * (`/var/run/wireguard/<device>.sock`) and then runs on as a daemon of its own; resolves once
   * the device exists. Rejects {@link WgBinaryNotFoundError} when it is not installed.
   */
  startUserspace(
    device: string,
    signal?: AbortSignal,
  ): Promise<{ ok: true } | { ok: false; message: string }>;
}

/** Options of {@link createWgTools}. */
export interface WgToolsOptions {
  /** Put before every command (e.g. `nsenter --net=/run/netns/x --mount=/run/x.mnt --`). */
  readonly prefix?: readonly string[] | undefined;
  /** Per command; a stuck `wg` (a control socket nobody serves) must not stall the agent. */
  readonly timeoutMs?: number | undefined;
}

const TIMEOUT_MS = 10_000;

/** The environment wireguard-go is started with: without `LOG_LEVEL` its daemon closes our pipes. */
function daemonEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.LOG_LEVEL;
  delete env.WG_PROCESS_FOREGROUND;
  return env;
}

/** {@link WgTools} running the installed binaries through {@link runProcess}. */
export function createWgTools(options: WgToolsOptions = {}): WgTools {
  const prefix = options.prefix ?? [];
  const timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
  const missing = (err: unknown): boolean => (err as { code?: unknown }).code === 'ENOENT';
  return {
    async wg(args, o = {}) {
      // `wg` reads a key "file" (`preshared-key /dev/stdin`) with fopen(), and Node's stdin pipe
      // is a socket pair on Linux, which /dev/stdin cannot open (ENXIO). With input, `cat |`
      // hands wg a real pipe; the script is fixed, the arguments stay a list ("$@").
      const [file, argv] =
        o.input === undefined
          ? prefixed(prefix, 'wg', args)
          : prefixed(prefix, 'sh', ['-c', 'cat | "$@"', 'sh', 'wg', ...args]);
      const r = await runProcess(file, argv, { input: o.input, signal: o.signal, timeoutMs }).catch(
        (err: unknown) => {
          throw missing(err) ? new WgBinaryNotFoundError('wg', 'wireguard-tools') : err;
        },
      );
      // nsenter's own "failed to execute wg: No such file" when the prefix is used.
      if (r.exitCode === 127 || /execute wg: No such file/.test(r.stderr)) {
        throw new WgBinaryNotFoundError('wg', 'wireguard-tools');
      }
      if (r.exitCode !== 0) throw new WgCommandError(args, r.stderr, r.exitCode);
      return r.stdout;
    },
    async startUserspace(device, signal) {
      const [file, argv] = prefixed(prefix, 'wireguard-go', [device]);
      const r = await runProcess(file, argv, { signal, timeoutMs, env: daemonEnv() }).catch(
        (err: unknown) => {
          throw missing(err) ? new WgBinaryNotFoundError('wireguard-go', 'wireguard-go') : err;
        },
      );
      if (r.exitCode === 127 || /execute wireguard-go: No such file/.test(r.stderr)) {
        throw new WgBinaryNotFoundError('wireguard-go', 'wireguard-go');
      }
      if (r.exitCode === 0) return { ok: true };
      // wireguard-go prints a banner on stderr on every start; its last line is the error.
      const lines = r.stderr
        .trim()
        .split('\n')
        .filter((l) => !/^[│┌└]/.test(l));
      return { ok: false, message: lines.join('; ') || `exit ${r.exitCode ?? 'signal'}` };
    },
  };
}
