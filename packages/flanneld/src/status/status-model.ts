/**
 * What `flanneld status` shows, and what a running agent serves as JSON at `GET /status` on its
 * health port (our addition; upstream has no such endpoint). One shape for both sources: the
 * running agent (`source: 'agent'`), or etcd, the subnet file and the kernel read directly by the
 * status command when no agent answers (`source: 'direct'`; fields only the agent knows are absent).
 * Field names are part of the `--json` output: add, never rename.
 */
export interface AgentStatus {
  readonly source: 'agent' | 'direct';
  /**
   * Direct mode only: a health port was configured but no agent answered there (the URL and why).
   * A configured agent that does not answer is not healthy, whatever the rest says.
   */
  readonly unansweredAgent?: string;
  /** flannel-ts version of whoever produced this. */
  readonly version: string;
  /** The agent process; absent in `direct` mode. */
  readonly agent?: {
    readonly pid: number;
    readonly startedAt: string;
    readonly ready: boolean;
    /** Why `/readyz` answers 503, when it does. */
    readonly notReadyReason?: string;
    /** The supervisor's long-running tasks. */
    readonly tasks: readonly TaskStatus[];
  };
  /** Our lease; absent before one is held (or when none carries our public IP, in direct mode). */
  readonly lease?: LeaseStatus;
  readonly backend?: {
    readonly type: string;
    /** `flannel.1`, `flannel-wg`; absent for backends without a device (host-gw, alloc). */
    readonly device?: string;
    /** What containers must use (FLANNEL_MTU). */
    readonly mtu?: number;
    /** Our lease's BackendData, as advertised (e.g. `{"VNI":1,"VtepMAC":"…"}`). */
    readonly data?: unknown;
  };
  readonly peers: readonly PeerStatus[];
  readonly traffic: {
    readonly mode: 'iptables' | 'nftables' | 'off';
    /** The rules in place, as `iptables -S` / `nft list` print them (one per entry). */
    readonly rules: readonly string[];
  };
  readonly etcd: {
    readonly endpoints: readonly string[];
    readonly reachable: boolean;
    /** When reachability last changed (ISO time), when known. */
    readonly since?: string;
    readonly lastError?: string;
  };
  /** The subnet file's path and, when readable, what it says. */
  readonly subnetFile: {
    readonly path: string;
    readonly values?: Readonly<Record<string, string>>;
  };
  /**
   * What the producer could not read or had to assume, one sentence each (e.g. `no subnet file at
   * /run/flannel/subnet.env`, or, from `flanneld status`, why it read directly instead of asking the
   * agent). Absent when there is nothing to say.
   */
  readonly notes?: readonly string[];
}

/** Our lease, as held. */
export interface LeaseStatus {
  /** `10.5.3.0/24`. */
  readonly subnet: string;
  readonly ipv6Subnet?: string;
  readonly publicIp: string;
  readonly publicIpv6?: string;
  /** A reservation (a key without TTL) never expires and is never renewed. */
  readonly kind: 'lease' | 'reservation';
  /** ISO time the key expires; absent for a reservation. */
  readonly expiresAt?: string;
  readonly expiresInSeconds?: number;
}

/** One other host's lease, and what this host does with it. */
export interface PeerStatus {
  /** The lease key's subnet, `10.5.7.0/24`. */
  readonly subnet: string;
  readonly ipv6Subnet?: string;
  readonly publicIp: string;
  readonly backendType?: string;
  /**
   * `programmed`: its kernel entries are in place; `pending`: known, not yet applied (or failing);
   * `skipped`: left out on purpose (`reason` says why: another VNI, not on-link for host-gw…);
   * `rejected`: its lease failed validation (`reason` names the field and rule);
   * `unknown`: valid, but what programs it cannot be read back (read directly, the extension
   * backend's commands leave nothing this tool knows how to look for; the agent knows).
   */
  readonly state: 'programmed' | 'pending' | 'skipped' | 'rejected' | 'unknown';
  readonly reason?: string;
}

/** One supervised task. */
export interface TaskStatus {
  readonly name: string;
  /** `failed`: stopped for good (the agent is exiting); `backing-off`: waiting to retry. */
  readonly state: 'starting' | 'running' | 'backing-off' | 'failed' | 'stopped';
  readonly restarts: number;
  readonly lastError?: string;
}
