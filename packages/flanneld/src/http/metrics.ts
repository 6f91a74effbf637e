import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DataPlaneMetrics } from '../data-plane-sync';

/** Peers by state, read at scrape time. */
export interface PeerCounts {
  /** Valid peer leases known (ours and rejected ones excluded). */
  readonly known: number;
  /** Peers whose kernel entries are in place. */
  readonly programmed: number;
  /** Peers the backend leaves out on purpose (another VNI, not on-link…). */
  readonly skipped: number;
}

/** Where the gauges read their values at scrape time. */
export interface MetricSources {
  readonly peers: () => PeerCounts | undefined;
  /**
   * Seconds until our lease expires, or `reservation` (a key without TTL never expires); undefined
   * before a lease is held.
   */
  readonly leaseExpiry: () => number | 'reservation' | undefined;
}

/** The agent's metrics: one registry, and the recorders that the parts of the agent call. */
export interface AgentMetrics {
  readonly registry: Registry;
  readonly dataPlane: Required<DataPlaneMetrics>;
  etcdReconnected(): void;
  trafficRulesRepaired(count: number): void;
}

/**
 * Builds the registry `/metrics` serves (Prometheus text, by prom-client): counters and the
 * event→kernel histogram are recorded where the fact happens (the recorders below are handed to
 * the data-plane sync, the etcd store and the traffic rules); gauges read their sources at scrape
 * time; prom-client's default process and Node.js metrics come along.
 */
export function createAgentMetrics(sources: MetricSources): AgentMetrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'flannel_peers',
    help: 'Peer leases by state: known (valid leases of other hosts), programmed (kernel entries in place), skipped (left out by the backend, e.g. another VNI)',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const p = sources.peers();
      for (const state of ['known', 'programmed', 'skipped'] as const) {
        this.set({ state }, p ? p[state] : 0);
      }
    },
  });
  new Gauge({
    name: 'flannel_lease_expiry_seconds',
    help: 'Seconds until our subnet lease expires in etcd (renewed before); +Inf with kind="reservation" for a reservation, which never expires',
    labelNames: ['kind'] as const,
    registers,
    collect() {
      this.reset();
      const v = sources.leaseExpiry();
      if (v === 'reservation') this.set({ kind: 'reservation' }, Infinity);
      else if (v !== undefined) this.set({ kind: 'lease' }, v);
    },
  });
  const eventToKernel = new Histogram({
    name: 'flannel_event_to_kernel_seconds',
    help: 'Time from a lease event reaching the agent to the kernel carrying the change',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const changes = new Counter({
    name: 'flannel_kernel_changes_total',
    help: 'Kernel entries (routes, neighbours, FDB entries, devices) changed by the agent',
    registers,
  });
  const repairs = new Counter({
    name: 'flannel_data_plane_repairs_total',
    help: 'Kernel entries restored after someone else deleted or changed them',
    registers,
  });
  const reconnects = new Counter({
    name: 'flannel_etcd_reconnects_total',
    help: 'Times etcd answered again after the connection to it was lost',
    registers,
  });
  const rejected = new Counter({
    name: 'flannel_leases_rejected_total',
    help: 'Peer lease values rejected by validation (treated as absent), by reason',
    labelNames: ['reason'] as const,
    registers,
  });
  const trafficRepairs = new Counter({
    name: 'flannel_traffic_rule_repairs_total',
    help: 'Masquerade and forward rules restored after someone deleted them',
    registers,
  });
  return {
    registry,
    dataPlane: {
      kernelChanges: (n) => changes.inc(n),
      repairs: (n) => repairs.inc(n),
      eventToKernel: (s) => eventToKernel.observe(s),
      leaseRejected: (reason) => rejected.inc({ reason }),
    },
    etcdReconnected: () => reconnects.inc(),
    trafficRulesRepaired: (n) => trafficRepairs.inc(n),
  };
}
