import { release } from 'node:os';
import type { Lease, Logger, SubnetPair } from '@flannel-ts/core';
import { FlannelError, NO_IPV4_SUBNET, systemClock } from '@flannel-ts/core';
import type { DataPlane, ExternalInterface } from '@flannel-ts/backend';
import {
  createIproute2Monitor,
  createIproute2Runner,
  createEthtool,
  createProcSysctl,
  ipv4Of,
} from '@flannel-ts/backend';
import { readPreviousSubnetEnv, renderSubnetEnv, writeFileAtomic } from '@flannel-ts/docker';
import type { PreviousSubnetEnv } from '@flannel-ts/docker';
import { LeaseManager, createEtcdLeaseStore, loadNetworkConfig } from '@flannel-ts/subnet';
import type { LeaseStore, NetworkConfig } from '@flannel-ts/subnet';
import { BACKENDS, checkBackendConfig, warnUnknownBackendOptions } from './backends';
import type { Config } from './config';
import { DataPlaneSync } from './data-plane-sync';
import { writeDockerFiles } from './docker-files';
import { discoverInterface } from './network-inventory';
import { loadHealthParts } from './on-demand';
import type { AgentFacts } from './agent-facts';
import { startDataPlane } from './start-data-plane';
import { retryStartupStep } from './startup-retry';
import { Supervisor } from './supervisor';
import { enableIpForwarding, warnWithoutBrNetfilter, warnWithoutIpv6Forwarding } from './sysctl';
import { notifyReady } from './systemd-notify';
import { setupTraffic } from './traffic';

/** What the agent is run with; everything else it builds itself. */
export interface AgentInput {
  readonly config: Config;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly logger: Logger;
  /** Aborted on SIGTERM/SIGINT: the agent stops, leaving its lease in etcd. */
  readonly signal: AbortSignal;
}

/**
 * The composition root: builds the agent's parts in upstream's start-up order (SPEC 3) and hands
 * every long-running task to one {@link Supervisor}, which alone decides what a failure means.
 * Start-up steps that can be retried are (see retryStartupStep); any other start-up failure, and
 * any fatal task failure, rejects, so main exits 1 with the message. Resolves after a clean stop.
 */
export async function runAgent({ config, env, logger, signal }: AgentInput): Promise<void> {
  const clock = systemClock;
  const supervisor = new Supervisor({ clock, logger: logger.child({ component: 'supervisor' }) });
  const facts: AgentFacts = {
    startedAt: new Date(clock.now()),
    configLoaded: false,
    subnetFileWritten: false,
    hasDataPlane: true,
    supervisor,
    clock,
    config,
  };
  // The health server is the only reader of the metrics: without a health port, neither it nor
  // the metrics registry (prom-client) is loaded or built, and every recorder is skipped.
  const health = config.healthz.port > 0 ? loadHealthParts() : undefined;
  facts.metrics = health?.createAgentMetrics({
    peers: () => facts.peerCounts?.(),
    leaseExpiry: () => {
      const held = facts.leases?.held;
      if (!held) return undefined;
      if (held.expiresAtMs === undefined) return 'reservation';
      return Math.max(0, (held.expiresAtMs - clock.now()) / 1000);
    },
  });
  const store: LeaseStore = await createEtcdLeaseStore({
    ...config.etcd,
    logger: logger.child({ component: 'etcd' }),
    onReconnect: () => facts.metrics?.etcdReconnected(),
  });
  facts.store = store;
  const kernelLog = logger.child({ component: 'kernel' });
  const runners = {
    ip: createIproute2Runner({ logger: kernelLog }),
    bridge: createIproute2Runner({ binary: 'bridge', logger: kernelLog }),
    monitor: createIproute2Monitor({ logger: kernelLog }),
    sysctl: createProcSysctl(),
    ethtool: createEthtool(),
  };
  try {
    // Before anything else (upstream's order): probes answer while the agent waits for etcd.
    if (health) {
      await health.startHealthTask(supervisor, facts, logger.child({ component: 'http' }));
    }
    const supervised = supervisor.run(signal);
    // A start-up failure stops the supervisor; one that comes from a stop (a signal, or a fatal
    // task failure, which is reported instead) is not a failure of its own.
    let failed: { error: unknown } | undefined;
    await startUp({ config, env, logger, store, runners, supervisor, facts }).catch(
      (error: unknown) => {
        if (!supervisor.signal.aborted) failed = { error };
        supervisor.stop();
      },
    );
    await supervised;
    if (failed) throw failed.error;
  } finally {
    runners.ip.close();
    runners.bridge.close();
    await store.close();
  }
}

interface StartUp {
  readonly config: Config;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly logger: Logger;
  readonly store: LeaseStore;
  readonly runners: Parameters<(typeof BACKENDS)[string]['create']>[0]['runners'];
  readonly supervisor: Supervisor;
  readonly facts: AgentFacts;
}

/** What the previous subnet file says, if anything trustworthy (corrupt parts are warned about). */
async function previousRun(config: Config, logger: Logger): Promise<PreviousSubnetEnv | undefined> {
  const prev = await readPreviousSubnetEnv(config.subnetFile);
  if (prev && prev.problems.length > 0) {
    logger.warn('ignoring what cannot be trusted in the previous subnet file', {
      file: config.subnetFile,
      problems: prev.problems,
    });
  }
  return prev;
}

/**
 * The subnets the previous subnet file names, in the shape of this network's lease keys: an
 * IPv6-only file has only `FLANNEL_IPV6_SUBNET`, and its key's IPv4 part is `0.0.0.0/0`.
 */
function previousSubnets(
  prev: PreviousSubnetEnv | undefined,
  network: NetworkConfig,
): SubnetPair | undefined {
  if (network.ipv4) return prev?.subnet ? { ipv4: prev.subnet, ipv6: prev.ipv6Subnet } : undefined;
  return prev?.ipv6Subnet ? { ipv4: NO_IPV4_SUBNET, ipv6: prev.ipv6Subnet } : undefined;
}

/** Start-up (SPEC 3 steps 6-15): each long-running part, once built, goes to the supervisor. */
async function startUp(o: StartUp): Promise<void> {
  const { config, env, logger, store, runners, supervisor, facts } = o;
  const clock = systemClock;
  const signal = supervisor.signal;
  const prev = await previousRun(config, logger);
  const network: NetworkConfig = await loadNetworkConfig({
    store,
    clock,
    logger: logger.child({ component: 'config' }),
    signal,
    check: checkBackendConfig,
    onWaiting: (reason) => (facts.configWaiting = reason),
  });
  facts.configLoaded = true;
  facts.network = network;
  const previous = previousSubnets(prev, network);
  warnUnknownBackendOptions(network.backend, logger);
  // Steps that another agent starting at the same moment can trip are retried (issue 8).
  const step = <T>(name: string, fn: (s: AbortSignal) => Promise<T>): Promise<T> =>
    retryStartupStep(name, fn, { clock, logger, signal });
  const found = await step('discovering the external interface', (s) =>
    discoverInterface(config, runners.ip, s, { ipv4: !!network.ipv4, ipv6: !!network.ipv6 }),
  );
  if (!found.ok) throw new FlannelError('INTERFACE', found.message);
  const iface: ExternalInterface = found.choice;
  logger.info('using interface', {
    name: iface.name,
    address: iface.ipv4?.address,
    publicIp: iface.ipv4?.publicIp,
    address6: iface.ipv6?.address,
    publicIpv6: iface.ipv6?.publicIp,
    mtu: iface.mtu,
    why: found.choice.reason,
  });
  const backend = BACKENDS[network.backend.type]!.create({
    iface,
    options: network.backend.options,
    logger: logger.child({ component: network.backend.type }),
    runners,
    blackholeRoute: config.ipBlackholeRoute,
    previousSubnet: prev?.subnet,
    wireguardKeyFile: env.WIREGUARD_KEY_FILE,
    vxlanChecksumOffload: { mode: config.vxlanChecksumOffload, kernelRelease: release() },
  });
  facts.backend = backend;
  const data = await step(`setting up the ${backend.type} backend`, (s) => backend.register(s));
  facts.backendData = data.backendData;
  // As upstream writes them: IPv6-only hosts publish PublicIP 0.0.0.0 (its zero IPv4 address), and
  // PublicIPv6 is null unless IPv6 is enabled; backendV6Data comes with the backend's data.
  const attrs = {
    publicIp: network.ipv4 ? ipv4Of(iface, backend.type).publicIp : '0.0.0.0',
    // Interface selection fails before anything is created when IPv6 has no address.
    publicIpv6: network.ipv6 ? (iface.ipv6?.publicIp ?? null) : null,
    ...data,
  };
  const leases = new LeaseManager({
    store,
    clock,
    logger: logger.child({ component: 'lease' }),
    renewMarginMs: config.renewMarginMinutes * 60_000,
  });
  facts.leases = leases;
  const lease = await leases.acquire({ config: network, attrs, previous }, signal);
  // The data plane starts at once, side by side with the rules and the files: peers' routes do
  // not wait for iptables, and nothing below depends on them.
  const dataPlane =
    network.ipv4 || network.ipv6
      ? startDataPlane(
          backend,
          lease,
          { ipv4: network.ipv4?.network, ipv6: network.ipv6?.network },
          data,
          {
            clock,
            logger,
            signal,
          },
        ).then(async (dp) => {
          if (dp) await superviseDataPlane(o, network, dp, lease, leases.takeListing());
          else facts.hasDataPlane = false;
        })
      : Promise.resolve((facts.hasDataPlane = false));
  // Awaited below; this only keeps an early failure elsewhere from leaving it unhandled.
  dataPlane.catch(() => undefined);
  supervisor.start({
    name: 'lease',
    run: (s) => leases.maintain(leases.held?.lease ?? lease, attrs, s),
  });
  // Rules before the subnet file (upstream's order): once dockerd sees the file, forwarding works.
  warnWithoutBrNetfilter(logger, { nftables: network.enableNftables });
  const v6Subnet = lease.subnets.ipv6;
  const families = {
    ...(network.ipv4 && {
      ipv4: {
        network: network.ipv4.network,
        subnet: lease.subnets.ipv4,
        previous: prev ? { network: prev.network, subnet: prev.subnet } : undefined,
      },
    }),
    ...(network.ipv6 &&
      v6Subnet && {
        ipv6: {
          network: network.ipv6.network,
          subnet: v6Subnet,
          previous: prev ? { network: prev.ipv6Network, subnet: prev.ipv6Subnet } : undefined,
        },
      }),
  };
  if (families.ipv4 || families.ipv6) {
    const traffic = await setupTraffic(config, families, {
      clock,
      logger: logger.child({ component: network.enableNftables ? 'nftables' : 'iptables' }),
      signal,
      nftables: network.enableNftables,
      onRepair: (n) => facts.metrics?.trafficRulesRepaired(n),
    });
    facts.traffic = traffic;
    if (traffic) supervisor.start({ name: 'traffic rules', run: (s) => traffic.resync(s) });
  }
  const subnetEnv = renderSubnetEnv({
    network: network.ipv4?.network,
    // IPv6-only: no IPv4 variables at all (upstream WriteSubnetFile), not the key's 0.0.0.0/0.
    subnet: network.ipv4 ? lease.subnets.ipv4 : undefined,
    ipv6Network: network.ipv6?.network,
    ipv6Subnet: lease.subnets.ipv6,
    mtu: backend.mtu,
    ipMasq: config.ipMasq,
  });
  await step(`writing the subnet file ${config.subnetFile}`, () =>
    writeFileAtomic(config.subnetFile, subnetEnv),
  );
  facts.subnetFileWritten = true;
  facts.subnetEnv = subnetEnv;
  logger.info('wrote subnet file', { file: config.subnetFile });
  await writeDockerFiles(config, subnetEnv, logger);
  // READY=1 once the files are written and the data plane is programmed.
  await dataPlane;
  await facts.sync?.firstPass;
  await notifyReady(env, logger);
}

/** Hands the data plane's three tasks to the supervisor (the kernel watch after the first pass). */
async function superviseDataPlane(
  o: StartUp,
  network: NetworkConfig,
  dataPlane: DataPlane,
  own: Lease,
  initial: ReturnType<LeaseManager['takeListing']>,
): Promise<void> {
  const { config, logger, store, supervisor, facts } = o;
  await enableIpForwarding(logger);
  if (network.ipv6) await warnWithoutIpv6Forwarding(logger);
  const sync = new DataPlaneSync({
    store,
    dataPlane,
    own,
    backendType: network.backend.type,
    network,
    reconcileIntervalMs: config.reconcileIntervalSeconds * 1000,
    clock: systemClock,
    logger: logger.child({ component: 'dataplane' }),
    initial,
    metrics: facts.metrics?.dataPlane,
  });
  facts.sync = sync;
  facts.dataPlane = dataPlane;
  facts.peerCounts = () => {
    let programmed = 0;
    let skipped = 0;
    for (const p of dataPlane.peerStates()) {
      if (p.state === 'programmed') programmed++;
      else if (p.state === 'skipped') skipped++;
    }
    return { known: sync.peers.size, programmed, skipped };
  };
  supervisor.start({ name: 'peer watch', run: (s) => sync.watchPeers(s) });
  supervisor.start({ name: 'data plane', run: (s) => sync.run(s) });
  // The kernel monitor starts after the first pass: its two process starts would delay the first
  // programming. (An entry deleted in the moment between the two waits for the next full pass.)
  void sync.firstPass.then(() =>
    supervisor.start({ name: 'kernel monitor', run: (s) => sync.watchKernel(s) }),
  );
}
