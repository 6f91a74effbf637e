import { FlannelError, jsonField } from '@flannel-ts/core';

/** A backend option has the wrong type or value. */
export class BackendConfigError extends FlannelError {
  constructor(message: string) {
    super('BACKEND_CONFIG', message);
  }
}

/** Reads an optional integer option (names match case-insensitively, as Go's JSON decoding). */
export function intOption(
  options: Readonly<Record<string, unknown>>,
  name: string,
  min: number,
  max: number,
): number | undefined {
  const v = jsonField(options, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new BackendConfigError(
      `Backend.${name}=${JSON.stringify(v)}: must be an integer from ${min} to ${max}`,
    );
  }
  return v;
}

/** Reads an optional boolean option. */
export function boolOption(options: Readonly<Record<string, unknown>>, name: string): boolean {
  const v = jsonField(options, name);
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean')
    throw new BackendConfigError(`Backend.${name}=${JSON.stringify(v)}: must be true or false`);
  return v;
}
