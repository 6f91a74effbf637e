import { writeFile } from 'node:fs/promises';

/**
 * Writes kernel parameters of the agent's network namespace (`/proc/sys/net` is per namespace:
 * the one of the process that opens the file). Keys are paths under `/proc/sys`, with `/` as the
 * separator, because device names hold dots (`net/ipv6/conf/flannel.1/accept_ra`).
 */
export interface SysctlWriter {
  set(key: string, value: string): Promise<void>;
}

/** The real writer, on `root` (`/proc/sys`; another root for tests). */
export function createProcSysctl(root = '/proc/sys'): SysctlWriter {
  return {
    // A /proc/sys file takes the whole value in one write and cannot be replaced by a rename.
    set: (key, value) => writeFile(`${root}/${key}`, `${value}\n`),
  };
}
