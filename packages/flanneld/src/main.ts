import { FlannelError, errorMessage } from '@flannel-ts/core';
import { runAgent } from './agent';
import { describeConfig, parseConfig } from './config';
import { createLogger } from './logger';
import { loadStatusCommand } from './on-demand';

/** Runs flanneld with the given command line and environment; resolves to the exit status. */
export async function main(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Promise<number> {
  // `flanneld status`: the operator's view of a running (or stopped) agent; not the daemon.
  // Loaded for this subcommand only (start time of the daemon).
  if (argv[0] === 'status') {
    let runStatus: ReturnType<typeof loadStatusCommand>;
    try {
      runStatus = loadStatusCommand();
    } catch (err) {
      process.stderr.write(`flanneld status: ${errorMessage(err)}\n`);
      return 1;
    }
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
  // Nothing accepted is ignored without a word (issue 9): name what this agent does not do.
  for (const w of parsed.warnings) logger.warn(w);
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
    await runAgent({ config, env, logger, signal: ctl.signal });
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
