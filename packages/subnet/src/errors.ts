import { FlannelError } from '@flannel-ts/core';

/** The store could not be reached or refused the call; trying again later may succeed. */
export class StoreUnavailableError extends FlannelError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('STORE_UNAVAILABLE', message, { ...options, retryable: true });
  }
}

/** The store's credentials or TLS files are unusable: retrying cannot help until they are fixed. */
export class StoreConfigError extends FlannelError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('STORE_CONFIG', message, options);
  }
}

/** Every subnet of the range is taken. */
export class SubnetExhaustedError extends FlannelError {
  constructor(message: string) {
    super('SUBNET_EXHAUSTED', message);
  }
}

/** Our lease vanished and the same subnet could not be taken back. */
export class LeaseLostError extends FlannelError {
  constructor(message: string) {
    super('LEASE_LOST', message);
  }
}
