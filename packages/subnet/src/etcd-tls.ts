import { readFile } from 'node:fs/promises';
import type { Logger } from '@flannel-ts/core';
import { errorMessage } from '@flannel-ts/core';
import { StoreConfigError } from './errors';

/** Connection settings for etcd, as given on flanneld's command line. */
export interface EtcdConnectionOptions {
  readonly endpoints: readonly string[];
  readonly prefix: string;
  readonly caFile?: string | undefined;
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
}

/** TLS material for the etcd3 client, or undefined for plaintext. @internal */
export interface TlsMaterial {
  readonly rootCertificate?: Buffer | undefined;
  readonly privateKey?: Buffer | undefined;
  readonly certChain?: Buffer | undefined;
}

async function readPem(flag: string, path: string): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    throw new StoreConfigError(`cannot read ${flag} ${path}: ${errorMessage(err)}`, { cause: err });
  }
  if (!data.toString('latin1').includes('-----BEGIN')) {
    throw new StoreConfigError(`${flag} ${path} is not a PEM file (no "-----BEGIN" line)`);
  }
  return data;
}

/**
 * Decides plaintext or TLS from the endpoint schemes (as upstream's client does) and loads the PEM
 * files. Unlike upstream, `--etcd-cafile` is honoured without a client certificate (server-only TLS).
 * @internal
 */
export async function loadTls(
  options: EtcdConnectionOptions,
  logger: Logger,
): Promise<TlsMaterial | undefined> {
  const secure = options.endpoints.filter((e) => e.startsWith('https://'));
  if (secure.length > 0 && secure.length !== options.endpoints.length) {
    throw new StoreConfigError(
      `--etcd-endpoints mixes http:// and https:// (${options.endpoints.join(',')}): use one scheme`,
    );
  }
  if (Boolean(options.certFile) !== Boolean(options.keyFile)) {
    throw new StoreConfigError(
      '--etcd-certfile and --etcd-keyfile must be given together (a client certificate needs its key)',
    );
  }
  if (secure.length === 0) {
    if (options.certFile || options.caFile) {
      logger.warn('TLS files given but --etcd-endpoints use http://: connecting without TLS', {
        endpoints: options.endpoints,
      });
    } else {
      logger.warn('no certificate provided: connecting to etcd with http. This is insecure');
    }
    return undefined;
  }
  return {
    rootCertificate: options.caFile ? await readPem('--etcd-cafile', options.caFile) : undefined,
    certChain: options.certFile ? await readPem('--etcd-certfile', options.certFile) : undefined,
    privateKey: options.keyFile ? await readPem('--etcd-keyfile', options.keyFile) : undefined,
  };
}
