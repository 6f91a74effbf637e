import { FlannelError, formatCidr } from '@flannel-ts/core';
import type { Clock, Logger } from '@flannel-ts/core';
import type { Backend, BackendFactory, BackendLeaseData, DataPlane } from '../backend';
import { blackholeOf, createPeerDataPlane } from '../engine/peer-data-plane';
import { ExtensionCommandError } from './command-error';
import { leaseDataOf, postStartupEnv } from './command-input';
import { failureOf, quoteOutput } from './command-runner';
import type { CommandRun, CommandRunner } from './command-runner';
import { CommandTable } from './command-table';
import type { CommandTableOptions } from './command-table';
import { extensionDataPlane } from './extension-data-plane';
import { parseExtensionOptions } from './extension-options';
import { createShellCommandRunner } from './shell-command-runner';

/** What {@link extensionBackendFactory} can be given instead of the defaults (tests). */
export interface ExtensionBackendDeps {
  /** Default: `sh -c` with the 60 s timeout. */
  readonly runner?: CommandRunner | undefined;
  readonly clock?: Clock | undefined;
  /** Retry and concurrency settings of the peers' commands. */
  readonly table?: Pick<
    CommandTableOptions,
    'concurrency' | 'retryInitialMs' | 'retryMaxMs' | 'removeAttempts'
  >;
}

/**
 * The extension backend (SPEC 4.7; port of flannel backend/extension): commands from the
 * network config do the work. PreStartupCommand runs at registration and its output is our
 * lease's BackendData; PostStartupCommand runs once our subnet is leased; for each peer lease
 * added or changed SubnetAddCommand runs, and SubnetRemoveCommand for each peer that leaves. Every
 * command is optional. Unlike upstream, a failing command is retried with back-off (see
 * {@link CommandTable}), and a command is killed after a timeout. MTU: the external interface's.
 */
export function extensionBackendFactory(deps: ExtensionBackendDeps = {}): BackendFactory {
  return (ctx): Backend => {
    const commands = parseExtensionOptions(ctx.options);
    const { logger } = ctx;
    const runner = deps.runner ?? createShellCommandRunner();
    /** Upstream runs PreStartupCommand once per process: a retried start-up step must not rerun it. */
    let registered: BackendLeaseData | undefined;
    return {
      type: 'extension',
      mtu: ctx.iface.mtu,
      async register(signal) {
        registered ??= await preStartup(commands.PreStartupCommand, runner, logger, signal);
        return registered;
      },
      async start(own, networks, signal): Promise<DataPlane> {
        // IPv4 only (its IPv6 variables are not passed yet).
        const network = networks.ipv4;
        if (!network) {
          throw new FlannelError('BACKEND_CONFIG', 'the extension backend needs an IPv4 network');
        }
        const script = commands.PostStartupCommand;
        if (script === undefined) logger.info('no PostStartupCommand configured');
        else {
          const env = postStartupEnv(own, network);
          const r = await runChecked(
            runner,
            logger,
            { name: 'PostStartupCommand', script, env, stdin: '\n' },
            signal,
          );
          logger.info('PostStartupCommand ran', {
            subnet: formatCidr(own.subnets.ipv4),
            output: quoteOutput(r),
          });
        }
        const table = new CommandTable({
          ...deps.table,
          commands,
          runner,
          logger,
          clock: deps.clock,
        });
        const blackhole = ctx.blackholeRoute
          ? createPeerDataPlane({
              runners: ctx.runners,
              scope: { routeDevices: [], networks: [network] },
              logger,
              blackhole: blackholeOf(ctx, own),
            })
          : undefined;
        return extensionDataPlane(table, blackhole);
      },
    };
  };
}

/** The extension backend with the defaults: flanneld's backend table holds this one. */
export const createExtensionBackend: BackendFactory = extensionBackendFactory();

/**
 * Runs PreStartupCommand and returns our lease's data. Its output is captured as upstream does
 * (stdout and stderr together, white space trimmed) and published as a JSON string; with no
 * PreStartupCommand the lease carries no BackendData.
 */
async function preStartup(
  script: string | undefined,
  runner: CommandRunner,
  logger: Logger,
  signal: AbortSignal,
): Promise<BackendLeaseData> {
  if (script === undefined) {
    logger.info('no PreStartupCommand configured; our lease carries no BackendData');
    return { backendType: 'extension' };
  }
  const run: CommandRun = {
    name: 'PreStartupCommand',
    script,
    env: {},
    stdin: '\n',
    combineOutput: true,
  };
  const data = leaseDataOf(await runChecked(runner, logger, run, signal));
  logger.info('PreStartupCommand ran; its output goes into our lease', {
    backendData: quoteOutput(data),
  });
  return { backendType: 'extension', backendData: data };
}

/** Runs a start-up command; resolves with its stdout, or rejects (retried) saying why it failed. */
async function runChecked(
  runner: CommandRunner,
  logger: Logger,
  run: CommandRun,
  signal: AbortSignal,
): Promise<string> {
  logger.debug(`running ${run.name}`);
  const r = await runner.run(run, signal);
  logger.trace(`${run.name} output`, {
    stdout: quoteOutput(r.stdout),
    stderr: quoteOutput(r.stderr),
  });
  const failure = failureOf(r);
  if (failure !== undefined) {
    throw new ExtensionCommandError(
      `${run.name} failed: ${failure}; fix the command in the network config's Backend or what it needs (retrying with back-off)`,
    );
  }
  return r.stdout;
}
