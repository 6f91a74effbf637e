/** What flannel needs to know about a Docker network (no dockerode types cross this seam). */
export interface DockerNetworkInfo {
  readonly name: string;
  readonly driver: string;
  /** First IPAM subnet, e.g. `10.5.3.0/24`. */
  readonly subnet?: string | undefined;
  /** First IPAM gateway, e.g. `10.5.3.1`. */
  readonly gateway?: string | undefined;
  /** `com.docker.network.driver.mtu`, when set. */
  readonly mtu?: number | undefined;
}

/** A bridge network to create on the flannel subnet. */
export interface BridgeNetworkSpec {
  readonly name: string;
  readonly subnet: string;
  readonly gateway: string;
  readonly mtu: number;
}

/**
 * The Docker Engine calls flannel-ts makes, behind a seam we own: the dockerode implementation
 * talks to a real dockerd; tests of pure logic use plain objects.
 */
export interface DockerApi {
  /** The network by name, or undefined when dockerd has none of that name. */
  inspectNetwork(name: string): Promise<DockerNetworkInfo | undefined>;
  createBridgeNetwork(spec: BridgeNetworkSpec): Promise<void>;
}
