import { FlannelError } from '@flannel-ts/core';

/**
 * A configured command failed (its exit status, stderr, or the timeout). Retried: the command or
 * what it depends on may be fixed meanwhile, and an operator can read why in the log, in
 * `/readyz` and in `flanneld status`.
 */
export class ExtensionCommandError extends FlannelError {
  constructor(message: string) {
    super('EXTENSION_COMMAND', message, { disposition: 'retry' });
  }
}
