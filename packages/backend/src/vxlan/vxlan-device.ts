import type { Logger } from '@flannel-ts/core';
import type { IpRunner } from '../ip-runner';
import { readLink } from '../links';
import type { LinkInfo } from '../links';

/** How `flannel.<VNI>` must look (SPEC 4.1). */
export interface VxlanDeviceSpec {
  readonly name: string;
  readonly vni: number;
  /** The local (source) address of encapsulated packets: the external interface's address. */
  readonly localIp: string;
  readonly underlay: string;
  /** UDP destination port; 8472 is the kernel's (and flannel's) default. */
  readonly port: number;
  readonly gbp: boolean;
  readonly learning: boolean;
  readonly mtu: number;
}

/** True when an existing device can be reused as is (unset values do not conflict, as upstream). */
export function isCompatible(link: LinkInfo, spec: VxlanDeviceSpec): boolean {
  const d = link.data;
  return (
    link.kind === 'vxlan' &&
    d['id'] === spec.vni &&
    (d['local'] === undefined || d['local'] === spec.localIp) &&
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

/**
 * Makes sure the VXLAN device exists as specified and is up. A compatible existing device is reused
 * with its MAC, so a restarted agent keeps its VTEP MAC and peers need no update; an incompatible
 * one is replaced. `mac` (the MAC we already advertise) is given to a re-created device, so
 * rebuilding a device someone deleted does not change what peers know. One read of the device;
 * changes go through the `ip` batch (no process start); a created device is read back once for
 * its MAC and addresses.
 */
export async function ensureVxlanDevice(
  ip: IpRunner,
  spec: VxlanDeviceSpec,
  logger: Logger,
  options: { mac?: string | undefined; signal?: AbortSignal; quiet?: boolean } = {},
): Promise<EnsuredDevice> {
  const existing = await readLink(ip, spec.name, options.signal);
  const setUp = `link set dev ${spec.name} mtu ${spec.mtu} up`;
  if (existing && isCompatible(existing, spec)) {
    if (!options.quiet) {
      logger.info('VXLAN device already exists; reusing it and its MAC', {
        device: spec.name,
        mac: existing.mac,
      });
    }
    if (existing.up && existing.mtu === spec.mtu) {
      return { link: existing, created: false, wasDown: false };
    }
    await ip.batch([setUp], options.signal);
    return {
      link: { ...existing, mtu: spec.mtu, up: true },
      created: false,
      wasDown: !existing.up,
    };
  }
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
      ...(options.mac ? ['address', options.mac] : []),
      `type vxlan id ${spec.vni} local ${spec.localIp} dev ${spec.underlay} dstport ${spec.port}`,
      spec.learning ? 'learning' : 'nolearning',
      ...(spec.gbp ? ['gbp'] : []),
    ].join(' '),
    setUp,
  );
  await ip.batch(lines, options.signal);
  const link = await readLink(ip, spec.name, options.signal);
  if (!link) throw new Error(`device ${spec.name} vanished while it was being set up`);
  logger.info('created VXLAN device', {
    device: spec.name,
    mac: link.mac,
    vni: spec.vni,
    port: spec.port,
  });
  return { link, created: true, wasDown: false };
}
