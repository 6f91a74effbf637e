import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FlannelError, errorMessage } from '@flannel-ts/core';
import { parseSubnetEnv } from './subnet-env';
import type { PreviousSubnetEnv } from './subnet-env';

/** Writing a file failed; the previous file (if any) is untouched. */
export class FileWriteError extends FlannelError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('FILE_WRITE', message, options);
  }
}

/**
 * Writes a file atomically: a temporary file in the same directory, fsync, rename. Readers see the
 * old file or the new one, never half of one. Mode is set explicitly (umask does not apply); the
 * parent directory is created 0755 if missing.
 */
export async function writeFileAtomic(path: string, content: string, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(content);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(tmp, mode);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new FileWriteError(`cannot write ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

/** The previous subnet file, or undefined when there is none yet; unreadable ⇒ a problem, not a throw. */
export async function readPreviousSubnetEnv(path: string): Promise<PreviousSubnetEnv | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return { problems: [`cannot read it: ${errorMessage(err)}`] };
  }
  return parseSubnetEnv(text);
}
