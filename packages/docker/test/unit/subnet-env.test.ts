import { formatCidr, parseCidr } from '@flannel-ts/core';
import { parseSubnetEnv, renderSubnetEnv } from '@flannel-ts/docker';

describe('subnet file (SPEC 5.2)', () => {
  it('renders the upstream format and order, with the subnet’s first host', () => {
    expect(
      renderSubnetEnv({
        network: parseCidr('10.5.0.0/16'),
        subnet: parseCidr('10.5.100.0/24'),
        mtu: 1450,
        ipMasq: false,
      }),
    ).toBe(
      'FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.100.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n',
    );
  });

  it('renders dual stack in upstream order', () => {
    expect(
      renderSubnetEnv({
        network: parseCidr('10.5.0.0/16'),
        subnet: parseCidr('10.5.100.0/24'),
        ipv6Network: parseCidr('2001:cafe:42::/56'),
        ipv6Subnet: parseCidr('2001:cafe:42::/64'),
        mtu: 1450,
        ipMasq: true,
      }),
    ).toBe(
      'FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.100.1/24\nFLANNEL_IPV6_NETWORK=2001:cafe:42::/56\nFLANNEL_IPV6_SUBNET=2001:cafe:42::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n',
    );
  });

  it('reads a previous file back, masking the subnet to its network', () => {
    const prev = parseSubnetEnv(
      'FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.100.1/24\nFLANNEL_MTU=1450\n',
    );
    expect(prev.subnet && formatCidr(prev.subnet)).toBe('10.5.100.0/24');
    expect(prev.problems).toEqual([]);
  });

  it('distrusts corrupt values and says why, never throwing', () => {
    const prev = parseSubnetEnv(
      'FLANNEL_SUBNET=10.5.999.1/24\ngarbage line\nFLANNEL_NETWORK=10.5.0.0/16,10.6.0.0/16\n',
    );
    expect(prev.subnet).toBeUndefined();
    expect(prev.network).toBeUndefined();
    expect(prev.problems).toEqual([
      'line 2 is not KEY=value: "garbage line"',
      'FLANNEL_NETWORK=10.5.0.0/16,10.6.0.0/16 holds 2 subnets; expected one',
      'FLANNEL_SUBNET=10.5.999.1/24 is not an IPv4 CIDR',
    ]);
  });

  it('accepts a comma list with exactly one valid entry, as upstream does', () => {
    expect(formatCidr(parseSubnetEnv('FLANNEL_SUBNET=bogus,10.5.7.1/24\n').subnet!)).toBe(
      '10.5.7.0/24',
    );
  });
});
