export type {
  Backend,
  BackendContext,
  BackendFactory,
  BackendLeaseData,
  ExternalInterface,
} from './backend';
export { createAllocBackend } from './alloc-backend';
export { IpBinaryNotFoundError, IpCommandError } from './ip-runner';
export type { FailedBatchLine, IpCommandFailure, IpRunner } from './ip-runner';
export { createExecIpRunner } from './exec-ip-runner';
export type { ExecIpRunnerOptions } from './exec-ip-runner';
export type { DataPlane, SyncReport } from './backend';
export { BackendConfigError } from './backend-options';
export { applyDataPlane } from './apply';
export type { DataPlaneRunners } from './apply';
export { EMPTY_STATE, makeState, stateSize } from './kernel-state';
export type { DataPlaneState, FdbEntry, NeighbourEntry, RouteEntry } from './kernel-state';
export { planDataPlane } from './plan';
export type { DataPlaneOp } from './plan';
export { readDataPlaneState } from './read-state';
export type { OwnedScope } from './read-state';
export { Reconciler } from './reconciler';
export type { ReconcileReport } from './reconciler';
export { createVxlanBackend, DEFAULT_VXLAN_PORT, VXLAN_OVERHEAD } from './vxlan/vxlan-backend';
export { vxlanDesiredState } from './vxlan/vxlan-desired';
export type { VxlanTopology } from './vxlan/vxlan-desired';
export { createHostGwBackend, HOST_GW_NAT_MESSAGE } from './host-gw/host-gw-backend';
export { hostGwDesiredState } from './host-gw/host-gw-desired';
export {
  FORWARD_CHAIN,
  MASQ_CHAIN,
  formatRule,
  forwardRules,
  masqRules,
  missingRules,
  renderRestore,
  tablesOf,
} from './iptables/iptables-rules';
export type { IptablesRule, IptablesTable, RenderRestoreOptions } from './iptables/iptables-rules';
export { createIptablesRunner, IptablesError } from './iptables/iptables-runner';
export type { IptablesRunner, IptablesRunnerOptions } from './iptables/iptables-runner';
export { createIptablesManager, planIptables } from './iptables/iptables-manager';
export type {
  IptablesManager,
  IptablesManagerOptions,
  IptablesPlan,
  IptablesPlanInput,
} from './iptables/iptables-manager';
export { mergePeerEntries, peerKey } from './peer-entries';
export type { PeerEntries } from './peer-entries';
export { PeerProgrammer } from './peer-programmer';
export { vxlanPeerEntries } from './vxlan/vxlan-desired';
export { hostGwPeerEntries } from './host-gw/host-gw-desired';
