import { jsonField } from '@flannel-ts/core';
import { BackendConfigError } from '../backend-options';

/** The four commands of the extension backend, by upstream's option names. */
export type CommandName =
  'PreStartupCommand' | 'PostStartupCommand' | 'SubnetAddCommand' | 'SubnetRemoveCommand';

/** The option names, in the order upstream documents them. */
export const COMMAND_NAMES: readonly CommandName[] = [
  'PreStartupCommand',
  'PostStartupCommand',
  'SubnetAddCommand',
  'SubnetRemoveCommand',
];

/** The configured commands; an absent or empty option is left out (nothing runs for it). */
export type ExtensionCommands = Readonly<Partial<Record<CommandName, string>>>;

/**
 * Reads the extension backend's options (names match case-insensitively, as Go's JSON decoding).
 * Every one is optional, as upstream's: an absent, `null` or empty command is skipped, so a config
 * with none of them leases a subnet and does nothing else. A value that is not a string is an
 * error, as it is upstream (`error decoding backend config`).
 */
export function parseExtensionOptions(
  options: Readonly<Record<string, unknown>>,
): ExtensionCommands {
  const out: Partial<Record<CommandName, string>> = {};
  for (const name of COMMAND_NAMES) {
    const v = jsonField(options, name);
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') {
      throw new BackendConfigError(
        `Backend.${name}=${JSON.stringify(v)}: must be a string (a command for sh -c); quote it in the network config`,
      );
    }
    if (v !== '') out[name] = v;
  }
  return out;
}
