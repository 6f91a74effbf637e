// The "@flannel-ts/docker/docker-api" entry point: the DockerApi seam, its dockerode implementation,
// the default-bridge check and flannel-docker-check. Kept apart from "." because loading dockerode
// pulls in ssh2 and tar-fs, which the agent never needs.
export type { BridgeNetworkSpec, DockerApi, DockerNetworkInfo } from './docker-api';
export { createDockerodeDockerApi, DockerUnavailableError } from './dockerode-docker-api';
export { checkDefaultBridge, flannelNetworkSpec } from './bridge-check';
export type { LeasedBridge } from './bridge-check';
export { runDockerCheckCli } from './docker-check-cli';
