import { readFile } from 'node:fs/promises';
import { Command, CommanderError } from 'commander';
import { errorMessage } from '@flannel-ts/core';
import { conflictingRoutes, InvalidIpMasqError, renderDockerOpts } from './docker-opts';
import { parseEnvLines } from './subnet-env';
import { writeFileAtomic } from './subnet-file';

const PROG = 'flannel-docker-opts';

const USAGE = `${PROG} [-f FLANNEL-ENV-FILE] [-d DOCKER-ENV-FILE] [-i] [-c] [-m] [-k COMBINED-KEY]

Generate Docker daemon options based on flannel env file
OPTIONS:
\t-f\tPath to flannel env file. Defaults to /run/flannel/subnet.env
\t-d\tPath to Docker env file to write to. Defaults to /run/docker_opts.env
\t-i\tOutput each Docker option as individual var. e.g. DOCKER_OPT_MTU=1500
\t-c\tOutput combined Docker options into DOCKER_OPTS var
\t-k\tSet the combined options key to this value (default DOCKER_OPTS=)
\t-m\tDo not output --ip-masq (useful for older Docker version)
`;

/** Where the command reads routes from (a test may point it at a recorded file). */
export interface DockerOptsIo {
  readonly procNetRoute?: string;
}

/**
 * `flannel-docker-opts`, a drop-in for upstream's mk-docker-opts.sh (SPEC 5.3): same flags, same
 * output bytes, same errors. Two deliberate differences: the output file is written atomically,
 * and a missing flannel env file is an error instead of silently producing empty options.
 * Resolves to the exit status and what to print on stderr.
 */
export async function runDockerOptsCli(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: DockerOptsIo = {},
): Promise<{ code: number; stderr: string }> {
  const program = new Command(PROG)
    .helpOption(false)
    .option('-f <file>', 'flannel env file', '/run/flannel/subnet.env')
    .option('-d <file>', 'Docker env file', '/run/docker_opts.env')
    .option('-i', 'individual vars')
    .option('-c', 'combined var')
    .option('-m', 'no --ip-masq')
    .option('-k <key>', 'combined key', 'DOCKER_OPTS')
    .option('-h', 'usage')
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  let o: { f: string; d: string; i?: true; c?: true; m?: true; k: string; h?: true };
  try {
    program.parse(argv, { from: 'user' });
    o = program.opts();
  } catch (err) {
    const msg =
      err instanceof CommanderError ? err.message.replace(/^error: /, '') : errorMessage(err);
    return { code: 1, stderr: `${PROG}: ${msg}\n${USAGE}` };
  }
  if (o.h || program.args.length > 0) return { code: 1, stderr: USAGE };
  let text: string;
  try {
    text = await readFile(o.f, 'utf8');
  } catch (err) {
    return {
      code: 1,
      stderr: `${PROG}: cannot read flannel env file ${o.f}: ${errorMessage(err)} (is flanneld running and writing it?)\n`,
    };
  }
  const vars = Object.fromEntries(parseEnvLines(text).vars);
  let out: string;
  try {
    out = renderDockerOpts(vars, env, {
      individual: !!o.i,
      combined: !!o.c,
      combinedKey: o.k,
      ipMasq: !o.m,
    });
  } catch (err) {
    if (err instanceof InvalidIpMasqError) return { code: 1, stderr: `${err.message}\n` };
    throw err;
  }
  try {
    await writeFileAtomic(o.d, out, 0o644);
  } catch (err) {
    return { code: 1, stderr: `${PROG}: ${errorMessage(err)}\n` };
  }
  const subnet = vars['FLANNEL_SUBNET'];
  if (subnet) {
    const routes = await readFile(io.procNetRoute ?? '/proc/net/route', 'utf8').catch(() => '');
    const conflicts = conflictingRoutes(subnet, routes);
    if (conflicts.length > 0) {
      return {
        code: 1,
        stderr: `Your routing table already contains the subnet: ${conflicts.join('\n')}\n`,
      };
    }
  }
  return { code: 0, stderr: '' };
}
