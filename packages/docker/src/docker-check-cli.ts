import { readFile } from 'node:fs/promises';
import { Command, CommanderError } from 'commander';
import { cidrEquals, errorMessage, parseCidr } from '@flannel-ts/core';
import { checkDefaultBridge, flannelNetworkSpec } from './bridge-check';
import type { LeasedBridge } from './bridge-check';
import type { DockerApi } from './docker-api';
import { parseSubnetEnv, parseEnvLines } from './subnet-env';

const PROG = 'flannel-docker-check';

/** Result of the command: exit status and the text for stdout/stderr. */
export interface CheckOutcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function leasedBridge(subnetFile: string): Promise<LeasedBridge> {
  const text = await readFile(subnetFile, 'utf8');
  const subnet = parseSubnetEnv(text).subnet;
  const mtu = Number(parseEnvLines(text).vars.get('FLANNEL_MTU'));
  if (!subnet || !Number.isInteger(mtu)) {
    throw new Error(`${subnetFile} has no usable FLANNEL_SUBNET/FLANNEL_MTU`);
  }
  return { subnet, mtu };
}

/**
 * `flannel-docker-check`: compares dockerd's default bridge with this host's lease and says exactly
 * what to change; with `--create-network NAME`, also makes sure a user-defined bridge network on the
 * flannel subnet exists (subnet = network address, gateway = .1). Exit 0 when all is well.
 */
export async function runDockerCheckCli(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  connect: (host: string) => DockerApi,
): Promise<CheckOutcome> {
  const program = new Command(PROG)
    .option('--subnet-file <file>', 'flanneld subnet file', '/run/flannel/subnet.env')
    .option('--docker-host <url>', 'dockerd address (default: $DOCKER_HOST or the standard socket)')
    .option('--create-network <name>', 'create (or check) a bridge network on the flannel subnet')
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  let o: { subnetFile: string; dockerHost?: string; createNetwork?: string };
  try {
    program.parse(argv, { from: 'user' });
    o = program.opts();
  } catch (err) {
    if (err instanceof CommanderError && err.exitCode === 0)
      return { code: 0, stdout: program.helpInformation(), stderr: '' };
    return {
      code: 2,
      stdout: '',
      stderr: `${PROG}: ${errorMessage(err)}\n${program.helpInformation()}`,
    };
  }
  const host = o.dockerHost ?? env['DOCKER_HOST'] ?? 'unix:///var/run/docker.sock';
  try {
    const want = await leasedBridge(o.subnetFile);
    const docker = connect(host);
    const bridge = await docker.inspectNetwork('bridge');
    if (!bridge)
      return {
        code: 1,
        stdout: '',
        stderr: `${PROG}: dockerd at ${host} has no default "bridge" network\n`,
      };
    const problems = checkDefaultBridge(bridge, want);
    let out =
      problems.length === 0
        ? `docker0 matches the lease: ${bridge.subnet ?? ''} gateway ${bridge.gateway ?? ''} mtu ${want.mtu}\n`
        : '';
    if (o.createNetwork) {
      const spec = flannelNetworkSpec(o.createNetwork, want);
      const existing = await docker.inspectNetwork(o.createNetwork);
      if (!existing) {
        await docker.createBridgeNetwork(spec);
        out += `created network ${spec.name}: subnet ${spec.subnet} gateway ${spec.gateway} mtu ${spec.mtu}\n`;
      } else if (!existing.subnet || !cidrEquals(parseCidr(existing.subnet)!, want.subnet)) {
        problems.push(
          `network ${o.createNetwork} exists on ${existing.subnet ?? 'no subnet'}, not ${spec.subnet}: remove it (docker network rm ${o.createNetwork}) and run again`,
        );
      } else {
        out += `network ${spec.name} already on ${spec.subnet}\n`;
      }
    }
    return {
      code: problems.length === 0 ? 0 : 1,
      stdout: out,
      stderr: problems.map((p) => `${p}\n`).join(''),
    };
  } catch (err) {
    return { code: 1, stdout: '', stderr: `${PROG}: ${errorMessage(err)}\n` };
  }
}
