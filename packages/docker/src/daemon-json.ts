import { readFile } from 'node:fs/promises';
import { FlannelError, errorMessage } from '@flannel-ts/core';
import { writeFileAtomic } from './subnet-file';

/** What flannel sets in dockerd's configuration. */
export interface BridgeSettings {
  /**
   * docker0's address with prefix: the subnet's first host, e.g. `10.5.3.1/24` (FLANNEL_SUBNET).
   * Empty on an IPv6-only host: `bip` is then left as it is.
   */
  readonly bip: string;
  /**
   * Our IPv6 subnet in network form (`fd00:42:0:7::/64`, from FLANNEL_IPV6_SUBNET) when IPv6 is
   * enabled: sets `"ipv6": true` and `"fixed-cidr-v6"`, so containers get addresses from it.
   */
  readonly fixedCidrV6?: string | undefined;
  readonly mtu: number;
  /** False when flannel masquerades (`--ip-masq`), so Docker does not masquerade a second time. */
  readonly ipMasq: boolean;
}

/** The existing daemon.json is not a JSON object; it was left untouched. */
export class DaemonJsonError extends FlannelError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('DAEMON_JSON', message, options);
  }
}

/**
 * Merges `bip`, `mtu` and `ip-masq` (and with IPv6 `ipv6` and `fixed-cidr-v6`) into dockerd's
 * daemon.json text, keeping every other key and
 * the order of existing keys. Pure. Undefined text means no file yet. Malformed JSON throws
 * (the caller leaves the file as it is).
 */
export function mergeDaemonJson(
  text: string | undefined,
  settings: BridgeSettings,
  path = 'daemon.json',
): string {
  let config: Record<string, unknown> = {};
  if (text !== undefined && text.trim() !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new DaemonJsonError(
        `${path} is not valid JSON (${errorMessage(err)}); left it untouched: fix it, then restart flanneld`,
        { cause: err },
      );
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new DaemonJsonError(`${path} is not a JSON object; left it untouched`);
    }
    config = parsed as Record<string, unknown>;
  }
  if (typeof config['bridge'] === 'string' && config['bridge'] !== '') {
    throw new DaemonJsonError(
      `${path} sets "bridge": ${JSON.stringify(config['bridge'])}, which dockerd refuses together with "bip"; remove it (flannel configures docker0 through "bip")`,
    );
  }
  const merged = {
    ...config,
    ...(settings.bip === '' ? {} : { bip: settings.bip }),
    mtu: settings.mtu,
    'ip-masq': settings.ipMasq,
    ...(settings.fixedCidrV6 === undefined
      ? {}
      : { ipv6: true, 'fixed-cidr-v6': settings.fixedCidrV6 }),
  };
  return `${JSON.stringify(merged, null, 2)}\n`;
}

/**
 * Reads, merges and atomically rewrites daemon.json. Returns true when the file changed (dockerd
 * must be restarted to pick it up), false when it already had these settings.
 */
export async function updateDaemonJson(path: string, settings: BridgeSettings): Promise<boolean> {
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new DaemonJsonError(`cannot read ${path}: ${errorMessage(err)}`, { cause: err });
    }
  }
  const merged = mergeDaemonJson(text, settings, path);
  if (text !== undefined && JSON.stringify(JSON.parse(text)) === JSON.stringify(JSON.parse(merged)))
    return false;
  await writeFileAtomic(path, merged, 0o644);
  return true;
}
