import { parseCidr, parseSubnetKey } from '@flannel-ts/core';
import type { Cidr, Lease, LeaseAttrs } from '@flannel-ts/core';
import { readLeaseKey, readLeaseKeyValue, validatePeerLease } from '@flannel-ts/subnet';
import type { LeaseRejection, PeerLeaseContext, SubnetRange } from '@flannel-ts/subnet';

function range(network: string, subnetLen: number): SubnetRange {
  const n = parseCidr(network) as Cidr;
  return { network: n, subnetLen, subnetMin: n.address, subnetMax: n.address };
}

const CTX: PeerLeaseContext = {
  network: { ipv4: range('10.42.0.0/16', 24), ipv6: range('fd00:42::/48', 64) },
  own: {
    subnets: { ipv4: parseCidr('10.42.1.0/24') as Cidr, ipv6: parseCidr('fd00:42:0:1::/64') },
    publicIp: '192.0.2.1',
  },
  backendType: 'vxlan',
};

const VALID: LeaseAttrs = {
  publicIp: '192.0.2.2',
  publicIpv6: null,
  backendType: 'vxlan',
  backendData: { VNI: 1, VtepMAC: '6e:c3:90:34:97:c7' },
};

function lease(key: string, attrs: Partial<LeaseAttrs> = {}, ttlLeaseId = '7'): Lease {
  const subnets = parseSubnetKey(key);
  if (!subnets) throw new Error(`bad test key ${key}`);
  return { subnets, attrs: { ...VALID, ...attrs }, ttlLeaseId };
}

describe('validatePeerLease', () => {
  it.each<[string, Lease]>([
    ['a vxlan peer in the Network', lease('10.42.2.0-24')],
    ['a reservation (no TTL) in the Network', lease('10.42.3.0-24', {}, '0')],
    ['the first and last subnet of the Network', lease('10.42.255.0-24')],
    ['a dual-stack peer', lease('10.42.2.0-24&fd00:42:0:2::-64')],
  ])('accepts %s', (_what, l) => {
    expect(validatePeerLease(l, CTX)).toBeUndefined();
  });

  it.each<[string, Lease, Partial<LeaseRejection>]>([
    [
      'a key outside the Network',
      lease('10.99.1.0-24'),
      { field: 'key', rule: 'is outside the configured Network' },
    ],
    [
      'a key with another prefix length',
      lease('10.42.8.0-23'),
      { field: 'key', rule: 'does not have the configured SubnetLen' },
    ],
    [
      'a key spanning the whole Network',
      lease('10.42.0.0-16'),
      { field: 'key', rule: 'does not have the configured SubnetLen' },
    ],
    [
      'a reservation outside the Network',
      lease('10.99.1.0-24', {}, '0'),
      { field: 'key', rule: 'is outside the configured Network' },
    ],
    [
      'an IPv6 part outside the IPv6Network',
      lease('10.42.2.0-24&fd00:99::-64'),
      { field: 'key', rule: 'is outside the configured IPv6Network' },
    ],
    [
      'an IPv6 part with another prefix length',
      lease('10.42.2.0-24&fd00:42:0:2::-56'),
      { field: 'key', rule: 'does not have the configured IPv6SubnetLen' },
    ],
    [
      'a key overlapping our own subnet (another size)',
      lease('10.42.0.0-23'),
      { field: 'key', rule: 'does not have the configured SubnetLen' },
    ],
    [
      'a dual-stack key sharing our IPv4 subnet',
      lease('10.42.1.0-24&fd00:42:0:9::-64'),
      { field: 'key', rule: 'overlaps our own subnet' },
    ],
    [
      'a key whose IPv6 part is ours',
      lease('10.42.9.0-24&fd00:42:0:1::-64'),
      { field: 'key', rule: 'overlaps our own subnet' },
    ],
    [
      'a lease without PublicIP (decoded as 0.0.0.0)',
      lease('10.42.2.0-24', { publicIp: '0.0.0.0' }),
      { field: 'PublicIP', rule: 'is missing or 0.0.0.0' },
    ],
    ...[
      ['0.1.2.3', '"this network"'],
      ['127.0.0.1', 'loopback'],
      ['239.1.1.1', 'multicast'],
      ['255.255.255.255', 'broadcast'],
      ['240.0.0.1', 'reserved'],
    ].map(([ip, what]): [string, Lease, Partial<LeaseRejection>] => [
      `a ${what} PublicIP`,
      lease('10.42.2.0-24', { publicIp: ip }),
      { field: 'PublicIP', rule: 'is not a unicast IPv4 address', detail: `${ip} is ${what}` },
    ]),
    [
      'our own PublicIP',
      lease('10.42.2.0-24', { publicIp: '192.0.2.1' }),
      { field: 'PublicIP', rule: 'is our own public IP' },
    ],
    [
      'a reservation with our own PublicIP',
      lease('10.42.2.0-24', { publicIp: '192.0.2.1' }, '0'),
      { field: 'PublicIP', rule: 'is our own public IP' },
    ],
    [
      'another backend',
      lease('10.42.2.0-24', { backendType: 'host-gw' }),
      { field: 'BackendType', rule: 'is not the backend of this network' },
    ],
    [
      'no BackendType (udp, alloc)',
      lease('10.42.2.0-24', { backendType: undefined }),
      { field: 'BackendType', rule: 'is not the backend of this network' },
    ],
  ])('rejects %s', (_what, l, expected) => {
    expect(validatePeerLease(l, CTX)).toEqual(expect.objectContaining(expected));
  });
});

describe('readLeaseKeyValue', () => {
  const value = JSON.stringify({ PublicIP: '192.0.2.2', BackendType: 'vxlan' });

  it('reads a canonical key and a lease value, with any leading path', () => {
    const r = readLeaseKeyValue('subnets/10.42.2.0-24', value);
    expect(r).toEqual(expect.objectContaining({ ok: true }));
    expect(r.ok && r.attrs.publicIp).toBe('192.0.2.2');
    expect(readLeaseKeyValue('10.42.2.0-24', Buffer.from(value)).ok).toBe(true);
  });

  it.each<[string, string, string, Partial<LeaseRejection>]>([
    [
      'a malformed key',
      'subnets/10.42.2-24',
      value,
      { field: 'key', rule: 'is not a subnet key such as 10.5.34.0-24' },
    ],
    [
      'a key with host bits',
      'subnets/10.42.212.5-24',
      value,
      { field: 'key', rule: 'has host bits set', detail: "the subnet's key is 10.42.212.0-24" },
    ],
    [
      'an IPv6 part with host bits',
      '10.42.2.0-24&fd00:42:0:2::1-64',
      value,
      { field: 'key', rule: 'has host bits set' },
    ],
    [
      'a key with text before it',
      'subnets/x10.42.2.0-24',
      value,
      { field: 'key', rule: 'is not in canonical form' },
    ],
    [
      'a value over 64 KiB',
      '10.42.2.0-24',
      `{"PublicIP":"192.0.2.2","x":"${'a'.repeat(65536)}"}`,
      { field: 'value', rule: 'is larger than 64 KiB' },
    ],
    [
      'a value that is not JSON',
      '10.42.2.0-24',
      'garbage',
      { field: 'value', rule: 'is not JSON' },
    ],
    ['a JSON array', '10.42.2.0-24', '[1]', { field: 'value', rule: 'is not a JSON object' }],
    [
      'a PublicIP that is not an address',
      '10.42.2.0-24',
      '{"PublicIP":"banana"}',
      { field: 'PublicIP', rule: 'is not an IPv4 address', detail: '"banana"' },
    ],
    [
      'a BackendType that is not a string',
      '10.42.2.0-24',
      '{"PublicIP":"192.0.2.2","BackendType":1}',
      { field: 'BackendType', rule: 'is not a string' },
    ],
  ])('rejects %s', (_what, key, text, expected) => {
    expect(readLeaseKeyValue(key, text)).toEqual(
      expect.objectContaining({ ok: false, ...expected }),
    );
  });

  it('accepts a value of exactly 64 KiB', () => {
    const head = '{"PublicIP":"192.0.2.2","x":"';
    const text = `${head}${'a'.repeat(65536 - head.length - 2)}"}`;
    expect(Buffer.byteLength(text)).toBe(65536);
    expect(readLeaseKeyValue('10.42.2.0-24', text).ok).toBe(true);
  });
});

describe('readLeaseKey', () => {
  it('reads a canonical key, dual-stack too', () => {
    expect(readLeaseKey('subnets/10.42.2.0-24')).toEqual(parseSubnetKey('10.42.2.0-24'));
    expect(readLeaseKey('10.42.2.0-24&fd00:42:0:2::-64')).toEqual(
      parseSubnetKey('10.42.2.0-24&fd00:42:0:2::-64'),
    );
  });

  it('refuses a key with host bits instead of naming the real peer it would mask to', () => {
    expect(readLeaseKey('subnets/10.42.212.5-24')).toEqual({
      field: 'key',
      rule: 'has host bits set',
      detail: "the subnet's key is 10.42.212.0-24",
    });
  });
});
