import { createHash } from 'node:crypto';
import type { OpFailure } from '../engine/kernel-table';
import type { WgPeerEntry } from '../kernel-state';
import type { WgTools } from './wg-tools';
import { WgCommandError } from './wg-tools';

/** A change to one WireGuard peer. */
export type WgPeerOp =
  | { readonly op: 'replace-wgpeer'; readonly entry: WgPeerEntry }
  | { readonly op: 'delete-wgpeer'; readonly entry: WgPeerEntry };

/** Applies WireGuard peer ops and reads the peers back (the kernel table's seam for this kind). */
export interface WgPeerRunner {
  /** Applies the ops, each by itself; resolves with those `wg` refused. */
  apply(ops: readonly WgPeerOp[], signal?: AbortSignal): Promise<OpFailure[]>;
  /** Every peer of `devices` (all of them are ours); a device that is missing has none. */
  read(devices: readonly string[], signal?: AbortSignal): Promise<WgPeerEntry[]>;
}

/** The fingerprint an entry carries for a preshared key: never the key, '' for none. */
export function pskFingerprint(psk: string | undefined): string {
  if (psk === undefined || psk === '') return '';
  return createHash('sha256').update(psk).digest('hex').slice(0, 16);
}

/** The `wg` arguments for one op (after `wg`); the preshared key, if any, comes on stdin. */
export function wgPeerArgs(o: WgPeerOp): string[] {
  const e = o.entry;
  if (o.op === 'delete-wgpeer') return ['set', e.dev, 'peer', e.publicKey, 'remove'];
  return [
    'set',
    e.dev,
    'peer',
    e.publicKey,
    'endpoint',
    e.endpoint,
    'allowed-ips',
    e.allowedIps,
    'persistent-keepalive',
    e.keepalive > 0 ? String(e.keepalive) : 'off',
    // A preshared key comes from a file: stdin when we have one, /dev/null to remove one.
    'preshared-key',
    e.psk === '' ? '/dev/null' : '/dev/stdin',
  ];
}

/** The op as text for messages and logs (the preshared key is never in it). @internal */
export function wgPeerLine(o: WgPeerOp): string {
  return wgPeerArgs(o).join(' ');
}

/** `0` for `off`, else the number of seconds. */
const keepaliveOf = (text: string): number => (text === 'off' ? 0 : Number(text) || 0);

/** Sorted, comma-joined: the form entries compare in. */
export const joinAllowedIps = (ips: readonly string[]): string => [...ips].sort().join(',');

/**
 * The peers of `wg show <dev> dump`: after the device's line, one line per peer with tab-separated
 * public key, preshared key (`(none)`), endpoint (`(none)`), allowed IPs (comma-separated or
 * `(none)`), latest handshake, rx, tx, persistent keepalive (`off` or seconds). @internal
 */
export function parseWgDump(stdout: string, dev: string): WgPeerEntry[] {
  return stdout
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '')
    .flatMap((l) => {
      const f = l.split('\t');
      if (f.length < 8) return [];
      const [publicKey, psk, endpoint, allowed, , , , keepalive] = f as [string, ...string[]];
      return [
        {
          dev,
          publicKey,
          endpoint: endpoint === '(none)' ? '' : endpoint!,
          allowedIps: allowed === '(none)' ? '' : joinAllowedIps(allowed!.split(',')),
          keepalive: keepaliveOf(keepalive!.trim()),
          psk: psk === '(none)' ? '' : pskFingerprint(psk),
        },
      ];
    });
}

const DEVICE_MISSING = /No such device|Unable to access interface|does not exist/i;

/**
 * {@link WgPeerRunner} over `wg`: one `wg set` per op (a preshared key is read from stdin, which
 * a single `wg set` can do once), the ops of a pass run one after another. `psk` is the backend's
 * `PSK` option.
 */
export function createWgPeerRunner(tools: WgTools, psk?: string): WgPeerRunner {
  return {
    async apply(ops, signal) {
      const failures: OpFailure[] = [];
      for (const op of ops) {
        try {
          const input =
            op.op === 'replace-wgpeer' && op.entry.psk !== '' ? `${psk ?? ''}\n` : undefined;
          await tools.wg(wgPeerArgs(op), { input, signal });
        } catch (err) {
          if (!(err instanceof WgCommandError)) throw err;
          // A device that is gone says so in iproute2's words, so the data plane rebuilds it.
          const message = DEVICE_MISSING.test(err.stderr)
            ? `No such device: ${err.stderr.trim()}`
            : err.stderr.trim() || err.message;
          failures.push({ op, message });
        }
      }
      return failures;
    },
    async read(devices, signal) {
      const out = await Promise.all(
        devices.map(async (dev) => {
          try {
            return parseWgDump(await tools.wg(['show', dev, 'dump'], { signal }), dev);
          } catch (err) {
            if (err instanceof WgCommandError && DEVICE_MISSING.test(err.stderr)) return [];
            throw err;
          }
        }),
      );
      return out.flat();
    },
  };
}
