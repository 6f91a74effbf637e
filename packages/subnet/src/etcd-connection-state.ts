import type { Clock, Logger } from '@flannel-ts/core';
import { errorMessage, systemClock } from '@flannel-ts/core';

/** Options of {@link createEtcdConnectionState}. */
export interface EtcdConnectionStateOptions {
  /** The endpoints the store connects to, named in the "unreachable" line. */
  readonly endpoints: readonly string[];
  readonly logger: Logger;
  readonly clock?: Clock;
  /**
   * Groups the failures one broken connection reports (etcd3 tells every watch of a stream, and
   * twice: on its error and on its end) into one attempt. Default: until the event loop's next
   * turn (`setImmediate`). Tests of the counting pass their own.
   */
  readonly nextTurn?: (fn: () => void) => void;
  /** Called each time etcd answers again after the connection was lost (a metric's counter). */
  readonly onReconnect?: () => void;
  /**
   * How long a lost connection may take to come back before it is an outage, even if no second
   * attempt has failed yet: a reconnect to an etcd that hangs (or over a path that drops packets)
   * neither fails nor succeeds. Default 10 s.
   */
  readonly outageGraceMs?: number;
}

/** What {@link EtcdConnectionState.status} tells: for readiness and `flanneld status`. */
export interface ConnectionStatus {
  readonly reachable: boolean;
  /** Since when (clock ms) it is unreachable; absent while reachable. */
  readonly sinceMs?: number;
  /** The error that started the outage; absent while reachable. */
  readonly lastError?: string;
}

/**
 * Whether one store's etcd is reachable, fed by everything that talks to it (its watches, its
 * re-lists). It alone logs about the connection, and only on transitions: one warning when etcd
 * becomes unreachable (the endpoints and the error), one line when it is back (how long it was
 * away, how many attempts failed meanwhile); nothing per retry. A connection dropped and re-made
 * at the first try, within the grace period, is no outage: it is logged at debug only.
 */
export interface EtcdConnectionState {
  /** A call or stream failed because etcd could not be reached. */
  failed(err: unknown): void;
  /** A call or stream got an answer from etcd. */
  succeeded(): void;
  /** False from the first failure until the next success. */
  readonly reachable: boolean;
  status(): ConnectionStatus;
}

interface Outage {
  readonly sinceMs: number;
  readonly error: string;
  /** Failed attempts; failures reported in the same turn of the event loop count once. */
  attempts: number;
  warned: boolean;
  /** Ends the grace period's timer when the connection is back. */
  readonly grace: AbortController;
}

class TrackedEtcdConnectionState implements EtcdConnectionState {
  private outage: Outage | undefined;
  private sameTurn = false;

  constructor(
    private readonly endpoints: string,
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly nextTurn: (fn: () => void) => void,
    private readonly onReconnect: () => void,
    private readonly graceMs: number,
  ) {}

  status(): ConnectionStatus {
    const o = this.outage;
    return o ? { reachable: false, sinceMs: o.sinceMs, lastError: o.error } : { reachable: true };
  }

  get reachable(): boolean {
    return this.outage === undefined;
  }

  failed(err: unknown): void {
    const outage = this.outage ?? this.startOutage(err);
    if (this.sameTurn) return;
    this.sameTurn = true;
    this.nextTurn(() => (this.sameTurn = false));
    outage.attempts++;
    if (outage.attempts === 1) {
      this.logger.debug('etcd connection lost; reconnecting', { error: errorMessage(err) });
      return;
    }
    // The error of the first failed reconnect names the cause (ECONNREFUSED, a TLS failure...);
    // the first failure only says the connection dropped.
    this.warn(outage, errorMessage(err));
  }

  private startOutage(err: unknown): Outage {
    const outage: Outage = {
      sinceMs: this.clock.now(),
      error: errorMessage(err),
      attempts: 0,
      warned: false,
      grace: new AbortController(),
    };
    this.outage = outage;
    this.clock.sleep(this.graceMs, outage.grace.signal).then(
      () => {
        const s = Math.round(this.graceMs / 1000);
        this.warn(outage, `no answer for ${s} s after: ${outage.error}`);
      },
      () => undefined, // back in time
    );
    return outage;
  }

  private warn(outage: Outage, error: string): void {
    if (outage.warned || this.outage !== outage) return;
    outage.warned = true;
    this.logger.warn(
      'etcd is unreachable: check that it runs and that this host can reach it; ' +
        'retrying quietly, the data plane keeps the peers it knows',
      { endpoints: this.endpoints, error },
    );
  }

  succeeded(): void {
    const outage = this.outage;
    if (!outage) return;
    outage.grace.abort();
    this.outage = undefined;
    this.sameTurn = false;
    this.onReconnect();
    const downForMs = this.clock.now() - outage.sinceMs;
    // Attempts after the first failure are the retries; the one that just succeeded is not counted.
    const fields = { endpoints: this.endpoints, downForMs, retries: outage.attempts - 1 };
    if (outage.warned) this.logger.info('etcd is reachable again', fields);
    else this.logger.debug('etcd connection re-established', fields);
  }
}

/** Creates the connection state of one store; share it between all of that store's watches. */
export function createEtcdConnectionState(
  options: EtcdConnectionStateOptions,
): EtcdConnectionState {
  return new TrackedEtcdConnectionState(
    options.endpoints.join(','),
    options.logger,
    options.clock ?? systemClock,
    options.nextTurn ??
      ((fn) => {
        setImmediate(fn);
      }),
    options.onReconnect ?? (() => undefined),
    options.outageGraceMs ?? 10_000,
  );
}
