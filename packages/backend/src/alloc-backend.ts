import type { Backend, BackendFactory } from './backend';

/**
 * The `alloc` backend (SPEC 4.7): lease a subnet and write the subnet file, no data path. Its lease
 * carries no BackendType, exactly as upstream's; containers use the external interface's MTU.
 */
export const createAllocBackend: BackendFactory = (context): Backend => ({
  type: 'alloc',
  mtu: context.iface.mtu,
  register: () => Promise.resolve({}),
  start: () => Promise.resolve(undefined),
});
