import { readFile, writeFile } from 'node:fs/promises';
import type { Logger } from '@flannel-ts/core';
import { FlannelError, errorMessage } from '@flannel-ts/core';

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

/** Turns on IPv4 forwarding (a host routing container traffic needs it), if it is not on already. */
export async function enableIpForwarding(logger: Logger): Promise<void> {
  try {
    if ((await readFile(IP_FORWARD, 'utf8')).trim() === '1') return;
    await writeFile(IP_FORWARD, '1\n');
    logger.info('enabled IPv4 forwarding', { sysctl: 'net.ipv4.ip_forward' });
  } catch (err) {
    throw new FlannelError(
      'SYSCTL',
      `cannot enable IPv4 forwarding (${IP_FORWARD}): ${errorMessage(err)}; run flanneld as root`,
      { cause: err },
    );
  }
}
