export { formatConfigIssue, parseNetworkConfig } from './network-config';
export type {
  BackendConfig,
  ConfigIssue,
  NetworkConfig,
  NetworkConfigResult,
  SubnetRange,
} from './network-config';
export { decideAllocation, fitsConfig, pickFreeSubnet } from './allocator';
export type { AllocationDecision, AllocationInput } from './allocator';
export { CONFIG_NOT_FOUND, loadNetworkConfig } from './config-loader';
export type { LoadNetworkConfigOptions } from './config-loader';
export {
  LeaseLostError,
  StoreConfigError,
  StoreUnavailableError,
  SubnetExhaustedError,
} from './errors';
export { createEtcdConnectionState } from './etcd-connection-state';
export type {
  ConnectionStatus,
  EtcdConnectionState,
  EtcdConnectionStateOptions,
} from './etcd-connection-state';
export { createEtcdLeaseStore, normalizePrefix } from './etcd-lease-store';
export type { EtcdLeaseStoreOptions } from './etcd-lease-store';
export type { EtcdConnectionOptions } from './etcd-tls';
export { DEFAULT_LEASE_TTL_SECONDS, LeaseManager, describeSubnets } from './lease-manager';
export type { AcquireRequest, HeldLease, LeaseManagerOptions } from './lease-manager';
export type {
  ConfigRead,
  CreateResult,
  LeaseBatch,
  LeaseEvent,
  LeaseListing,
  LeaseStore,
  SkippedKey,
  StoredLease,
  UpdateResult,
} from './lease-store';
export { PeerSet } from './peer-set';
export type { PeerSetOptions } from './peer-set';
export {
  MAX_LEASE_VALUE_BYTES,
  readLeaseKey,
  readLeaseKeyValue,
  validatePeerLease,
} from './lease-validation';
export type { LeaseRead, LeaseRejection, PeerLeaseContext } from './lease-validation';
