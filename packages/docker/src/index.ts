// The agent-side entry point: the subnet file, the docker opts env file and daemon.json, all plain
// file code, so flanneld loads none of dockerode (and its ssh2/tar-fs tree). What talks to dockerd
// is at "@flannel-ts/docker/docker-api" (docker-api-index.ts).
export { parseSubnetEnv, renderSubnetEnv } from './subnet-env';
export type { PreviousSubnetEnv, SubnetEnv } from './subnet-env';
export { FileWriteError, readPreviousSubnetEnv, writeFileAtomic } from './subnet-file';
export {
  conflictingRoutes,
  dockerOptVars,
  fixedCidrV6,
  InvalidIpMasqError,
  renderDockerOpts,
} from './docker-opts';
export type { DockerOptsOptions, SubnetVars } from './docker-opts';
export { runDockerOptsCli } from './docker-opts-cli';
export { parseEnvLines } from './subnet-env';
export { DaemonJsonError, mergeDaemonJson, updateDaemonJson } from './daemon-json';
export type { BridgeSettings } from './daemon-json';
