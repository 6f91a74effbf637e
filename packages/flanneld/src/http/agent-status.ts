import { formatCidr, formatSubnetKey } from '@flannel-ts/core';
import type { Lease } from '@flannel-ts/core';
import { parseEnvLines } from '@flannel-ts/docker';
import type { AgentFacts } from '../agent-facts';
import { FLANNELD_VERSION } from '../cli';
import { readiness } from '../readiness';
import type { Readiness } from '../readiness';
import type { AgentStatus, LeaseStatus, PeerStatus } from '../status/status-model';

/** `/readyz`'s verdict from the agent's parts as they are now. */
export function agentReadiness(f: AgentFacts): Readiness {
  return readiness({
    clock: f.clock,
    configWaiting: f.configWaiting,
    configLoaded: f.configLoaded,
    lease: f.leases?.held,
    subnetFileWritten: f.subnetFileWritten,
    dataPlane: f.sync?.state(),
    hasDataPlane: f.hasDataPlane,
    trouble: f.supervisor.trouble(),
    store: f.store,
  });
}

/** What `GET /status` serves: the running agent's own view (see AgentStatus). */
export async function agentStatus(f: AgentFacts): Promise<AgentStatus> {
  const ready = agentReadiness(f);
  const held = f.leases?.held;
  const etcd = f.store?.connectionStatus?.() ?? { reachable: true };
  const rules = f.traffic
    ? await f.traffic.inPlace().catch((e: Error) => [`(unreadable: ${e.message})`])
    : [];
  return {
    source: 'agent',
    version: FLANNELD_VERSION,
    agent: {
      pid: process.pid,
      startedAt: f.startedAt.toISOString(),
      ready: ready.ready,
      ...(ready.ready ? {} : { notReadyReason: ready.reason }),
      tasks: f.supervisor.tasks(),
    },
    ...(held ? { lease: leaseStatus(held.lease, held.expiresAtMs, f.clock.now()) } : {}),
    ...(f.backend
      ? {
          backend: {
            type: f.backend.type,
            ...deviceOf(f.backend.type, f.backendData),
            mtu: f.backend.mtu,
            data: f.backendData ?? null,
          },
        }
      : {}),
    peers: peerStatuses(f),
    traffic: {
      mode: f.traffic?.mode ?? 'off',
      rules,
    },
    etcd: {
      endpoints: f.config.etcd.endpoints,
      reachable: etcd.reachable,
      ...(etcd.sinceMs === undefined ? {} : { since: new Date(etcd.sinceMs).toISOString() }),
      ...(etcd.lastError === undefined ? {} : { lastError: etcd.lastError }),
    },
    subnetFile: {
      path: f.config.subnetFile,
      ...(f.subnetEnv === undefined
        ? {}
        : { values: Object.fromEntries(parseEnvLines(f.subnetEnv).vars) }),
    },
  };
}

function leaseStatus(lease: Lease, expiresAtMs: number | undefined, now: number): LeaseStatus {
  return {
    subnet: formatCidr(lease.subnets.ipv4),
    ...(lease.subnets.ipv6 ? { ipv6Subnet: formatCidr(lease.subnets.ipv6) } : {}),
    publicIp: lease.attrs.publicIp,
    ...(lease.attrs.publicIpv6 ? { publicIpv6: lease.attrs.publicIpv6 } : {}),
    kind: expiresAtMs === undefined ? 'reservation' : 'lease',
    ...(expiresAtMs === undefined
      ? {}
      : {
          expiresAt: new Date(expiresAtMs).toISOString(),
          expiresInSeconds: Math.max(0, Math.round((expiresAtMs - now) / 1000)),
        }),
  };
}

/** The device a backend programs, named as upstream names it. */
function deviceOf(type: string, data: unknown): { device?: string } {
  if (type !== 'vxlan') return {};
  const vni = (data as { VNI?: unknown } | undefined)?.VNI;
  return { device: `flannel.${typeof vni === 'number' ? vni : 1}` };
}

function peerStatuses(f: AgentFacts): PeerStatus[] {
  const sync = f.sync;
  if (!sync) return [];
  const states = new Map((f.dataPlane?.peerStates() ?? []).map((s) => [s.key, s]));
  const out: PeerStatus[] = sync.peers.list().map((l) => {
    const s = states.get(formatSubnetKey(l.subnets));
    return {
      subnet: formatCidr(l.subnets.ipv4),
      ...(l.subnets.ipv6 ? { ipv6Subnet: formatCidr(l.subnets.ipv6) } : {}),
      publicIp: l.attrs.publicIp,
      ...(l.attrs.backendType === undefined ? {} : { backendType: l.attrs.backendType }),
      state: s?.state ?? 'pending',
      ...(s?.reason === undefined ? {} : { reason: s.reason }),
    };
  });
  for (const [key, reason] of sync.peers.rejectedKeys) {
    // The IPv4 part of the key (`10.5.3.0-24`, or `10.5.3.0-24&fd00::-64` for dual stack).
    const subnet = key.replace(/^subnets\//, '').split('&')[0] ?? key;
    out.push({ subnet: subnet.replace('-', '/'), publicIp: '', state: 'rejected', reason });
  }
  return out.sort((a, b) => a.subnet.localeCompare(b.subnet, 'en', { numeric: true }));
}
