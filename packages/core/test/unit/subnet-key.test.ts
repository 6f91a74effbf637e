import { formatCidr, formatSubnetKey, parseCidr, parseSubnetKey } from '@flannel-ts/core';

describe('subnet keys', () => {
  it('formats and parses an IPv4 key', () => {
    const ipv4 = parseCidr('10.5.34.0/24')!;
    expect(formatSubnetKey({ ipv4 })).toBe('10.5.34.0-24');
    const parsed = parseSubnetKey('/coreos.com/network/subnets/10.5.34.0-24');
    expect(parsed && formatCidr(parsed.ipv4)).toBe('10.5.34.0/24');
    expect(parsed?.ipv6).toBeUndefined();
  });

  it('formats and parses the dual-stack & form with canonical IPv6 text', () => {
    const key = formatSubnetKey({
      ipv4: parseCidr('10.12.13.0/24')!,
      ipv6: parseCidr('fd00:0012:0013:0000::/56')!,
    });
    expect(key).toBe('10.12.13.0-24&fd00:12:13::-56');
    const parsed = parseSubnetKey(key)!;
    expect(formatCidr(parsed.ipv6!)).toBe('fd00:12:13::/56');
  });

  it.each([
    '10',
    '10.12.13.0',
    '10.12.13-24',
    '10.12.13.300-24',
    '10.12.13.0-24hi',
    '&2001::-56',
    '10.12.13.0-24&:12:13:-56',
    '10.12.13.0-24&20011::-56',
    '10.12.13.0-24&2001-56',
    '10.12.13.0-24&2001::',
    '10.12.13.0-24&2001::-56hi',
    '10.12.13.0-32',
    '10.12.13.0-24&2001::-128',
  ])('rejects %s as upstream does', (key) => {
    expect(parseSubnetKey(key)).toBeUndefined();
  });
});
