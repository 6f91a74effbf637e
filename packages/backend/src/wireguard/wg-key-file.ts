import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '@flannel-ts/core';
import { FlannelError } from '@flannel-ts/core';
import { isWgKey } from './wireguard-options';

/** Upstream's key file, unless `WIREGUARD_KEY_FILE` names another. */
export const DEFAULT_WIREGUARD_KEY_FILE = '/run/flannel/wgkey';
/** Upstream's mode for the key file it writes. */
export const KEY_FILE_MODE = 0o400;

/** The key file cannot be read or holds no key. */
export class WireguardKeyError extends FlannelError {
  constructor(message: string, cause?: unknown) {
    super('WIREGUARD_KEY', message, { cause, disposition: 'fatal' });
  }
}

/** This host's WireGuard key pair, base64 as `wg` prints them. */
export interface WgKeyPair {
  readonly privateKey: string;
  readonly publicKey: string;
  /** The file the private key is in (what `wg set … private-key` reads). */
  readonly file: string;
  /** True when this call generated the key. */
  readonly created: boolean;
}

// An X25519 private key in PKCS#8 DER is this prefix and the 32 key bytes; its SPKI public key is
// a 12-byte prefix and the 32 key bytes.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** The public key of a base64 private key (Curve25519, as `wg pubkey`). */
export function publicKeyOf(privateKey: string): string {
  const der = Buffer.concat([PKCS8_PREFIX, Buffer.from(privateKey, 'base64')]);
  const pub = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }));
  return pub.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');
}

/** A new private key (OpenSSL clamps X25519 keys as `wg genkey` does). */
export function generatePrivateKey(): string {
  const { privateKey } = generateKeyPairSync('x25519');
  return privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32).toString('base64');
}

const codeOf = (err: unknown): unknown => (err as { code?: unknown }).code;

/**
 * Our private key, kept in `file` across restarts (port of upstream device.go setupKeys): read when
 * the file exists, else generated and written with mode 0400 (its directory made if need be). A
 * file that others may read or write is used, with a warning; one that cannot be read or holds no
 * key is an error naming the file (never replaced: its key may be in other hosts' configs).
 */
export async function loadOrCreateKey(file: string, logger: Logger): Promise<WgKeyPair> {
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (codeOf(err) !== 'ENOENT') {
      throw new WireguardKeyError(
        `cannot read the WireGuard key file ${file}: ${String(err)}`,
        err,
      );
    }
  }
  if (text === undefined) {
    const privateKey = generatePrivateKey();
    try {
      await mkdir(dirname(file), { recursive: true, mode: 0o755 });
      // `wx`: never overwrite a key another process wrote meanwhile.
      await writeFile(file, privateKey, { mode: KEY_FILE_MODE, flag: 'wx' });
    } catch (err) {
      if (codeOf(err) === 'EEXIST') return loadOrCreateKey(file, logger);
      throw new WireguardKeyError(
        `cannot write the WireGuard key file ${file}: ${String(err)}`,
        err,
      );
    }
    logger.info('generated a WireGuard private key', { file });
    return { privateKey, publicKey: publicKeyOf(privateKey), file, created: true };
  }
  const privateKey = text.trim();
  if (!isWgKey(privateKey)) {
    throw new WireguardKeyError(
      `the WireGuard key file ${file} holds no private key (expected 32 bytes in base64, as \`wg genkey\` prints); fix or remove it (a new key must then reach every peer through our lease)`,
    );
  }
  const mode = (await stat(file)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    logger.warn('the WireGuard key file can be read or written by others than its owner', {
      file,
      mode: `0${mode.toString(8)}`,
      expected: '0400',
    });
  }
  return { privateKey, publicKey: publicKeyOf(privateKey), file, created: false };
}
