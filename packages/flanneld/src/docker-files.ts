import type { Logger } from '@flannel-ts/core';
import {
  fixedCidrV6,
  parseEnvLines,
  renderDockerOpts,
  updateDaemonJson,
  writeFileAtomic,
} from '@flannel-ts/docker';
import type { Config } from './config';

/**
 * Writes what dockerd needs after the subnet file (our addition to upstream, which leaves this to
 * mk-docker-opts.sh in a separate unit): the mk-docker-opts env file and/or the bridge settings in
 * daemon.json. Both are written atomically; a malformed daemon.json is left untouched and fails
 * startup with a message saying so.
 */
export async function writeDockerFiles(
  config: Config,
  subnetEnvText: string,
  logger: Logger,
): Promise<void> {
  const vars = Object.fromEntries(parseEnvLines(subnetEnvText).vars);
  if (config.dockerOptsFile) {
    const text = renderDockerOpts(
      vars,
      {},
      { individual: false, combined: false, combinedKey: 'DOCKER_OPTS', ipMasq: true },
    );
    await writeFileAtomic(config.dockerOptsFile, text, 0o644);
    logger.info('wrote docker options', { file: config.dockerOptsFile });
  }
  if (config.dockerDaemonJson) {
    const changed = await updateDaemonJson(config.dockerDaemonJson, {
      bip: vars['FLANNEL_SUBNET'] ?? '',
      mtu: Number(vars['FLANNEL_MTU']),
      ipMasq: !config.ipMasq,
      fixedCidrV6: fixedCidrV6(vars['FLANNEL_IPV6_SUBNET']),
    });
    if (changed) {
      logger.info('updated daemon.json; restart dockerd to apply it', {
        file: config.dockerDaemonJson,
      });
    }
  }
}
