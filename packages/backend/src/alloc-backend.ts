import type { Cidr } from '@flannel-ts/core';
import type { Backend, BackendFactory } from './backend';
import { blackholeOf, createPeerDataPlane } from './engine/peer-data-plane';

/**
 * The `alloc` backend (SPEC 4.7): lease a subnet and write the subnet file, no data path. Its lease
 * carries no BackendType, exactly as upstream's; containers use the external interface's MTU.
 * With `--ip-blackhole-route` it gets the one data plane every backend shares, holding no peer
 * entries and just that route, so the route is kept (and repaired) exactly as vxlan's and
 * host-gw's; without it there is no data plane at all, as before.
 */
export const createAllocBackend: BackendFactory = (ctx): Backend => ({
  type: 'alloc',
  mtu: ctx.iface.mtu,
  register: () => Promise.resolve({}),
  start: (own, networks) =>
    Promise.resolve(
      ctx.blackholeRoute
        ? createPeerDataPlane({
            runners: ctx.runners,
            scope: { routeDevices: [], networks: [networks.ipv4, networks.ipv6].filter(isCidr) },
            logger: ctx.logger,
            blackhole: blackholeOf(ctx, own, networks),
          })
        : undefined,
    ),
});

function isCidr(c: Cidr | undefined): c is Cidr {
  return c !== undefined;
}
