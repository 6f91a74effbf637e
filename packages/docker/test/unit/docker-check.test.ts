import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDockerCheckCli } from '@flannel-ts/docker/docker-api';
import type {
  BridgeNetworkSpec,
  DockerApi,
  DockerNetworkInfo,
} from '@flannel-ts/docker/docker-api';

/** A DockerApi double holding networks in a map (the seam is ours, so no dockerode types). */
function fakeDocker(
  networks: Record<string, DockerNetworkInfo>,
): DockerApi & { created: BridgeNetworkSpec[] } {
  const created: BridgeNetworkSpec[] = [];
  return {
    created,
    inspectNetwork: (name) => Promise.resolve(networks[name]),
    createBridgeNetwork: (spec) => {
      created.push(spec);
      networks[spec.name] = {
        name: spec.name,
        driver: 'bridge',
        subnet: spec.subnet,
        gateway: spec.gateway,
        mtu: spec.mtu,
      };
      return Promise.resolve();
    },
  };
}

describe('flannel-docker-check', () => {
  let dir: string;
  let subnetFile: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ft-dcheck-'));
    subnetFile = join(dir, 'subnet.env');
    await writeFile(
      subnetFile,
      'FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n',
    );
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reports a docker0 that matches the lease', async () => {
    const docker = fakeDocker({
      bridge: {
        name: 'bridge',
        driver: 'bridge',
        subnet: '10.5.3.0/24',
        gateway: '10.5.3.1',
        mtu: 1450,
      },
    });
    const r = await runDockerCheckCli(['--subnet-file', subnetFile], {}, () => docker);
    expect(r).toEqual({
      code: 0,
      stdout: 'docker0 matches the lease: 10.5.3.0/24 gateway 10.5.3.1 mtu 1450\n',
      stderr: '',
    });
  });

  it('says exactly what to change when docker0 is on Docker’s default subnet and MTU', async () => {
    const docker = fakeDocker({
      bridge: { name: 'bridge', driver: 'bridge', subnet: '172.17.0.0/16', gateway: '172.17.0.1' },
    });
    const r = await runDockerCheckCli(['--subnet-file', subnetFile], {}, () => docker);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('start dockerd with --bip=10.5.3.1/24');
    expect(r.stderr).toContain('start dockerd with --mtu=1450');
  });

  it('creates a user-defined network with subnet = network address and gateway = .1', async () => {
    const docker = fakeDocker({
      bridge: {
        name: 'bridge',
        driver: 'bridge',
        subnet: '10.5.3.0/24',
        gateway: '10.5.3.1',
        mtu: 1450,
      },
    });
    const r = await runDockerCheckCli(
      ['--subnet-file', subnetFile, '--create-network', 'flannel'],
      {},
      () => docker,
    );
    expect(r.code).toBe(0);
    expect(docker.created).toEqual([
      { name: 'flannel', subnet: '10.5.3.0/24', gateway: '10.5.3.1', mtu: 1450 },
    ]);
    const again = await runDockerCheckCli(
      ['--subnet-file', subnetFile, '--create-network', 'flannel'],
      {},
      () => docker,
    );
    expect(again.stdout).toContain('network flannel already on 10.5.3.0/24');
  });

  it('uses DOCKER_HOST and names a missing subnet file', async () => {
    const hosts: string[] = [];
    const r = await runDockerCheckCli(
      ['--subnet-file', join(dir, 'none.env')],
      { DOCKER_HOST: 'unix:///x.sock' },
      (h) => {
        hosts.push(h);
        return fakeDocker({});
      },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/none\.env/);
    const ok = await runDockerCheckCli(
      ['--subnet-file', subnetFile],
      { DOCKER_HOST: 'unix:///x.sock' },
      (h) => {
        hosts.push(h);
        return fakeDocker({});
      },
    );
    expect(ok.stderr).toContain('dockerd at unix:///x.sock has no default "bridge" network');
    expect(hosts).toEqual(['unix:///x.sock']);
  });
});
