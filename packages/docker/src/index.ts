export { parseSubnetEnv, renderSubnetEnv } from './subnet-env';
export type { PreviousSubnetEnv, SubnetEnv } from './subnet-env';
export { FileWriteError, readPreviousSubnetEnv, writeFileAtomic } from './subnet-file';
export {
  conflictingRoutes,
  dockerOptVars,
  InvalidIpMasqError,
  renderDockerOpts,
} from './docker-opts';
export type { DockerOptsOptions, SubnetVars } from './docker-opts';
export { runDockerOptsCli } from './docker-opts-cli';
export { parseEnvLines } from './subnet-env';
export { DaemonJsonError, mergeDaemonJson, updateDaemonJson } from './daemon-json';
export type { BridgeSettings } from './daemon-json';
export type { BridgeNetworkSpec, DockerApi, DockerNetworkInfo } from './docker-api';
export { createDockerodeDockerApi, DockerUnavailableError } from './dockerode-docker-api';
export { checkDefaultBridge, flannelNetworkSpec } from './bridge-check';
export type { LeasedBridge } from './bridge-check';
export { runDockerCheckCli } from './docker-check-cli';
