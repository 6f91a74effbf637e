import {
  cidrContains,
  cidrContainsIp,
  cidrEquals,
  cidrLast,
  cidrSize,
  cidrsOverlap,
  formatCidr,
  formatIp,
  makeCidr,
  parseCidr,
  parseIp,
  parseIpv4,
} from '@flannel-ts/core';

const cidr = (text: string) => {
  const parsed = parseCidr(text);
  if (!parsed) throw new Error(`test setup: ${text} is not a CIDR`);
  return parsed;
};

describe('parseIp / formatIp', () => {
  it.each([
    ['1.2.3.4', 4, '1.2.3.4'],
    ['0.0.0.0', 4, '0.0.0.0'],
    ['255.255.255.255', 4, '255.255.255.255'],
    ['FD00:0:0::1', 6, 'fd00::1'],
    ['2001:0db8:0000:0000:0001:0000:0000:0001', 6, '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', 6, '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', 6, '2001:0:0:1::1'],
    ['::', 6, '::'],
    ['::1', 6, '::1'],
  ])('parses %s as IPv%d and prints it canonically as %s', (text, family, canonical) => {
    const ip = parseIp(text);
    expect(ip?.family).toBe(family);
    expect(ip && formatIp(ip)).toBe(canonical);
  });

  it.each([
    '01.2.3.4', // leading zeros are rejected, as Go's net.ParseIP does
    '1.2.3.04',
    '256.1.1.1',
    '1.2.3',
    '1.2.3.4.5',
    ' 1.2.3.4',
    '1.2.3.4 ',
    '',
    '10.0.0.0/8',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    'fd00::g',
  ])('rejects %j', (text) => {
    expect(parseIp(text)).toBeUndefined();
  });

  it('parseIpv4 accepts only IPv4', () => {
    expect(parseIpv4('10.1.2.3')?.value).toBe(0x0a010203n);
    expect(parseIpv4('fd00::1')).toBeUndefined();
  });
});

describe('parseCidr / formatCidr', () => {
  it.each([
    ['10.5.0.0/16', '10.5.0.0/16'],
    ['10.5.100.1/24', '10.5.100.0/24'],
    ['10.5.100.1/32', '10.5.100.1/32'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['255.255.255.255/1', '128.0.0.0/1'],
    ['fd00:0012:0013:0000::/56', 'fd00:12:13::/56'],
    ['FD00::1/64', 'fd00::/64'],
    ['::/0', '::/0'],
    ['fd00::1/128', 'fd00::1/128'],
  ])('parses %s with host bits masked as %s', (text, canonical) => {
    expect(formatCidr(cidr(text))).toBe(canonical);
  });

  it.each([
    '10.0.0.0',
    '10.0.0.0/',
    '10.0.0.0/33',
    '10.0.0.0/-1',
    '10.0.0.0/ 8',
    '10.0.0.0/8/8',
    '010.0.0.0/8',
    '10.0.0.256/8',
    'fd00::/129',
    '/8',
    '',
  ])('rejects %j', (text) => {
    expect(parseCidr(text)).toBeUndefined();
  });
});

describe('CIDR math', () => {
  it('makeCidr masks host bits for both families', () => {
    expect(formatCidr(makeCidr(4, 0x0a0305ffn, 16))).toBe('10.3.0.0/16');
    expect(formatCidr(makeCidr(6, (0xfd00n << 112n) | 0xffffn, 64))).toBe('fd00::/64');
  });

  it('computes size and last address', () => {
    expect(cidrSize(cidr('10.0.0.0/8'))).toBe(1n << 24n);
    expect(cidrSize(cidr('10.0.0.1/32'))).toBe(1n);
    expect(cidrSize(cidr('::/0'))).toBe(1n << 128n);
    expect(formatIp({ family: 4, value: cidrLast(cidr('10.3.0.0/16')) })).toBe('10.3.255.255');
    expect(formatIp({ family: 6, value: cidrLast(cidr('fd00::/64')) })).toBe(
      'fd00::ffff:ffff:ffff:ffff',
    );
  });

  it.each([
    ['10.0.0.0/8', '10.5.0.0/16', true],
    ['10.5.0.0/16', '10.0.0.0/8', true],
    ['10.5.0.0/24', '10.5.0.0/24', true],
    ['10.5.0.0/24', '10.5.1.0/24', false],
    ['10.5.0.0/24', '10.5.0.255/32', true],
    ['10.5.1.0/24', '10.5.0.255/32', false],
    ['fd00::/48', 'fd00:0:0:5::/64', true],
    ['fd00::/64', 'fd00:0:0:1::/64', false],
    ['0.0.0.0/0', '::/0', false],
  ])('%s and %s overlap: %s', (a, b, expected) => {
    expect(cidrsOverlap(cidr(a), cidr(b))).toBe(expected);
    expect(cidrsOverlap(cidr(b), cidr(a))).toBe(expected);
  });

  it.each([
    ['10.0.0.0/8', '10.5.0.0/16', true],
    ['10.5.0.0/16', '10.0.0.0/8', false],
    ['10.5.0.0/16', '10.5.0.0/16', true],
    ['10.5.0.0/16', '10.6.0.0/24', false],
    ['10.5.0.0/16', '10.5.255.0/24', true],
    ['fd00::/48', 'fd00:0:0:ffff::/64', true],
    ['fd00::/48', 'fd00:0:1::/64', false],
    ['0.0.0.0/0', '::/128', false],
  ])('%s contains %s: %s', (outer, inner, expected) => {
    expect(cidrContains(cidr(outer), cidr(inner))).toBe(expected);
  });

  it.each([
    ['10.3.0.0/16', '10.3.0.0', true],
    ['10.3.0.0/16', '10.3.255.255', true],
    ['10.3.0.0/16', '10.4.0.0', false],
    ['10.3.0.0/16', '10.2.255.255', false],
    ['fd00::/64', 'fd00::ffff:ffff:ffff:ffff', true],
    ['fd00::/64', 'fd00:0:0:1::', false],
    ['0.0.0.0/0', '::', false],
  ])('%s contains the address %s: %s', (net, address, expected) => {
    expect(cidrContainsIp(cidr(net), parseIp(address)!)).toBe(expected);
  });

  it('compares networks by family, address and prefix length', () => {
    expect(cidrEquals(cidr('10.3.0.1/16'), cidr('10.3.0.0/16'))).toBe(true);
    expect(cidrEquals(cidr('10.3.0.0/16'), cidr('10.3.0.0/17'))).toBe(false);
    expect(cidrEquals(cidr('0.0.0.0/0'), cidr('::/0'))).toBe(false);
  });
});
