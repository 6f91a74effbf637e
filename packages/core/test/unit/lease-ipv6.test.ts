import { decodeLeaseAttrs, encodeLeaseAttrs, formatSubnetKey, parseCidr } from '@flannel-ts/core';

describe('dual-stack lease values, byte-identical to upstream (SPEC 1.3)', () => {
  it('carries PublicIPv6 and BackendV6Data after BackendData, in upstream field order', () => {
    const value = encodeLeaseAttrs({
      publicIp: '198.18.0.1',
      publicIpv6: '2001:db8:18::1',
      backendType: 'vxlan',
      backendData: { VNI: 1, VtepMAC: 'aa:bb:cc:00:00:01' },
      backendV6Data: { VNI: 1, VtepMAC: 'aa:bb:cc:00:00:02' },
    });
    expect(value).toBe(
      '{"PublicIP":"198.18.0.1","PublicIPv6":"2001:db8:18::1","BackendType":"vxlan",' +
        '"BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:00:00:01"},' +
        '"BackendV6Data":{"VNI":1,"VtepMAC":"aa:bb:cc:00:00:02"}}',
    );
    expect(decodeLeaseAttrs(value)).toMatchObject({
      ok: true,
      attrs: { publicIpv6: '2001:db8:18::1', backendV6Data: { VNI: 1 } },
    });
  });

  it('host-gw: PublicIPv6 and no backend data at all, as upstream writes it', () => {
    expect(
      encodeLeaseAttrs({
        publicIp: '198.18.0.1',
        publicIpv6: '2001:db8:18::1',
        backendType: 'host-gw',
      }),
    ).toBe('{"PublicIP":"198.18.0.1","PublicIPv6":"2001:db8:18::1","BackendType":"host-gw"}');
  });

  it('keys: IPv4 part, then the IPv6 subnet in compressed form', () => {
    const subnets = { ipv4: parseCidr('10.5.3.0/24')!, ipv6: parseCidr('fd00:5:0:3::/64')! };
    expect(formatSubnetKey(subnets)).toBe('10.5.3.0-24&fd00:5:0:3::-64');
  });

  it('rejects an IPv4 address as PublicIPv6', () => {
    expect(decodeLeaseAttrs('{"PublicIP":"198.18.0.1","PublicIPv6":"198.18.0.2"}')).toMatchObject({
      ok: false,
      field: 'PublicIPv6',
    });
  });
});
