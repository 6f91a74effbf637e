import { posix } from 'node:path';
import { Etcd3 } from 'etcd3';
import type { Namespace } from 'etcd3';
import type { LeaseAttrs, Logger, SubnetPair } from '@flannel-ts/core';
import {
  encodeLeaseAttrs,
  errorMessage,
  formatSubnetKey,
  isReservation,
  noopLogger,
} from '@flannel-ts/core';
import { createEtcdConnectionState } from './etcd-connection-state';
import { createWatchReconnectBackoff } from './etcd-watch-backoff';
import type { ConnectionStatus, EtcdConnectionState } from './etcd-connection-state';
import { StoreConfigError, StoreUnavailableError } from './errors';
import { loadTls } from './etcd-tls';
import type { EtcdConnectionOptions, TlsMaterial } from './etcd-tls';
import { skippedKey, toStoredLease } from './etcd-kv';
import { cancelWatcher, watchLeases } from './etcd-watch';
import type {
  ConfigRead,
  CreateResult,
  LeaseBatch,
  LeaseListing,
  LeaseStore,
  SkippedKey,
  StoredLease,
  UpdateResult,
} from './lease-store';

const CONFIG_KEY = 'config';
/** Leases are listed with a plain prefix read on `<prefix>/subnets` (no trailing slash), as upstream. */
export const SUBNETS_PREFIX = 'subnets';

/** Options of {@link createEtcdLeaseStore}. */
export interface EtcdLeaseStoreOptions extends EtcdConnectionOptions {
  readonly logger?: Logger;
  /** Per-call deadline for unary calls (default 10 s), so an unreachable etcd fails instead of hanging. */
  readonly callTimeoutMs?: number;
  /** Called each time etcd answers again after the connection was lost. */
  readonly onReconnect?: () => void;
}

/** The key of a lease, relative to the prefix: `subnets/10.5.34.0-24`. */
function leaseKey(subnets: SubnetPair): string {
  return `${SUBNETS_PREFIX}/${formatSubnetKey(subnets)}`;
}

/** `/coreos.com/network` + path-join semantics (duplicate and trailing slashes collapse). */
export function normalizePrefix(prefix: string): string {
  const joined = posix.join('/', prefix);
  return joined.length > 1 && joined.endsWith('/') ? joined.slice(0, -1) : joined;
}

/**
 * Creates the etcd v3 implementation of {@link LeaseStore}. Reads TLS files up front, so a bad path
 * fails here with a message naming the flag and the file.
 */
export async function createEtcdLeaseStore(options: EtcdLeaseStoreOptions): Promise<LeaseStore> {
  const logger = options.logger ?? noopLogger;
  const tls = await loadTls(options, logger);
  return new EtcdLeaseStore(options, tls, logger);
}

class EtcdLeaseStore implements LeaseStore {
  readonly description: string;
  private readonly client: Etcd3;
  private readonly ns: Namespace;
  /** Shared by all watches of this store, so an outage is logged once, not once per watch. */
  private readonly connection: EtcdConnectionState;

  connectionStatus(): ConnectionStatus {
    return this.connection.status();
  }

  constructor(
    private readonly options: EtcdLeaseStoreOptions,
    tls: TlsMaterial | undefined,
    private readonly logger: Logger,
  ) {
    const prefix = normalizePrefix(options.prefix);
    this.description = `etcd ${options.endpoints.join(',')} (prefix ${prefix})`;
    const timeout = options.callTimeoutMs ?? 10_000;
    this.client = new Etcd3({
      hosts: [...options.endpoints],
      // createSsl(undefined) means "system roots", which is what https:// without --etcd-cafile wants.
      credentials: tls as { rootCertificate: Buffer } | undefined,
      auth: options.username
        ? { username: options.username, password: options.password ?? '' }
        : undefined,
      dialTimeout: timeout,
      // Pings on the open connection: an etcd that hangs, or a path that drops packets, refuses
      // and resets nothing, and the watch would wait in silence until the lease is due for
      // renewal, hours on. A ping unanswered for 5 s closes the connection, the watch reports it
      // and reconnects. Every 10 s: etcd's default --grpc-keepalive-min-time is 5 s; pings only
      // while a call is open (the watch always is), as etcd's default policy wants.
      grpcOptions: { 'grpc.keepalive_time_ms': 10_000, 'grpc.keepalive_timeout_ms': 5_000 },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
      // Watch reconnects back off 100 ms doubling to 2 s (upstream: 5 s), so a lease put after an
      // outage arrives within ~2 s; one attempt per step (see createWatchReconnectBackoff).
      faultHandling: { watchBackoff: createWatchReconnectBackoff({ initialMs: 100, maxMs: 2000 }) },
    });
    this.ns = this.client.namespace(prefix === '/' ? '/' : `${prefix}/`);
    this.connection = createEtcdConnectionState({
      endpoints: options.endpoints,
      logger,
      ...(options.onReconnect ? { onReconnect: options.onReconnect } : {}),
    });
  }

  /** Maps etcd3 failures to our errors at the boundary; nothing above sees etcd3 classes. */
  private fail(what: string, err: unknown): never {
    const msg = errorMessage(err);
    const where = `etcd at ${this.options.endpoints.join(',')}`;
    if (/authentication failed|invalid user ID or password|permission denied/i.test(msg)) {
      throw new StoreConfigError(
        `${where} rejected ${what} for user "${this.options.username ?? ''}": ${msg} (check --etcd-username/--etcd-password)`,
        { cause: err },
      );
    }
    if (/authentication is not enabled/i.test(msg)) {
      throw new StoreConfigError(
        `${where} has authentication disabled, but --etcd-username was given: drop --etcd-username/--etcd-password or enable auth in etcd`,
        { cause: err },
      );
    }
    let hint = '';
    if (/certificate|ssl|tls|handshake|self.signed/i.test(msg)) {
      hint = this.options.caFile
        ? ` (TLS failed: check that --etcd-cafile ${this.options.caFile} signed the server certificate and that the client certificate is accepted)`
        : ' (TLS failed: pass --etcd-cafile with the CA that signed the server certificate)';
    }
    throw new StoreUnavailableError(`cannot ${what} on ${where}: ${msg}${hint}`, {
      cause: err,
    });
  }

  async getNetworkConfig(): Promise<ConfigRead> {
    try {
      const res = await this.ns.get(CONFIG_KEY).exec();
      const kv = res.kvs[0];
      const revision = res.header.revision;
      return kv
        ? { kind: 'found', text: kv.value.toString(), revision }
        : { kind: 'missing', revision };
    } catch (err) {
      this.fail('read the network config', err);
    }
  }

  async waitForConfigChange(afterRevision: string, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const start = (BigInt(afterRevision) + 1n).toString();
    const watcher = this.ns.watch().key(CONFIG_KEY).startRevision(start).watcher();
    try {
      await new Promise<void>((resolve) => {
        watcher.on('data', (res) => res.events.length > 0 && resolve());
        // Any watch error: let the caller re-read (it backs off); never hang on a broken stream.
        watcher.on('error', () => resolve());
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      await cancelWatcher(watcher);
    }
  }

  async list(): Promise<LeaseListing> {
    try {
      const res = await this.ns.getAll().prefix(SUBNETS_PREFIX).exec();
      const leases: StoredLease[] = [];
      const skipped: SkippedKey[] = [];
      for (const kv of res.kvs) {
        const r = toStoredLease(kv);
        if (r.ok) leases.push(r.lease);
        else skipped.push(skippedKey(r));
      }
      return { leases, skipped, revision: res.header.revision };
    } catch (err) {
      this.fail('list leases', err);
    }
  }

  private async grant(ttlSeconds: number): Promise<string> {
    const res = await this.client.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: 0 });
    return res.ID;
  }

  async remainingSeconds(lease: StoredLease): Promise<number | undefined> {
    if (lease.ttlLeaseId === '0') return undefined;
    try {
      const res = await this.client.leaseClient.leaseTimeToLive({ ID: lease.ttlLeaseId });
      // etcd answers TTL -1 for a lease it no longer has.
      const ttl = Number(res.TTL);
      return Number.isFinite(ttl) && ttl >= 0 ? ttl : undefined;
    } catch (err) {
      this.fail('read the TTL of the lease', err);
    }
  }

  private async revoke(leaseId: string): Promise<void> {
    // Losing a revoke only delays the TTL's own expiry; it never affects correctness.
    await this.client.leaseClient.leaseRevoke({ ID: leaseId }).catch((err: unknown) => {
      this.logger.debug('lease revoke failed', { leaseId, error: errorMessage(err) });
    });
  }

  async create(subnets: SubnetPair, attrs: LeaseAttrs, ttlSeconds: number): Promise<CreateResult> {
    const key = leaseKey(subnets);
    let leaseId: string | undefined;
    try {
      leaseId = await this.grant(ttlSeconds);
      const txn = await this.ns
        .if(key, 'Version', '==', 0)
        .then(this.ns.put(key).value(encodeLeaseAttrs(attrs)).lease(leaseId))
        .commit();
      if (!txn.succeeded) {
        await this.revoke(leaseId);
        return { kind: 'taken' };
      }
      // A write transaction's header revision is the key's new mod revision: no read-back needed.
      return {
        kind: 'created',
        lease: { subnets, attrs, ttlLeaseId: leaseId, modRevision: txn.header.revision },
      };
    } catch (err) {
      if (leaseId) await this.revoke(leaseId);
      this.fail(`create lease ${key}`, err);
    }
  }

  async update(current: StoredLease, attrs: LeaseAttrs, ttlSeconds: number): Promise<UpdateResult> {
    const key = leaseKey(current.subnets);
    const reservation = isReservation(current);
    let leaseId: string | undefined;
    try {
      leaseId = reservation ? undefined : await this.grant(ttlSeconds);
      const put = this.ns.put(key).value(encodeLeaseAttrs(attrs));
      if (leaseId) put.lease(leaseId);
      const txn = await this.ns.if(key, 'Mod', '==', current.modRevision).then(put).commit();
      if (!txn.succeeded) {
        if (leaseId) await this.revoke(leaseId);
        return { kind: 'lost' };
      }
      // The key now hangs off the new TTL; releasing the old one leaks nothing (SPEC D4).
      if (!reservation) await this.revoke(current.ttlLeaseId);
      return {
        kind: 'updated',
        lease: {
          subnets: current.subnets,
          attrs,
          ttlLeaseId: leaseId ?? '0',
          modRevision: txn.header.revision,
        },
      };
    } catch (err) {
      if (leaseId) await this.revoke(leaseId);
      this.fail(`update lease ${key}`, err);
    }
  }

  async remove(current: StoredLease): Promise<boolean> {
    const key = leaseKey(current.subnets);
    try {
      const txn = await this.ns
        .if(key, 'Mod', '==', current.modRevision)
        .then(this.ns.delete().key(key))
        .commit();
      return txn.succeeded;
    } catch (err) {
      this.fail(`delete lease ${key}`, err);
    }
  }

  watch(
    fromRevision: string,
    signal: AbortSignal,
    subnets?: SubnetPair,
  ): AsyncIterable<LeaseBatch> {
    const prefix = subnets ? leaseKey(subnets) : SUBNETS_PREFIX;
    return watchLeases({
      ns: this.ns,
      prefix,
      fromRevision,
      signal,
      logger: this.logger,
      connection: this.connection,
      relist: async () => {
        const listing = await this.list();
        const leases = listing.leases.filter(
          (l) => !subnets || formatSubnetKey(l.subnets).startsWith(formatSubnetKey(subnets)),
        );
        return { ...listing, leases };
      },
    });
  }

  close(): Promise<void> {
    this.client.close();
    return Promise.resolve();
  }
}
