import { jsonField } from '@flannel-ts/core';
import { BackendConfigError, intOption } from '../backend-options';

/**
 * How the devices carry the two families (upstream `Mode`): `separate` gives IPv4 `flannel-wg` and
 * IPv6 `flannel-wg-v6`; the others put both families on `flannel-wg` and pick each peer's endpoint
 * by IPv4 (`ipv4`), IPv6 (`ipv6`) or per peer (`auto`).
 */
export type WireguardMode = 'separate' | 'auto' | 'ipv4' | 'ipv6';

/** The wireguard backend's options, with upstream's defaults. */
export interface WireguardOptions {
  /** UDP port of `flannel-wg` (51820); also what BackendData advertises. */
  readonly listenPort: number;
  /** UDP port of `flannel-wg-v6` (51821); also what BackendV6Data advertises. */
  readonly listenPortV6: number;
  /** The underlay MTU the device MTU is derived from (the external interface's when not set). */
  readonly mtu: number | undefined;
  /** Base64 preshared key for every peer, when set. */
  readonly psk: string | undefined;
  /** Seconds; 0 disables it. */
  readonly persistentKeepaliveSeconds: number;
  readonly mode: WireguardMode;
}

/** The option names, as upstream spells them (matched case-insensitively). */
export const WIREGUARD_OPTION_NAMES = [
  'PSK',
  'ListenPort',
  'ListenPortV6',
  'MTU',
  'Mode',
  'PersistentKeepaliveInterval',
] as const;

const MODES: readonly WireguardMode[] = ['separate', 'auto', 'ipv4', 'ipv6'];

/** A WireGuard key: 32 bytes in standard base64 (44 characters). */
export function isWgKey(text: string): boolean {
  return /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(text);
}

/**
 * Parses the `Backend` object (port of upstream pkg/backend/wireguard/wireguard.go
 * RegisterNetwork's config): names match case-insensitively as Go's JSON does, `Mode` is
 * case-sensitive as upstream compares it, and `PersistentKeepaliveInterval` is a whole number of
 * seconds (upstream multiplies the decoded number by a second).
 */
export function parseWireguardOptions(
  options: Readonly<Record<string, unknown>>,
): WireguardOptions {
  const listenPort = intOption(options, 'ListenPort', 1, 65_535) ?? 51820;
  const listenPortV6 = intOption(options, 'ListenPortV6', 1, 65_535) ?? 51821;
  const mtu = intOption(options, 'MTU', 68 + WIREGUARD_OVERHEAD, 65_535);
  const keepalive = intOption(options, 'PersistentKeepaliveInterval', 0, 65_535) ?? 0;
  const rawPsk = jsonField(options, 'PSK');
  let psk: string | undefined;
  if (rawPsk !== undefined && rawPsk !== null && rawPsk !== '') {
    if (typeof rawPsk !== 'string' || !isWgKey(rawPsk.trim())) {
      throw new BackendConfigError(
        'Backend.PSK: must be a WireGuard key (32 bytes in base64, as `wg genpsk` prints)',
      );
    }
    psk = rawPsk.trim();
  }
  const rawMode = jsonField(options, 'Mode');
  const mode = rawMode === undefined || rawMode === null || rawMode === '' ? 'separate' : rawMode;
  if (typeof mode !== 'string' || !MODES.includes(mode as WireguardMode)) {
    throw new BackendConfigError(
      `Backend.Mode=${JSON.stringify(rawMode)}: must be one of ${MODES.join(', ')}`,
    );
  }
  return {
    listenPort,
    listenPortV6,
    mtu,
    psk,
    persistentKeepaliveSeconds: keepalive,
    mode: mode as WireguardMode,
  };
}

/**
 * What the device MTU is below the underlay's (upstream wireguard_network.go `overhead = 80`): outer
 * IPv6 40 + UDP 8 + WireGuard 32. `FLANNEL_MTU` is the device's.
 */
export const WIREGUARD_OVERHEAD = 80;
