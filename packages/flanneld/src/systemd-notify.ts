import { execFile } from 'node:child_process';
import type { Logger } from '@flannel-ts/core';
import { errorMessage } from '@flannel-ts/core';

/**
 * Tells systemd the agent is ready (`READY=1`), when started as a `Type=notify` service. Node cannot
 * send on the unix datagram NOTIFY_SOCKET itself, so this runs `systemd-notify --ready` with
 * `--pid` naming this process: systemd then attributes the message to our main PID (root may send
 * such credentials), so no race with the helper's exit and no `NotifyAccess=all` is needed.
 */
export async function notifyReady(
  env: Readonly<Record<string, string | undefined>>,
  logger: Logger,
): Promise<void> {
  if (!env['NOTIFY_SOCKET']) return;
  await new Promise<void>((resolve) => {
    execFile('systemd-notify', ['--ready', `--pid=${process.pid}`], (err) => {
      if (err)
        logger.warn('could not notify systemd that flanneld is ready', {
          error: errorMessage(err),
        });
      else logger.info('notified systemd: READY=1');
      resolve();
    });
  });
}
