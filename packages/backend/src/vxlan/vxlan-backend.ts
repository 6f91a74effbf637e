import { FlannelError } from '@flannel-ts/core';
import { ipv4Of } from '../backend';
import type { Backend, BackendFactory, DataPlane } from '../backend';
import { boolOption, intOption } from '../backend-options';
import { blackholeOf, createPeerDataPlane } from '../engine/peer-data-plane';
import type { ManagedDevice } from '../engine/peer-data-plane';
import { ensureSubnetAddress } from '../links';
import type { LinkInfo } from '../links';
import { connectedTo } from '../peers';
import { ensureVxlanDevice } from './vxlan-device';
import type { VxlanDeviceSpec } from './vxlan-device';
import { vxlanPeerEntries } from './vxlan-desired';

/** Kernel default VXLAN port, used by flannel when `Port` is 0 or unset. */
export const DEFAULT_VXLAN_PORT = 8472;
/** VXLAN encapsulation overhead on an IPv4 underlay (outer IP 20 + UDP 8 + VXLAN 8 + Ethernet 14). */
export const VXLAN_OVERHEAD = 50;

/**
 * The vxlan backend (SPEC 4.1). Options: VNI (1), Port (8472), GBP, Learning, MTU (the underlay
 * MTU; the device gets MTU − 50), DirectRouting.
 */
export const createVxlanBackend: BackendFactory = (ctx): Backend => {
  const { iface, options, logger, runners } = ctx;
  const vni = intOption(options, 'VNI', 0, 16_777_215) ?? 1;
  const port = intOption(options, 'Port', 0, 65_535) || DEFAULT_VXLAN_PORT;
  const underlayMtu = intOption(options, 'MTU', 68 + VXLAN_OVERHEAD, 65_535) ?? iface.mtu;
  const directRouting = boolOption(options, 'DirectRouting');
  const spec: VxlanDeviceSpec = {
    name: `flannel.${vni}`,
    vni,
    localIp: ipv4Of(iface, 'vxlan').address,
    underlay: iface.name,
    port,
    gbp: boolOption(options, 'GBP'),
    learning: boolOption(options, 'Learning'),
    mtu: underlayMtu - VXLAN_OVERHEAD,
  };
  /** The device as register() left it: start() needs no second read. */
  let registered: { link: LinkInfo; created: boolean } | undefined;
  return {
    type: 'vxlan',
    mtu: spec.mtu,
    async register(signal) {
      const r = await ensureVxlanDevice(runners.ip, spec, logger, { signal });
      registered = r;
      return { backendType: 'vxlan', backendData: { VNI: vni, VtepMAC: r.link.mac } };
    },
    async start(own, network, signal): Promise<DataPlane> {
      const first = registered ?? (await ensureVxlanDevice(runners.ip, spec, logger, { signal }));
      const mac = first.link.mac;
      const connected = await connectedTo(runners.ip, iface, signal);
      await ensureSubnetAddress(runners.ip, first.link, own.subnets.ipv4, network, signal);
      const device: ManagedDevice = {
        name: spec.name,
        needsRepair: (e) => e.deleted || !e.up || e.mtu !== spec.mtu,
        async repair(s) {
          const r = await ensureVxlanDevice(runners.ip, spec, logger, {
            mac,
            signal: s,
            quiet: true,
          });
          if (r.link.mac !== mac) {
            throw new FlannelError(
              'VTEP_MAC_CHANGED',
              `${spec.name} has MAC ${r.link.mac} but our lease advertises ${mac}; restart flanneld to advertise the new one`,
            );
          }
          if (r.created || r.wasDown) {
            logger.warn(
              'VXLAN device was missing or down; rebuilt it and re-programming every peer',
              {
                device: spec.name,
              },
            );
          }
          await ensureSubnetAddress(runners.ip, r.link, own.subnets.ipv4, network, s);
          return r.created || r.wasDown;
        },
      };
      const topo = {
        device: spec.name,
        externalDevice: iface.name,
        connected,
        directRouting,
        vni,
      };
      return createPeerDataPlane({
        runners,
        scope: {
          routeDevices: directRouting ? [spec.name, iface.name] : [spec.name],
          vxlanDevice: spec.name,
          network,
        },
        entriesFor: (p) => vxlanPeerEntries(p, topo),
        logger,
        device,
        fresh: first.created && !directRouting,
        blackhole: blackholeOf(ctx, own),
      });
    },
  };
};
