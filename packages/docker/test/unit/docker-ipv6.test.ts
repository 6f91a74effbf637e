import { dockerOptVars, fixedCidrV6, mergeDaemonJson, renderDockerOpts } from '@flannel-ts/docker';

const both = { individual: false, combined: false, combinedKey: 'DOCKER_OPTS', ipMasq: true };

describe('Docker options for IPv6 (our addition: upstream mk-docker-opts.sh knows no IPv6)', () => {
  it('adds --ipv6 and --fixed-cidr-v6 with our IPv6 subnet in network form on dual stack', () => {
    const vars = {
      FLANNEL_NETWORK: '10.5.0.0/16',
      FLANNEL_SUBNET: '10.5.3.1/24',
      FLANNEL_IPV6_NETWORK: 'fd00:42::/48',
      FLANNEL_IPV6_SUBNET: 'fd00:42:0:7::1/64',
      FLANNEL_MTU: '1450',
      FLANNEL_IPMASQ: 'false',
    };
    expect(renderDockerOpts(vars, {}, both)).toBe(
      'DOCKER_OPT_BIP="--bip=10.5.3.1/24"\n' +
        'DOCKER_OPT_FIXED_CIDR_V6="--fixed-cidr-v6=fd00:42:0:7::/64"\n' +
        'DOCKER_OPT_IPMASQ="--ip-masq=true"\n' +
        'DOCKER_OPT_IPV6="--ipv6"\n' +
        'DOCKER_OPT_MTU="--mtu=1450"\n' +
        'DOCKER_OPTS=" --bip=10.5.3.1/24 --fixed-cidr-v6=fd00:42:0:7::/64 --ip-masq=true --ipv6 --mtu=1450"\n',
    );
  });

  it('gives no --bip on an IPv6-only host (its subnet file has no FLANNEL_SUBNET)', () => {
    const vars = { FLANNEL_IPV6_SUBNET: 'fd00:42:0:7::1/64', FLANNEL_MTU: '1430' };
    expect([...dockerOptVars(vars, true).keys()]).toEqual([
      'DOCKER_OPT_IPV6',
      'DOCKER_OPT_FIXED_CIDR_V6',
      'DOCKER_OPT_MTU',
    ]);
  });

  it('reads only an IPv6 CIDR as the fixed IPv6 range', () => {
    expect(fixedCidrV6('fd00:42:0:7::1/64')).toBe('fd00:42:0:7::/64');
    expect(fixedCidrV6('10.5.3.1/24')).toBeUndefined();
    expect(fixedCidrV6(undefined)).toBeUndefined();
  });
});

describe('daemon.json for IPv6', () => {
  it('sets ipv6 and fixed-cidr-v6 beside bip', () => {
    const text = mergeDaemonJson(undefined, {
      bip: '10.5.3.1/24',
      mtu: 1450,
      ipMasq: true,
      fixedCidrV6: 'fd00:42:0:7::/64',
    });
    expect(JSON.parse(text)).toEqual({
      bip: '10.5.3.1/24',
      mtu: 1450,
      'ip-masq': true,
      ipv6: true,
      'fixed-cidr-v6': 'fd00:42:0:7::/64',
    });
  });

  it('leaves bip as it is on an IPv6-only host', () => {
    const text = mergeDaemonJson('{"bip":"172.30.0.1/16"}', {
      bip: '',
      mtu: 1430,
      ipMasq: true,
      fixedCidrV6: 'fd00:42:0:7::/64',
    });
    expect(JSON.parse(text)).toEqual({
      bip: '172.30.0.1/16',
      mtu: 1430,
      'ip-masq': true,
      ipv6: true,
      'fixed-cidr-v6': 'fd00:42:0:7::/64',
    });
  });
});
