export { InMemoryLeaseStore } from './in-memory-lease-store';
export { freePort, startEtcd } from './etcd-server';
export type { EtcdServer, EtcdTlsOptions } from './etcd-server';
