import Docker from 'dockerode';
import { FlannelError, errorMessage } from '@flannel-ts/core';
import type { BridgeNetworkSpec, DockerApi, DockerNetworkInfo } from './docker-api';

const MTU_OPTION = 'com.docker.network.driver.mtu';

/** dockerd could not be reached or refused a call. */
export class DockerUnavailableError extends FlannelError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('DOCKER_UNAVAILABLE', message, { ...options, retryable: true });
  }
}

interface NetworkInspect {
  Name: string;
  Driver: string;
  IPAM?: { Config?: { Subnet?: string; Gateway?: string }[] };
  Options?: Record<string, string>;
}

/**
 * {@link DockerApi} over dockerode. `host` is a `unix:///path/docker.sock` or `tcp://host:port`
 * address (what `DOCKER_HOST` holds); default the standard socket.
 */
export function createDockerodeDockerApi(host = 'unix:///var/run/docker.sock'): DockerApi {
  const docker = host.startsWith('unix://')
    ? new Docker({ socketPath: host.slice('unix://'.length) })
    : new Docker({ host: new URL(host).hostname, port: Number(new URL(host).port || 2375) });
  const fail = (what: string, err: unknown): never => {
    throw new DockerUnavailableError(`cannot ${what} on dockerd at ${host}: ${errorMessage(err)}`, {
      cause: err,
    });
  };
  return {
    async inspectNetwork(name: string): Promise<DockerNetworkInfo | undefined> {
      let info: NetworkInspect;
      try {
        info = await docker.getNetwork(name).inspect();
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 404) return undefined;
        return fail(`inspect network ${name}`, err);
      }
      const cfg = info.IPAM?.Config?.[0];
      const mtu = info.Options?.[MTU_OPTION];
      return {
        name: info.Name,
        driver: info.Driver,
        subnet: cfg?.Subnet,
        gateway: cfg?.Gateway,
        mtu: mtu === undefined ? undefined : Number(mtu),
      };
    },
    async createBridgeNetwork(spec: BridgeNetworkSpec): Promise<void> {
      try {
        await docker.createNetwork({
          Name: spec.name,
          Driver: 'bridge',
          Attachable: true,
          CheckDuplicate: true,
          IPAM: { Config: [{ Subnet: spec.subnet, Gateway: spec.gateway }] },
          Options: { [MTU_OPTION]: String(spec.mtu) },
        });
      } catch (err) {
        fail(`create network ${spec.name}`, err);
      }
    },
  };
}
