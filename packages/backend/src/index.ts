export type {
  Backend,
  BackendContext,
  BackendFactory,
  BackendLeaseData,
  ExternalInterface,
  InterfaceAddress,
} from './backend';
export { ipv4Of } from './backend';
export { createAllocBackend } from './alloc-backend';
export { IpBinaryNotFoundError, IpCommandError, saysDeviceMissing } from './ip-runner';
export type { FailedBatchLine, IpCommandFailure, IpRunner } from './ip-runner';
export { BULK_BATCH_LINES, createIproute2Runner } from './kernel/iproute2-runner';
export type { Iproute2RunnerOptions } from './kernel/iproute2-runner';
export { BatchChild, DEFAULT_RECYCLE_AFTER_LINES, FENCE_LINE } from './kernel/batch-child';
export type { BatchChildOptions } from './kernel/batch-child';
export { createSpawnChild } from './kernel/child-process';
export type { ChildHandle, ChildListeners, SpawnChild } from './kernel/child-process';
export { createProcSysctl } from './kernel/sysctl';
export { createEthtool } from './kernel/ethtool';
export type { DeviceFeatures, EthtoolOptions } from './kernel/ethtool';
export {
  CHECKSUM_OFFLOAD_MODES,
  TX_CHECKSUM_FEATURE,
  checksumOffloadDecision,
  kernelHasChecksumBug,
} from './vxlan/checksum-offload';
export type { ChecksumOffloadDecision, ChecksumOffloadMode } from './vxlan/checksum-offload';
export type { SysctlWriter } from './kernel/sysctl';
export { createIproute2Monitor } from './kernel/kernel-monitor';
export type { Iproute2MonitorOptions, KernelMonitor } from './kernel/kernel-monitor';
export { parseFdbMonitorLine, parseIpMonitorLine } from './kernel/monitor-parse';
export type { MonitorEvent } from './kernel/monitor-parse';
export { KernelTable } from './engine/kernel-table';
export type {
  ApplyReport,
  EntryKind,
  KernelTableOptions,
  LocalEntries,
  Observation,
  OpFailure,
} from './engine/kernel-table';
export { createPeerDataPlane, KernelRejectedError } from './engine/peer-data-plane';
export type {
  BlackholeRouteOptions,
  ManagedDevice,
  PeerDataPlaneOptions,
} from './engine/peer-data-plane';
export type { DataPlane, PeerState, SyncReport } from './backend';
export { BackendConfigError } from './backend-options';
export { applyDataPlane } from './apply';
export type { DataPlaneRunners } from './apply';
export { BLACKHOLE_METRIC, EMPTY_STATE, makeState, stateSize } from './kernel-state';
export type {
  BlackholeEntry,
  DataPlaneState,
  FdbEntry,
  NeighbourEntry,
  RouteEntry,
} from './kernel-state';
export { planDataPlane, sameEntry } from './plan';
export type { DataPlaneOp } from './plan';
export { observationOf, readDataPlaneState } from './read-state';
export type { OwnedScope } from './read-state';
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
} from './traffic/iptables/iptables-rules';
export type {
  IptablesRule,
  IptablesTable,
  RenderRestoreOptions,
} from './traffic/iptables/iptables-rules';
export { createIptablesRunner, IptablesError } from './traffic/iptables/iptables-runner';
export type { IptablesRunner, IptablesRunnerOptions } from './traffic/iptables/iptables-runner';
export { createIptablesManager, planIptables } from './traffic/iptables/iptables-manager';
export type {
  IptablesManager,
  IptablesManagerOptions,
  IptablesPlan,
  IptablesPlanInput,
} from './traffic/iptables/iptables-manager';
export { createTrafficManager } from './traffic/create-traffic-manager';
export type { CreateTrafficManagerOptions } from './traffic/create-traffic-manager';
export type {
  FamilyNetworks,
  TrafficFamilies,
  TrafficManager,
  TrafficMode,
  TrafficOptions,
} from './traffic/traffic-manager';
export { createIptablesTrafficManager } from './traffic/iptables/iptables-traffic';
export type { IptablesTrafficOptions } from './traffic/iptables/iptables-traffic';
export { createNftablesManager } from './traffic/nftables/nftables-manager';
export type { NftablesManagerOptions } from './traffic/nftables/nftables-manager';
export { createNftRunner, NFT_MISSING_MESSAGE, NftError } from './traffic/nftables/nft-runner';
export type { NftRunner, NftRunnerOptions } from './traffic/nftables/nft-runner';
export {
  NFT_TABLE_IPV4,
  NFT_TABLE_IPV6,
  NFT_TABLES,
  nftForwardChain,
  nftMasqChain,
  nftTables,
  renderNftReplace,
} from './traffic/nftables/nft-rules';
export type { NftChain, NftFamily, NftTable, NftTableId } from './traffic/nftables/nft-rules';
export { mergePeerEntries, peerKey } from './peer-entries';
export type { PeerEntries } from './peer-entries';
export { vxlanPeerEntries } from './vxlan/vxlan-desired';
export { hostGwPeerEntries } from './host-gw/host-gw-desired';
export { createExtensionBackend, extensionBackendFactory } from './extension/extension-backend';
export type { ExtensionBackendDeps } from './extension/extension-backend';
export { COMMAND_NAMES, parseExtensionOptions } from './extension/extension-options';
export type { CommandName, ExtensionCommands } from './extension/extension-options';
export { COMMAND_TIMEOUT_MS, createShellCommandRunner } from './extension/shell-command-runner';
export type { ShellCommandRunnerOptions } from './extension/shell-command-runner';
export type { CommandResult, CommandRun, CommandRunner } from './extension/command-runner';
export { ExtensionCommandError } from './extension/command-error';
export type { BackendNetworks } from './backend';
export { ipv6Of } from './backend';
export { VXLAN_OVERHEAD_V6 } from './vxlan/vxlan-backend';
export { joinFamilies, peerSide } from './peer-entries';
export type { PeerSide } from './peer-entries';
export { fdbKey } from './kernel-state';
export { DEFAULT_ROUTE_METRIC } from './read-state';
export {
  createWireguardBackend,
  WG_DEVICE,
  WG_DEVICE_V6,
  wireguardBackendFactory,
} from './wireguard/wireguard-backend';
export type { WireguardBackendDeps } from './wireguard/wireguard-backend';
export { parseWireguardOptions, WIREGUARD_OPTION_NAMES } from './wireguard/wireguard-options';
export type { WireguardMode, WireguardOptions } from './wireguard/wireguard-options';
export { DEFAULT_WIREGUARD_KEY_FILE, loadOrCreateKey } from './wireguard/wg-key-file';
export { createWgTools, WgCommandError } from './kernel/wg-tools';
export type { WgTools, WgToolsOptions } from './kernel/wg-tools';
export type { WgPeerEntry } from './kernel-state';
export { wireguardTopologyOf } from './wireguard/wireguard-backend';
export { wireguardPeerEntries } from './wireguard/wireguard-desired';
export type { WgDeviceTopology, WireguardTopology } from './wireguard/wireguard-desired';
