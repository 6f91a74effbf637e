import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { conflictingRoutes, renderDockerOpts, runDockerOptsCli } from '@flannel-ts/docker';

const sample = {
  FLANNEL_NETWORK: '10.1.0.0/16',
  FLANNEL_SUBNET: '10.1.74.1/24',
  FLANNEL_MTU: '1472',
  FLANNEL_IPMASQ: 'false',
};
const base = { individual: false, combined: false, combinedKey: 'DOCKER_OPTS', ipMasq: true };

describe('renderDockerOpts (byte-compatible with mk-docker-opts.sh, SPEC 5.3)', () => {
  it.each([
    [
      'default: individual and combined',
      {},
      'DOCKER_OPT_BIP="--bip=10.1.74.1/24"\nDOCKER_OPT_IPMASQ="--ip-masq=true"\nDOCKER_OPT_MTU="--mtu=1472"\nDOCKER_OPTS=" --bip=10.1.74.1/24 --ip-masq=true --mtu=1472"\n',
    ],
    [
      '-i',
      { individual: true },
      'DOCKER_OPT_BIP="--bip=10.1.74.1/24"\nDOCKER_OPT_IPMASQ="--ip-masq=true"\nDOCKER_OPT_MTU="--mtu=1472"\n',
    ],
    ['-c', { combined: true }, 'DOCKER_OPTS=" --bip=10.1.74.1/24 --ip-masq=true --mtu=1472"\n'],
    [
      '-k CUSTOM_KEY',
      { combinedKey: 'CUSTOM_KEY' },
      'DOCKER_OPT_BIP="--bip=10.1.74.1/24"\nDOCKER_OPT_IPMASQ="--ip-masq=true"\nDOCKER_OPT_MTU="--mtu=1472"\nCUSTOM_KEY=" --bip=10.1.74.1/24 --ip-masq=true --mtu=1472"\n',
    ],
    [
      '-m',
      { ipMasq: false },
      'DOCKER_OPT_BIP="--bip=10.1.74.1/24"\nDOCKER_OPT_MTU="--mtu=1472"\nDOCKER_OPTS=" --bip=10.1.74.1/24 --mtu=1472"\n',
    ],
  ])('renders the upstream test case %s', (_name, opts, want) => {
    expect(renderDockerOpts(sample, {}, { ...base, ...opts })).toBe(want);
  });

  it('tells Docker not to masquerade when flannel does', () => {
    const out = renderDockerOpts(
      { ...sample, FLANNEL_IPMASQ: 'true' },
      {},
      { ...base, combined: true },
    );
    expect(out).toBe('DOCKER_OPTS=" --bip=10.1.74.1/24 --ip-masq=false --mtu=1472"\n');
  });

  it('prepends the combined variable’s value from the environment, and picks up DOCKER_OPT_* variables', () => {
    const out = renderDockerOpts(sample, { DOCKER_OPTS: '--debug', DOCKER_OPT_ZZ: 'zz' }, base);
    expect(out).toBe(
      'DOCKER_OPT_BIP="--bip=10.1.74.1/24"\nDOCKER_OPT_IPMASQ="--ip-masq=true"\nDOCKER_OPT_MTU="--mtu=1472"\nDOCKER_OPT_ZZ="zz"\n' +
        'DOCKER_OPTS="--debug  --bip=10.1.74.1/24 --ip-masq=true --mtu=1472 zz"\n',
    );
  });

  it('rejects an FLANNEL_IPMASQ that is neither true nor false, with upstream’s message', () => {
    expect(() => renderDockerOpts({ ...sample, FLANNEL_IPMASQ: 'yes' }, {}, base)).toThrow(
      'Invalid value of FLANNEL_IPMASQ: yes',
    );
  });
});

describe('conflictingRoutes', () => {
  const table = [
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
    'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
    'eth0\t00004A0A\t010200C0\t0003\t0\t0\t0\t00FFFFFF\t0\t0\t0',
    'docker0\t00004B0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
  ].join('\n');

  // /proc/net/route is little-endian hex: 00004A0A = 10.74.0.0, 010200C0 = 192.0.2.1.
  it('finds a route to the subnet’s network through a gateway', () => {
    expect(conflictingRoutes('10.74.0.1/24', table)).toEqual([
      '10.74.0.0/24 via 192.0.2.1 dev eth0',
    ]);
  });

  it('ignores routes of another prefix length or another network', () => {
    expect(conflictingRoutes('10.74.0.1/16', table)).toEqual([]);
    expect(conflictingRoutes('10.76.0.1/24', table)).toEqual([]);
  });

  it('ignores a directly connected route (no gateway), like the docker0 route itself', () => {
    expect(conflictingRoutes('10.75.0.1/24', table)).toEqual([]);
  });
});

describe('flannel-docker-opts command', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ft-dopts-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the Docker env file from the subnet file', async () => {
    await writeFile(
      join(dir, 'subnet.env'),
      'FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.74.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n',
    );
    await writeFile(
      join(dir, 'route'),
      'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n',
    );
    const r = await runDockerOptsCli(
      ['-f', join(dir, 'subnet.env'), '-d', join(dir, 'out.env'), '-c'],
      {},
      { procNetRoute: join(dir, 'route') },
    );
    expect(r).toEqual({ code: 0, stderr: '' });
    expect(await readFile(join(dir, 'out.env'), 'utf8')).toBe(
      'DOCKER_OPTS=" --bip=10.1.74.1/24 --ip-masq=true --mtu=1472"\n',
    );
  });

  it('refuses to write empty options when the subnet file is missing', async () => {
    const r = await runDockerOptsCli(
      ['-f', join(dir, 'missing.env'), '-d', join(dir, 'out.env')],
      {},
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot read flannel env file .*missing\.env/);
    await expect(readFile(join(dir, 'out.env'))).rejects.toThrow();
  });

  it('prints usage and exits 1 for -h and for an unknown flag, as the script does', async () => {
    for (const argv of [['-h'], ['-x']]) {
      const r = await runDockerOptsCli(argv, {});
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('Generate Docker daemon options based on flannel env file');
    }
  });
});
