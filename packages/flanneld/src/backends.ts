import type { Logger } from '@flannel-ts/core';
import type { BackendFactory } from '@flannel-ts/backend';
import { createAllocBackend, createHostGwBackend, createVxlanBackend } from '@flannel-ts/backend';
import { COMMAND_NAMES, createExtensionBackend } from '@flannel-ts/backend';
import { createWireguardBackend, WIREGUARD_OPTION_NAMES } from '@flannel-ts/backend';
import type { ConfigIssue, NetworkConfig } from '@flannel-ts/subnet';

/** A backend this agent runs: its factory and the `Backend` options it understands. */
export interface BackendEntry {
  readonly create: BackendFactory;
  /** Option names as upstream spells them (matched case-insensitively, as Go's JSON does). */
  readonly options: readonly string[];
}

/** The backends this agent can run, by config `Backend.Type` (explicit table, no self-registration). */
export const BACKENDS: Readonly<Record<string, BackendEntry>> = {
  alloc: { create: createAllocBackend, options: [] },
  vxlan: {
    create: createVxlanBackend,
    options: ['VNI', 'Port', 'MTU', 'DirectRouting', 'GBP', 'Learning'],
  },
  'host-gw': { create: createHostGwBackend, options: [] },
  extension: { create: createExtensionBackend, options: COMMAND_NAMES },
  wireguard: { create: createWireguardBackend, options: WIREGUARD_OPTION_NAMES },
};

/** Upstream's backend options that this agent does not use, by backend: name → why. */
const NOT_USED: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  vxlan: { MacPrefix: 'upstream reads it on Windows only' },
  extension: {
    ShutdownCommand: 'upstream does not implement it either (only its example files name it)',
  },
};

/** The config check loadNetworkConfig applies: the backend type must be one of {@link BACKENDS}. */
export function checkBackendConfig(c: NetworkConfig): ConfigIssue[] {
  if (Object.hasOwn(BACKENDS, c.backend.type)) return [];
  return [
    {
      field: 'Backend.Type',
      value: c.backend.type,
      rule: `unknown backend type (this agent supports: ${Object.keys(BACKENDS).join(', ')})`,
    },
  ];
}

/**
 * Warns, by name, about every `Backend` option the chosen backend does not use: a typo, an option
 * of another backend, or one of upstream's that this agent does not implement. Never silent.
 */
export function warnUnknownBackendOptions(backend: NetworkConfig['backend'], logger: Logger): void {
  const known = new Set(['type', ...(BACKENDS[backend.type]?.options ?? [])].map(fold));
  const notUsed = new Map(
    Object.entries(NOT_USED[backend.type] ?? {}).map(([k, why]) => [fold(k), why]),
  );
  for (const name of Object.keys(backend.options)) {
    if (known.has(fold(name))) continue;
    const why = notUsed.get(fold(name));
    logger.warn(
      why === undefined
        ? `Backend option ${name} is not an option of the ${backend.type} backend; it is ignored (check its spelling)`
        : `Backend option ${name} is ignored: ${why}`,
      { backend: backend.type, option: name },
    );
  }
}

const fold = (s: string): string => s.toLowerCase();
