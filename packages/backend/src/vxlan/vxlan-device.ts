import { FlannelError } from '@flannel-ts/core';
import type { Logger } from '@flannel-ts/core';
import { IpCommandError, saysDeviceMissing } from '../ip-runner';
import type { IpRunner } from '../ip-runner';
import { readLink } from '../links';
import type { LinkInfo } from '../links';

/** How `flannel.<VNI>` (IPv4) or `flannel-v6.<VNI>` (IPv6) must look (SPEC 4.1). */
export interface VxlanDeviceSpec {
  readonly name: string;
  readonly vni: number;
  /**
   * The local (source) address of encapsulated packets: the external interface's address of the
   * device's family (iproute2 infers the family from it; `ip -d` shows it as `local` or `local6`).
   */
  readonly localIp: string;
  readonly underlay: string;
  /** UDP destination port; 8472 is the kernel's (and flannel's) default. */
  readonly port: number;
  readonly gbp: boolean;
  readonly learning: boolean;
  readonly mtu: number;
}

/** The local address of a VXLAN device as `ip -d -json` shows it: `local`, or `local6` for IPv6. */
function localOf(d: Readonly<Record<string, unknown>>): unknown {
  return d['local'] ?? d['local6'];
}

/** True when an existing device can be reused as is (unset values do not conflict, as upstream). */
export function isCompatible(link: LinkInfo, spec: VxlanDeviceSpec): boolean {
  const d = link.data;
  return (
    link.kind === 'vxlan' &&
    d['id'] === spec.vni &&
    (localOf(d) === undefined || localOf(d) === spec.localIp) &&
    (d['link'] === undefined || d['link'] === spec.underlay) &&
    (d['port'] === undefined || d['port'] === spec.port) &&
    Boolean(d['gbp']) === spec.gbp &&
    (d['learning'] === undefined || d['learning'] === spec.learning)
  );
}

/** What {@link ensureVxlanDevice} found and did. */
export interface EnsuredDevice {
  readonly link: LinkInfo;
  /** The device was (re)created: it holds no entries. */
  readonly created: boolean;
  /** The device existed but was down: the kernel flushed the routes on it. */
  readonly wasDown: boolean;
}

/** How often creating the device is attempted when another process changes it meanwhile. */
const CREATE_ATTEMPTS = 3;

/** How {@link ensureVxlanDevice} is to proceed: the MAC to give a re-created device, quiet repairs. */
export type EnsureOptions = { mac?: string | undefined; signal?: AbortSignal; quiet?: boolean };

/**
 * Makes sure the VXLAN device exists as specified and is up. A compatible existing device is reused
 * with its MAC, so a restarted agent keeps its VTEP MAC and peers need no update; an incompatible
 * one is replaced. `mac` (the MAC we already advertise) is given to a re-created device, so
 * rebuilding a device someone deleted does not change what peers know. One read of the device;
 * changes go through the `ip` batch (no process start); a created device is read back once for
 * its MAC and addresses.
 *
 * Creation is idempotent: when another process (a second flanneld starting at the same moment)
 * creates or deletes the device between our read and our `link add`, iproute2 answers `File
 * exists` (or `Cannot find device`); the device is then read again and adopted if compatible, or
 * replaced, up to {@link CREATE_ATTEMPTS} times, then a retryable error is thrown.
 */
export async function ensureVxlanDevice(
  ip: IpRunner,
  spec: VxlanDeviceSpec,
  logger: Logger,
  options: EnsureOptions = {},
): Promise<EnsuredDevice> {
  let existing = await readLink(ip, spec.name, options.signal);
  let raced = false;
  for (let attempt = 1; ; attempt++) {
    if (existing && isCompatible(existing, spec)) {
      return reuse(ip, existing, spec, { logger, adopted: raced, ...options });
    }
    try {
      await ip.batch(createLines(spec, existing, logger, options.mac), options.signal);
    } catch (err) {
      const lost = err instanceof IpCommandError && isRace(err);
      if (!lost) throw err;
      raced = true;
      if (attempt >= CREATE_ATTEMPTS) {
        throw new FlannelError(
          'VXLAN_DEVICE_RACE',
          `${spec.name} kept changing while it was being created (is another flanneld or a script managing it?): ${err.message}`,
          { cause: err, retryable: true },
        );
      }
      existing = await readLink(ip, spec.name, options.signal);
      continue;
    }
    const link = await readLink(ip, spec.name, options.signal);
    if (!link) {
      throw new FlannelError(
        'VXLAN_DEVICE_VANISHED',
        `device ${spec.name} vanished while it was being set up (deleted by another process?)`,
        { retryable: true },
      );
    }
    logger.info('created VXLAN device', {
      device: spec.name,
      mac: link.mac,
      vni: spec.vni,
      port: spec.port,
    });
    return { link, created: true, wasDown: false };
  }
}

/** True when every line iproute2 refused was refused because the device changed meanwhile. */
function isRace(err: IpCommandError): boolean {
  return (
    err.failedLines.length > 0 &&
    err.failedLines.every((l) => /File exists/i.test(l.message) || saysDeviceMissing(l.message))
  );
}

/**
 * Reuses a compatible device, bringing it up with our MTU if needed. A device that appeared while
 * we were creating it (`adopted`) is always reported; a device found at the first read is reported
 * unless `quiet` (the repair path).
 */
async function reuse(
  ip: IpRunner,
  existing: LinkInfo,
  spec: VxlanDeviceSpec,
  options: EnsureOptions & { logger: Logger; adopted: boolean },
): Promise<EnsuredDevice> {
  const fields = { device: spec.name, mac: existing.mac };
  if (options.adopted) {
    options.logger.info(
      'VXLAN device was created by another process meanwhile; adopting it',
      fields,
    );
  } else if (!options.quiet) {
    options.logger.info('VXLAN device already exists; reusing it and its MAC', fields);
  }
  if (existing.up && existing.mtu === spec.mtu) {
    return { link: existing, created: false, wasDown: false };
  }
  await ip.batch([`link set dev ${spec.name} mtu ${spec.mtu} up`], options.signal);
  return { link: { ...existing, mtu: spec.mtu, up: true }, created: false, wasDown: !existing.up };
}

/** The batch that (re)creates the device: delete an incompatible one, add, set MTU and up. */
function createLines(
  spec: VxlanDeviceSpec,
  existing: LinkInfo | undefined,
  logger: Logger,
  mac: string | undefined,
): string[] {
  const lines: string[] = [];
  if (existing) {
    logger.warn('replacing incompatible device', {
      device: spec.name,
      kind: existing.kind ?? 'unknown',
      ...existing.data,
    });
    lines.push(`link del dev ${spec.name}`);
  }
  lines.push(
    [
      'link add',
      spec.name,
      ...(mac ? ['address', mac] : []),
      `type vxlan id ${spec.vni} local ${spec.localIp} dev ${spec.underlay} dstport ${spec.port}`,
      spec.learning ? 'learning' : 'nolearning',
      ...(spec.gbp ? ['gbp'] : []),
    ].join(' '),
    `link set dev ${spec.name} mtu ${spec.mtu} up`,
  );
  return lines;
}
