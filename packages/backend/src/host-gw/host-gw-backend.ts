import type { Cidr, IpFamily } from '@flannel-ts/core';
import { FlannelError } from '@flannel-ts/core';
import type { Backend, BackendFactory, DataPlane } from '../backend';
import { blackholeOf, createPeerDataPlane } from '../engine/peer-data-plane';
import { joinFamilies } from '../peer-entries';
import { connectedTo } from '../peers';
import { hostGwPeerEntries } from './host-gw-desired';

/** Upstream's refusal text when the public IP is not the interface's (SPEC 4.2). */
export const HOST_GW_NAT_MESSAGE =
  "your PublicIP differs from interface IP, meaning that probably you're on a NAT, which is not supported by host-gw backend";

/**
 * The host-gw backend (SPEC 4.2): peers' subnets routed via their public IPs, in each family of
 * the network config (IPv6 subnets via PublicIPv6); no device.
 */
export const createHostGwBackend: BackendFactory = (ctx): Backend => {
  const { iface, logger, runners } = ctx;
  return {
    type: 'host-gw',
    mtu: iface.mtu,
    register() {
      for (const a of [iface.ipv4, iface.ipv6]) {
        if (a && a.publicIp !== a.address) {
          return Promise.reject(
            new FlannelError(
              'BACKEND_CONFIG',
              `${HOST_GW_NAT_MESSAGE} (public IP ${a.publicIp}, ${iface.name} has ${a.address})`,
            ),
          );
        }
      }
      return Promise.resolve({ backendType: 'host-gw' });
    },
    async start(own, networks, signal): Promise<DataPlane> {
      const families = (
        [
          [4, networks.ipv4],
          [6, networks.ipv6],
        ] as const
      ).filter((f): f is readonly [IpFamily, Cidr] => f[1] !== undefined);
      const connected = await Promise.all(
        families.map(([f]) => connectedTo(runners.ip, iface, signal, f)),
      );
      return createPeerDataPlane({
        runners,
        scope: { routeDevices: [iface.name], networks: families.map(([, n]) => n) },
        entriesFor: (p) =>
          joinFamilies(
            families.map(([f], i) => [f, hostGwPeerEntries(p, iface.name, connected[i]!, f)]),
          ),
        logger,
        blackhole: blackholeOf(ctx, own, networks),
      });
    },
  };
};
