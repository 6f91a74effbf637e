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

/**
 * Makes sure the VXLAN device exists as specified and is up. A compatible existing device is reused
 * with its MAC, so a restarted agent keeps its VTEP MAC and peers need no update; an incompatible
 * one is replaced. `mac` (the MAC we already advertise) is given to a re-created device, so
 * rebuilding a device someone deleted does not change what peers know.
 */
export async function ensureVxlanDevice(
  ip: IpRunner,
  spec: VxlanDeviceSpec,
  logger: Logger,
  options: { mac?: string | undefined; signal?: AbortSignal; quiet?: boolean } = {},
): Promise<{ link: LinkInfo; created: boolean }> {
  const existing = await readLink(ip, spec.name, options.signal);
  let created = false;
  if (existing && isCompatible(existing, spec)) {
    if (!options.quiet) {
      logger.info('VXLAN device already exists; reusing it and its MAC', {
        device: spec.name,
        mac: existing.mac,
      });
    }
  } else {
    if (existing) {
      logger.warn('replacing incompatible device', {
        device: spec.name,
        kind: existing.kind ?? 'unknown',
        ...existing.data,
      });
      await ip.run(['link', 'del', 'dev', spec.name], options.signal);
    }
    await ip.run(
      [
        'link',
        'add',
        spec.name,
        ...(options.mac ? ['address', options.mac] : []),
        'type',
        'vxlan',
        'id',
        String(spec.vni),
        'local',
        spec.localIp,
        'dev',
        spec.underlay,
        'dstport',
        String(spec.port),
        spec.learning ? 'learning' : 'nolearning',
        ...(spec.gbp ? ['gbp'] : []),
      ],
      options.signal,
    );
    created = true;
  }
  await ip.run(['link', 'set', 'dev', spec.name, 'mtu', String(spec.mtu), 'up'], options.signal);
  const link = await readLink(ip, spec.name, options.signal);
  if (!link) throw new Error(`device ${spec.name} vanished while it was being set up`);
  if (created)
    logger.info('created VXLAN device', {
      device: spec.name,
      mac: link.mac,
      vni: spec.vni,
      port: spec.port,
    });
  return { link, created };
}
