import type { Clock } from '@flannel-ts/core';
import type { Backend, DataPlane } from '@flannel-ts/backend';
import type { LeaseManager, LeaseStore, NetworkConfig } from '@flannel-ts/subnet';
import type { Config } from './config';
import type { DataPlaneSync } from './data-plane-sync';
import type { AgentMetrics, PeerCounts } from './http/metrics';
import type { Supervisor } from './supervisor';
import type { TrafficRules } from './traffic';

/**
 * The agent's parts as start-up builds them, for the readers that report on it (`/readyz`,
 * `/metrics`, `/status`). Written only by the composition root (agent.ts), in start-up order;
 * an absent part is one not built yet.
 */
export interface AgentFacts {
  readonly startedAt: Date;
  readonly clock: Clock;
  readonly config: Config;
  readonly supervisor: Supervisor;
  configLoaded: boolean;
  /** Why the agent still waits for the network config, while it does. */
  configWaiting?: string;
  network?: NetworkConfig;
  subnetFileWritten: boolean;
  /** The subnet file's content as written. */
  subnetEnv?: string;
  /** False for a backend without data plane (alloc). */
  hasDataPlane: boolean;
  metrics?: AgentMetrics;
  store?: LeaseStore;
  leases?: LeaseManager;
  backend?: Backend;
  backendData?: unknown;
  traffic?: TrafficRules | undefined;
  sync?: DataPlaneSync;
  dataPlane?: DataPlane;
  peerCounts?: () => PeerCounts;
}
