export { InMemoryLeaseStore } from './in-memory-lease-store';
export { freePort, startEtcd } from './etcd-server';
export type { EtcdServer, EtcdTlsOptions } from './etcd-server';
export { startTcpProxy } from './tcp-proxy';
export type { TcpProxy } from './tcp-proxy';
