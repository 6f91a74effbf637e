import type { Logger } from '@flannel-ts/core';
import { FlannelError, errorMessage, systemClock } from '@flannel-ts/core';
import type { BackendFactory, ExternalInterface } from '@flannel-ts/backend';
import {
  createAllocBackend,
  createHostGwBackend,
  createIproute2Monitor,
  createIproute2Runner,
  createVxlanBackend,
} from '@flannel-ts/backend';
import { readPreviousSubnetEnv, renderSubnetEnv, writeFileAtomic } from '@flannel-ts/docker';
import type { PreviousSubnetEnv } from '@flannel-ts/docker';
import { LeaseManager, createEtcdLeaseStore, loadNetworkConfig } from '@flannel-ts/subnet';
import type { LeaseStore, NetworkConfig } from '@flannel-ts/subnet';
import { describeConfig, parseConfig } from './config';
import { runDataPlane } from './data-plane-loop';
import { enableIpForwarding, warnWithoutBrNetfilter } from './sysctl';
import { setupTraffic } from './traffic';
import { writeDockerFiles } from './docker-files';
import { notifyReady } from './systemd-notify';
import type { Config } from './config';
import { createLogger } from './logger';
import { discoverInterface } from './network-inventory';
import { startDataPlane } from './start-data-plane';
import { retryStartupStep } from './startup-retry';
import { runStatus } from './status/status-cli';

/** The backends this agent can run, by config `Backend.Type` (explicit table, no self-registration). */
const backends: Readonly<Record<string, BackendFactory>> = {
  alloc: createAllocBackend,
  vxlan: createVxlanBackend,
  'host-gw': createHostGwBackend,
};

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

async function run(
  config: Config,
  env: Readonly<Record<string, string | undefined>>,
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  const store: LeaseStore = await createEtcdLeaseStore({
    ...config.etcd,
    logger: logger.child({ component: 'etcd' }),
  });
  const kernelLog = logger.child({ component: 'kernel' });
  const runners = {
    ip: createIproute2Runner({ logger: kernelLog }),
    bridge: createIproute2Runner({ binary: 'bridge', logger: kernelLog }),
    monitor: createIproute2Monitor({ logger: kernelLog }),
  };
  try {
    const prev = await previousRun(config, logger);
    const previous = prev?.subnet ? { ipv4: prev.subnet, ipv6: prev.ipv6Subnet } : undefined;
    const network: NetworkConfig = await loadNetworkConfig({
      store,
      clock: systemClock,
      logger: logger.child({ component: 'config' }),
      signal,
      check: (c) =>
        c.backend.type in backends
          ? []
          : [
              {
                field: 'Backend.Type',
                value: c.backend.type,
                rule: `unknown backend type (this agent supports: ${Object.keys(backends).join(', ')})`,
              },
            ],
    });
    // Steps that another agent starting at the same moment can trip are retried (issue 8).
    const step = <T>(name: string, fn: (s: AbortSignal) => Promise<T>): Promise<T> =>
      retryStartupStep(name, fn, { clock: systemClock, logger, signal });
    const found = await step('discovering the external interface', (s) =>
      discoverInterface(config, runners.ip, s),
    );
    if (!found.ok) throw new FlannelError('INTERFACE', found.message);
    const iface: ExternalInterface = found.choice;
    logger.info('using interface', {
      name: iface.name,
      address: iface.address,
      publicIp: iface.publicIp,
      mtu: iface.mtu,
      why: found.choice.reason,
    });
    const backend = backends[network.backend.type]!({
      iface,
      options: network.backend.options,
      logger: logger.child({ component: network.backend.type }),
      runners,
    });
    const data = await step(`setting up the ${backend.type} backend`, (s) => backend.register(s));
    const attrs = { publicIp: iface.publicIp, publicIpv6: config.publicIpv6 ?? null, ...data };
    const leases = new LeaseManager({
      store,
      clock: systemClock,
      logger: logger.child({ component: 'lease' }),
      renewMarginMs: config.renewMarginMinutes * 60_000,
    });
    const lease = await leases.acquire({ config: network, attrs, previous }, signal);
    // Everything below runs until shutdown; the first failure stops the rest and ends the agent.
    const inner = new AbortController();
    const stopInner = (): void => inner.abort();
    signal.addEventListener('abort', stopInner, { once: true });
    // The data plane starts at once, side by side with the rules and the files: peers' routes do
    // not wait for iptables, and nothing below depends on them.
    const dataPlane = network.ipv4
      ? startDataPlane(backend, lease, network.ipv4.network, data, {
          clock: systemClock,
          logger,
          signal: inner.signal,
        })
      : Promise.resolve(undefined);
    const dataPlaneLoop = dataPlane.then(async (dp) => {
      if (!dp) return;
      await enableIpForwarding(logger);
      await runDataPlane({
        store,
        dataPlane: dp,
        own: lease,
        backendType: backend.type,
        network,
        reconcileIntervalMs: config.reconcileIntervalSeconds * 1000,
        clock: systemClock,
        logger: logger.child({ component: 'dataplane' }),
        signal: inner.signal,
        initial: leases.takeListing(),
      });
    });
    // Awaited below; this only keeps an early failure elsewhere from leaving it unhandled.
    dataPlaneLoop.catch(() => undefined);
    const tasks: Promise<void>[] = [dataPlaneLoop];
    try {
      // Rules before the subnet file (upstream's order): once dockerd sees the file, forwarding works.
      warnWithoutBrNetfilter(logger);
      const resyncIptables = network.ipv4
        ? await setupTraffic(
            config,
            {
              network: network.ipv4.network,
              subnet: lease.subnets.ipv4,
              previous: prev ? { network: prev.network, subnet: prev.subnet } : undefined,
            },
            systemClock,
            logger.child({ component: 'iptables' }),
            inner.signal,
          )
        : undefined;
      const subnetEnv = renderSubnetEnv({
        network: network.ipv4?.network,
        subnet: lease.subnets.ipv4,
        ipv6Network: network.ipv6?.network,
        ipv6Subnet: lease.subnets.ipv6,
        mtu: backend.mtu,
        ipMasq: config.ipMasq,
      });
      await step(`writing the subnet file ${config.subnetFile}`, () =>
        writeFileAtomic(config.subnetFile, subnetEnv),
      );
      logger.info('wrote subnet file', { file: config.subnetFile });
      await writeDockerFiles(config, subnetEnv, logger);
      tasks.push(leases.maintain(lease, attrs, inner.signal));
      if (resyncIptables) tasks.push(resyncIptables());
      // READY=1 once the files are written and the data plane is in place.
      await dataPlane;
      await notifyReady(env, logger);
      await Promise.all(
        tasks.map(async (t) => {
          try {
            await t;
          } catch (err) {
            inner.abort();
            throw err;
          }
        }),
      );
    } finally {
      inner.abort();
      await Promise.allSettled(tasks);
      signal.removeEventListener('abort', stopInner);
    }
  } finally {
    runners.ip.close();
    runners.bridge.close();
    await store.close();
  }
}

/** Runs flanneld with the given command line and environment; resolves to the exit status. */
export async function main(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Promise<number> {
  // `flanneld status`: the operator's view of a running (or stopped) agent; not the daemon.
  if (argv[0] === 'status') {
    return runStatus(argv.slice(1), env);
  }
  const parsed = parseConfig({ argv, env });
  if (parsed.kind === 'exit') {
    if (parsed.stdout) process.stdout.write(parsed.stdout);
    if (parsed.stderr) process.stderr.write(parsed.stderr);
    return parsed.code;
  }
  const { config } = parsed;
  const logger = createLogger({ format: config.logFormat, verbosity: config.verbosity }).child({
    component: 'main',
  });
  logger.info('CLI flags config', describeConfig(config));
  const ctl = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    logger.info('received signal; shutting down (the lease stays in etcd)', { signal: sig });
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    ctl.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await run(config, env, logger, ctl.signal);
  } catch (err) {
    // Failing because we were told to stop is a clean exit; anything else is fatal: exit 1, as
    // upstream (usage errors, exit 2, never get this far).
    if (!ctl.signal.aborted) {
      const code = err instanceof FlannelError ? err.code : 'INTERNAL';
      logger.error(errorMessage(err), { code, fatal: true });
      if (!(err instanceof FlannelError) && err instanceof Error) {
        logger.debug('stack', { stack: err.stack });
      }
      return 1;
    }
  }
  logger.info('Exiting cleanly...');
  return 0;
}

/** Entry point of the `flanneld` executable: runs {@link main} and exits with its status. */
export function runAndExit(): void {
  main(process.argv.slice(2), process.env).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`flanneld: unexpected failure: ${String(err)}\n`);
      process.exit(1);
    },
  );
}
