import { cidrEquals, errorMessage, formatCidr, isReservation, sameSubnets } from '@flannel-ts/core';
import type { Cidr } from '@flannel-ts/core';
import type { IpRunner } from '@flannel-ts/backend';
import { parseEnvLines, parseSubnetEnv } from '@flannel-ts/docker';
import type { LeaseStore, NetworkConfig, StoredLease } from '@flannel-ts/subnet';
import type { Config } from '../config';
import { readEtcd, readRemainingSeconds } from './status-etcd';
import type { EtcdRead } from './status-etcd';
import { readKernel } from './status-kernel';
import type { KernelRead } from './status-kernel';
import type { AgentStatus, LeaseStatus } from './status-model';
import { classifyPeers, vxlanDevice } from './status-peers';
import { readTraffic } from './status-traffic';
import type { TrafficRead, TrafficRulesReader } from './status-traffic';

/** The seams the direct reading goes through (real ones in the CLI, fakes in tests). */
export interface DirectSources {
  /** The etcd store, or why it could not even be set up (e.g. an unreadable --etcd-cafile). */
  readonly store: LeaseStore | { readonly error: string };
  readonly ip: IpRunner;
  readonly traffic: TrafficRulesReader;
  /** A file's text; undefined when it does not exist. Rejects on other errors. */
  readonly readFile: (path: string) => Promise<string | undefined>;
}

/** Everything read, before it is put together (see {@link assembleDirectStatus}). */
export interface DirectReads {
  readonly etcd: EtcdRead;
  readonly kernel: KernelRead;
  readonly subnetFileText: string | undefined;
  readonly traffic: TrafficRead;
  readonly problems: readonly string[];
  /** Our lease's expiry from the TTL etcd has left on it; absent when etcd could not say. */
  readonly ownExpiry?: Pick<LeaseStatus, 'expiresAt' | 'expiresInSeconds'> | undefined;
}

/**
 * Our lease: the one whose PublicIP is this host's public IP (`--public-ip`, else the external
 * interface's address), preferring the subnet file's subnet among several; failing that, the
 * lease of the subnet file's subnet (the agent wrote the file from its lease).
 */
export function findOwnLease(
  leases: readonly StoredLease[],
  publicIp: string | undefined,
  fileSubnet: Cidr | undefined,
  ipv6: { readonly publicIp?: string | undefined; readonly fileSubnet?: Cidr | undefined } = {},
): StoredLease | undefined {
  const ofFile = (l: StoredLease): boolean =>
    (fileSubnet !== undefined && sameSubnets(l.subnets, { ipv4: fileSubnet })) ||
    (ipv6.fileSubnet !== undefined &&
      l.subnets.ipv6 !== undefined &&
      cidrEquals(l.subnets.ipv6, ipv6.fileSubnet));
  // IPv6-only leases all carry PublicIP 0.0.0.0 (as upstream writes them): match those by IPv6.
  const byIp = leases.filter(
    (l) =>
      (publicIp !== undefined && l.attrs.publicIp === publicIp && publicIp !== '0.0.0.0') ||
      (ipv6.publicIp !== undefined && l.attrs.publicIpv6 === ipv6.publicIp),
  );
  return byIp.find(ofFile) ?? byIp[0] ?? leases.find(ofFile);
}

/** Our lease among what etcd listed, found by {@link findOwnLease} with what else was read. */
function ownLeaseOf(config: Config, reads: DirectReads): StoredLease | undefined {
  const { etcd, kernel } = reads;
  if (!etcd.reachable) return undefined;
  const file =
    reads.subnetFileText === undefined ? undefined : parseSubnetEnv(reads.subnetFileText);
  return findOwnLease(
    etcd.listing.leases,
    config.publicIp ?? kernel.iface?.ipv4?.publicIp,
    file?.subnet,
    { publicIp: config.publicIpv6 ?? kernel.iface?.ipv6?.publicIp, fileSubnet: file?.ipv6Subnet },
  );
}

/** Puts what was read together into the status document (`source: 'direct'`). Pure. */
export function assembleDirectStatus(
  config: Config,
  reads: DirectReads,
  version: string,
): AgentStatus {
  const { etcd, kernel } = reads;
  const notes = [...reads.problems, ...kernel.problems];
  const text = reads.subnetFileText;
  const file = text === undefined ? undefined : parseSubnetEnv(text);
  const fileVars = text === undefined ? undefined : parseEnvLines(text).vars;
  const publicIp = config.publicIp ?? kernel.iface?.ipv4?.publicIp;
  const network = etcd.reachable ? etcd.network : undefined;
  const own = ownLeaseOf(config, reads);
  if (etcd.reachable && etcd.configProblem) notes.push(etcd.configProblem);
  if (etcd.reachable && !own) {
    const fileSubnet = file?.subnet ? formatCidr(file.subnet) : 'none';
    notes.push(
      `no lease in etcd carries this host's public IP ${publicIp ?? '(unknown)'} or the subnet ` +
        `file's subnet (${fileSubnet}); peers are listed without validation`,
    );
  }
  notes.push(...reads.traffic.problems);
  const mtu = Number(fileVars?.get('FLANNEL_MTU'));
  const peers = etcd.reachable
    ? classifyPeers({ ...etcd.listing, own, network, iface: kernel.iface, routes: kernel.routes })
    : [];
  return {
    source: 'direct',
    version,
    ...(own ? { lease: leaseStatus(own, reads.ownExpiry) } : {}),
    ...(network
      ? {
          backend: {
            type: network.backend.type,
            ...(network.backend.type === 'vxlan' ? { device: vxlanDevices(network) } : {}),
            ...(Number.isInteger(mtu) && mtu > 0 ? { mtu } : {}),
            ...ownData(own, network),
          },
        }
      : {}),
    peers,
    traffic: { mode: reads.traffic.mode, rules: reads.traffic.rules },
    etcd: {
      endpoints: config.etcd.endpoints,
      reachable: etcd.reachable,
      ...(etcd.reachable ? {} : { lastError: etcd.error }),
    },
    subnetFile: {
      path: config.subnetFile,
      ...(fileVars === undefined ? {} : { values: Object.fromEntries(fileVars) }),
    },
    ...(notes.length > 0 ? { notes } : {}),
  };
}

/** `flannel.1`, `flannel-v6.1` or both (`flannel.1 flannel-v6.1`), as the network uses them. */
function vxlanDevices(network: NetworkConfig): string {
  const { vni } = vxlanDevice(network);
  return [network.ipv4 ? `flannel.${vni}` : '', network.ipv6 ? `flannel-v6.${vni}` : '']
    .filter(Boolean)
    .join(' ');
}

/** Our lease's backend data: BackendData, or BackendV6Data for an IPv6-only network. */
function ownData(own: StoredLease | undefined, network: NetworkConfig): { data?: unknown } {
  const data = network.ipv4 ? own?.attrs.backendData : own?.attrs.backendV6Data;
  return data === undefined ? {} : { data };
}

function leaseStatus(own: StoredLease, expiry: DirectReads['ownExpiry']): LeaseStatus {
  return {
    subnet: formatCidr(own.subnets.ipv4),
    ...(own.subnets.ipv6 ? { ipv6Subnet: formatCidr(own.subnets.ipv6) } : {}),
    publicIp: own.attrs.publicIp,
    ...(own.attrs.publicIpv6 ? { publicIpv6: own.attrs.publicIpv6 } : {}),
    kind: isReservation(own) ? 'reservation' : 'lease',
    ...(isReservation(own) ? {} : expiry),
  };
}

/**
 * Reads etcd (config and leases), the subnet file, the kernel (interface and routes) and the
 * traffic rules without the agent, and says what it found. Never throws: what cannot be read is
 * shown (etcd unreachable, a missing file) in the document.
 */
export async function collectDirectStatus(
  config: Config,
  sources: DirectSources,
  version: string,
  signal?: AbortSignal,
): Promise<AgentStatus> {
  const problems: string[] = [];
  const { store } = sources;
  // etcd first: the network config says which families the interface and routes are read for.
  const etcd: EtcdRead =
    'error' in store ? { reachable: false, error: store.error } : await readEtcd(store, { signal });
  const network = etcd.reachable ? etcd.network : undefined;
  const stack = network ? { ipv4: !!network.ipv4, ipv6: !!network.ipv6 } : undefined;
  const [kernel, subnetFileText] = await Promise.all([
    readKernel(config, sources.ip, signal, stack),
    sources.readFile(config.subnetFile).then(
      (text) => {
        if (text === undefined) problems.push(`no subnet file at ${config.subnetFile}`);
        return text;
      },
      (err: unknown) => {
        problems.push(`cannot read the subnet file ${config.subnetFile}: ${errorMessage(err)}`);
        return undefined;
      },
    ),
  ]);
  const enableNftables = etcd.reachable ? etcd.network?.enableNftables : undefined;
  const traffic = await readTraffic(sources.traffic, config, enableNftables, signal);
  const reads: DirectReads = { etcd, kernel, subnetFileText, traffic, problems };
  // Our lease's expiry is the TTL etcd has left on it (unknown when etcd cannot say).
  const own = ownLeaseOf(config, reads);
  const seconds =
    own && !('error' in store) ? await readRemainingSeconds(store, own, { signal }) : undefined;
  const ownExpiry =
    seconds === undefined
      ? undefined
      : {
          expiresAt: new Date(Date.now() + seconds * 1000).toISOString(),
          expiresInSeconds: seconds,
        };
  return assembleDirectStatus(config, { ...reads, ownExpiry }, version);
}
