import { FlannelError } from '@flannel-ts/core';
import type { Backend, BackendFactory, DataPlane } from '../backend';
import { boolOption, intOption } from '../backend-options';
import { ensureSubnetAddress, readLink } from '../links';
import { connectedNetworks } from '../peers';
import { PeerProgrammer } from '../peer-programmer';
import { readDataPlaneState } from '../read-state';
import { Reconciler } from '../reconciler';
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
    localIp: iface.address,
    underlay: iface.name,
    port,
    gbp: boolOption(options, 'GBP'),
    learning: boolOption(options, 'Learning'),
    mtu: underlayMtu - VXLAN_OVERHEAD,
  };
  let mac: string | undefined;
  return {
    type: 'vxlan',
    mtu: spec.mtu,
    async register(signal) {
      const { link } = await ensureVxlanDevice(runners.ip, spec, logger, { signal });
      mac = link.mac;
      return { backendType: 'vxlan', backendData: { VNI: vni, VtepMAC: link.mac } };
    },
    async start(own, network, signal): Promise<DataPlane> {
      const ext = await readLink(runners.ip, iface.name, signal);
      const connected = ext ? connectedNetworks(ext) : [];
      const scope = {
        routeDevices: directRouting ? [spec.name, iface.name] : [spec.name],
        vxlanDevice: spec.name,
        network,
      };
      const reconciler = new Reconciler(
        runners,
        (s) => readDataPlaneState(runners, scope, s),
        logger,
      );
      const ensureDevice = async (quiet: boolean, s?: AbortSignal): Promise<void> => {
        const r = await ensureVxlanDevice(runners.ip, spec, logger, { mac, signal: s, quiet });
        if (mac && r.link.mac !== mac) {
          throw new FlannelError(
            'VTEP_MAC_CHANGED',
            `${spec.name} has MAC ${r.link.mac} but our lease advertises ${mac}; restart flanneld to advertise the new one`,
          );
        }
        if (r.created && quiet) {
          logger.warn(
            'VXLAN device was missing or changed; rebuilt it and re-programming every peer',
            { device: spec.name },
          );
          reconciler.invalidate();
        }
        await ensureSubnetAddress(runners.ip, r.link, own.subnets.ipv4, network, s);
      };
      await ensureDevice(false, signal);
      const topo = { device: spec.name, externalDevice: iface.name, connected, directRouting };
      const programmer = new PeerProgrammer(
        reconciler,
        runners,
        (p) => vxlanPeerEntries(p, topo),
        logger,
      );
      return {
        async sync(peers, full, s, changed) {
          if (full) await ensureDevice(true, s);
          return programmer.sync(peers, full, s, changed);
        },
      };
    },
  };
};
