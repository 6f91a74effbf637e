import { FlannelError } from '@flannel-ts/core';
import type { Backend, BackendFactory, DataPlane } from '../backend';
import { blackholeOf, createPeerDataPlane } from '../engine/peer-data-plane';
import { connectedTo } from '../peers';
import { hostGwPeerEntries } from './host-gw-desired';

/** Upstream's refusal text when the public IP is not the interface's (SPEC 4.2). */
export const HOST_GW_NAT_MESSAGE =
  "your PublicIP differs from interface IP, meaning that probably you're on a NAT, which is not supported by host-gw backend";

/** The host-gw backend (SPEC 4.2): peers' subnets routed via their public IPs; no device. */
export const createHostGwBackend: BackendFactory = (ctx): Backend => {
  const { iface, logger, runners } = ctx;
  return {
    type: 'host-gw',
    mtu: iface.mtu,
    register() {
      const v4 = iface.ipv4;
      if (v4 && v4.publicIp !== v4.address) {
        return Promise.reject(
          new FlannelError(
            'BACKEND_CONFIG',
            `${HOST_GW_NAT_MESSAGE} (public IP ${v4.publicIp}, ${iface.name} has ${v4.address})`,
          ),
        );
      }
      return Promise.resolve({ backendType: 'host-gw' });
    },
    async start(own, network, signal): Promise<DataPlane> {
      const connected = await connectedTo(runners.ip, iface, signal);
      return createPeerDataPlane({
        runners,
        scope: { routeDevices: [iface.name], network },
        entriesFor: (p) => hostGwPeerEntries(p, iface.name, connected),
        logger,
        blackhole: blackholeOf(ctx, own),
      });
    },
  };
};
