import type { Logger } from '@flannel-ts/core';

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
}

/** What a backend publishes in this host's lease (SPEC 1.3). */
export interface BackendLeaseData {
  readonly backendType?: string | undefined;
  readonly backendData?: unknown;
}

/**
 * A data-plane backend (flannel's `Backend` + `Network`). `register` prepares local devices and
 * returns what goes into our lease; `mtu` is what containers must use (`FLANNEL_MTU`).
 */
export interface Backend {
  readonly type: string;
  readonly mtu: number;
  register(signal: AbortSignal): Promise<BackendLeaseData>;
}

/** Builds a backend; flanneld keeps an explicit table of these, keyed by type. */
export type BackendFactory = (context: BackendContext) => Backend;
