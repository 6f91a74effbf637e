import { FlannelError } from '@flannel-ts/core';
import type { Cidr, Lease, Logger } from '@flannel-ts/core';
import type { DataPlaneRunners } from './apply';
import type { ChecksumOffloadMode } from './vxlan/checksum-offload';

/** One address family of the external interface: its address and what we advertise. */
export interface InterfaceAddress {
  /** The interface's address of this family (flannel's choice among several). */
  readonly address: string;
  /** `--public-ip` / `--public-ipv6`, or the interface address. */
  readonly publicIp: string;
  /**
   * The networks of this family directly connected to it, when the caller has read them already
   * (interface selection has); otherwise the backend reads the link.
   */
  readonly connected?: readonly Cidr[] | undefined;
}

/**
 * The interface flanneld carries traffic over, with what it has of each family: `ipv4` when IPv4
 * is enabled, `ipv6` when IPv6 is (both for dual stack). One type for interface selection, the
 * backends and status.
 */
export interface ExternalInterface {
  readonly name: string;
  readonly index: number;
  readonly mtu: number;
  readonly ipv4?: InterfaceAddress | undefined;
  readonly ipv6?: InterfaceAddress | undefined;
}

/** The interface's IPv4 side, or a clear error for a backend that needs one. */
export function ipv4Of(iface: ExternalInterface, backend: string): InterfaceAddress {
  if (iface.ipv4) return iface.ipv4;
  throw new FlannelError(
    'INTERFACE',
    `the ${backend} backend needs an IPv4 address on ${iface.name}, and it has none flannel can use`,
  );
}

/** The interface's IPv6 side, or a clear error for a backend that needs one. */
export function ipv6Of(iface: ExternalInterface, backend: string): InterfaceAddress {
  if (iface.ipv6) return iface.ipv6;
  throw new FlannelError(
    'INTERFACE',
    `the ${backend} backend needs an IPv6 address on ${iface.name} (IPv6 is enabled), and it has none flannel can use`,
  );
}

/**
 * The flannel networks of the network config, one per enabled family (`Network` and/or
 * `IPv6Network`): what a backend programs. A family that is absent gets nothing created: no
 * device, no route, no neighbour, no blackhole route.
 */
export interface BackendNetworks {
  readonly ipv4?: Cidr | undefined;
  readonly ipv6?: Cidr | undefined;
}

/** What a backend gets to build itself. */
export interface BackendContext {
  readonly iface: ExternalInterface;
  /** The `Backend` object of the network config (option names match case-insensitively). */
  readonly options: Readonly<Record<string, unknown>>;
  readonly logger: Logger;
  readonly runners: DataPlaneRunners;
  /**
   * `--ip-blackhole-route`: keep a blackhole route for our own subnets (IPv4 and IPv6), so traffic to
   * unused addresses is dropped instead of leaving by the default route (any backend, alloc too).
   * When false, a blackhole route of ours left by an earlier run is removed at start (vxlan,
   * host-gw; alloc then has no data plane and leaves it). Default false.
   */
  readonly blackholeRoute?: boolean | undefined;
  /**
   * The IPv4 subnet an earlier run held (the subnet file's `FLANNEL_SUBNET`), when known: if it is
   * no longer ours, our blackhole route for it is removed at start.
   */
  readonly previousSubnet?: Cidr | undefined;
  /**
   * The wireguard backend's private key file: env `WIREGUARD_KEY_FILE`, as upstream reads it
   * (default `/run/flannel/wgkey`).
   */
  readonly wireguardKeyFile?: string | undefined;
  /**
   * `--vxlan-checksum-offload` (vxlan): TX checksum offload on the VXLAN devices, by
   * `checksumOffloadDecision` on this host's kernel release (`auto` when absent).
   */
  readonly vxlanChecksumOffload?:
    { readonly mode: ChecksumOffloadMode; readonly kernelRelease: string } | undefined;
}

/** What a backend publishes in this host's lease (SPEC 1.3). */
export interface BackendLeaseData {
  readonly backendType?: string | undefined;
  readonly backendData?: unknown;
  /** The IPv6 counterpart of `backendData` (vxlan: `flannel-v6.N`'s VNI and VTEP MAC). */
  readonly backendV6Data?: unknown;
}

/** What one pass over the data plane did. */
export interface SyncReport {
  /** Kernel changes applied. */
  readonly changes: number;
  /** Entries put back after someone deleted or changed them. */
  readonly repairs: number;
  /** Peers whose entries are programmed. */
  readonly programmedPeers: number;
  /** Peers left out, each with the reason (already logged once by the backend). */
  readonly skippedPeers: readonly string[];
}

/** Where one peer stands, for `flanneld status` and `/metrics`. */
export interface PeerState {
  /** The peer's lease key (`10.5.3.0-24`). */
  readonly key: string;
  /**
   * `programmed`: every kernel entry it needs is in place; `pending`: not yet, or the kernel
   * refused one (retried by the next full pass); `skipped`: the backend leaves it out.
   */
  readonly state: 'programmed' | 'pending' | 'skipped';
  /**
   * Why it is skipped (the backend's reason), or why pending (the kernel's refusal, if any); for a
   * peer programmed in one family only, what was left out (`IPv6: its lease has no PublicIPv6`).
   */
  readonly reason?: string;
}

/**
 * A running data plane: programs the kernel for the current set of peer leases (our own lease and
 * other backends' leases already excluded). Lease changes and kernel events only mark entries
 * dirty; the caller then runs {@link DataPlane.apply}, one pass at a time.
 */
export interface DataPlane {
  /** Records changed peers (lease key → lease, or undefined when it left). Touches no kernel. */
  update(changes: Iterable<readonly [string, Lease | undefined]>): void;
  /** True when {@link DataPlane.apply} has work. */
  readonly pending: boolean;
  /** Applies what is dirty: lease changes and repairs the kernel monitor asked for. */
  apply(signal?: AbortSignal): Promise<SyncReport>;
  /**
   * A full pass, the safety net: checks the device, reads the kernel's owned entries, puts back
   * what differs and removes entries of ours that no peer explains (SPEC D8/D9).
   */
  resync(signal?: AbortSignal): Promise<SyncReport>;
  /**
   * Follows kernel events until `signal` aborts, calling `onDirty(false)` when an apply is needed
   * and `onDirty(true)` when events may have been missed and a full pass is needed.
   */
  watch(onDirty: (needFullPass: boolean) => void, signal: AbortSignal): Promise<void>;
  /**
   * Each known peer's state, from memory (no kernel read): cheap enough for every metrics scrape
   * and status request. Empty for a data plane that programs no peers (alloc).
   */
  peerStates(): readonly PeerState[];
}

/**
 * A data-plane backend (flannel's `Backend` + `Network`). `register` prepares local devices and
 * returns what goes into our lease; `start` configures them for our leased subnet and returns the
 * data plane (none for `alloc`, unless it keeps a blackhole route); `mtu` is what containers must
 * use (`FLANNEL_MTU`).
 */
export interface Backend {
  readonly type: string;
  readonly mtu: number;
  register(signal: AbortSignal): Promise<BackendLeaseData>;
  /** `networks`: the config's network per enabled family; `own` holds our subnet of each. */
  start(own: Lease, networks: BackendNetworks, signal: AbortSignal): Promise<DataPlane | undefined>;
}

/** Builds a backend; flanneld keeps an explicit table of these, keyed by type. */
export type BackendFactory = (context: BackendContext) => Backend;
