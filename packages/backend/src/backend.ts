import type { Cidr, Lease, Logger } from '@flannel-ts/core';
import type { DataPlaneRunners } from './apply';

/** The interface flanneld carries traffic over, and the public IP it advertises. */
export interface ExternalInterface {
  readonly name: string;
  readonly index: number;
  readonly mtu: number;
  /** The interface's IPv4 address. */
  readonly address: string;
  /** `--public-ip`, or the interface address. */
  readonly publicIp: string;
}

/** What a backend gets to build itself. */
export interface BackendContext {
  readonly iface: ExternalInterface;
  /** The `Backend` object of the network config (option names match case-insensitively). */
  readonly options: Readonly<Record<string, unknown>>;
  readonly logger: Logger;
  readonly runners: DataPlaneRunners;
}

/** What a backend publishes in this host's lease (SPEC 1.3). */
export interface BackendLeaseData {
  readonly backendType?: string | undefined;
  readonly backendData?: unknown;
}

/** What one data-plane sync did. */
export interface SyncReport {
  /** Kernel changes applied. */
  readonly changes: number;
  /** Peers whose entries are programmed. */
  readonly programmedPeers: number;
  /** Peers left out, each with the reason (already logged once by the backend). */
  readonly skippedPeers: readonly string[];
}

/** A running data plane: programs the kernel for the current set of peer leases. */
export interface DataPlane {
  /**
   * Brings the kernel in line with `peers` (our own lease and other backends' leases already
   * excluded). `full` reads the kernel (periodic pass, startup); otherwise the last applied state
   * is trusted (lease events). `changed` (lease key → lease, or undefined when it left) lets a
   * non-full pass plan only those peers.
   */
  sync(
    peers: readonly Lease[],
    full: boolean,
    signal?: AbortSignal,
    changed?: ReadonlyMap<string, Lease | undefined>,
  ): Promise<SyncReport>;
}

/**
 * A data-plane backend (flannel's `Backend` + `Network`). `register` prepares local devices and
 * returns what goes into our lease; `start` configures them for our leased subnet and returns the
 * data plane (none for `alloc`); `mtu` is what containers must use (`FLANNEL_MTU`).
 */
export interface Backend {
  readonly type: string;
  readonly mtu: number;
  register(signal: AbortSignal): Promise<BackendLeaseData>;
  start(own: Lease, network: Cidr, signal: AbortSignal): Promise<DataPlane | undefined>;
}

/** Builds a backend; flanneld keeps an explicit table of these, keyed by type. */
export type BackendFactory = (context: BackendContext) => Backend;
