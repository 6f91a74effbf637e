import { decodeLeaseAttrs, encodeLeaseAttrs, jsonField } from '@flannel-ts/core';
import type { LeaseAttrs } from '@flannel-ts/core';

const MAC = '6e:c3:90:34:97:c7';
const MAC6 = '6e:c3:90:34:97:c8';

// Exact lease values as upstream flanneld writes them (SPEC 1.3).
const UPSTREAM: [string, LeaseAttrs, string][] = [
  [
    'udp / alloc',
    { publicIp: '1.2.3.4', publicIpv6: null },
    '{"PublicIP":"1.2.3.4","PublicIPv6":null}',
  ],
  [
    'vxlan',
    {
      publicIp: '192.168.77.1',
      publicIpv6: null,
      backendType: 'vxlan',
      backendData: { VNI: 1, VtepMAC: MAC },
    },
    `{"PublicIP":"192.168.77.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${MAC}"}}`,
  ],
  [
    'host-gw',
    { publicIp: '10.0.0.2', publicIpv6: null, backendType: 'host-gw' },
    '{"PublicIP":"10.0.0.2","PublicIPv6":null,"BackendType":"host-gw"}',
  ],
  [
    'dual-stack vxlan',
    {
      publicIp: '192.168.77.1',
      publicIpv6: 'fd00:77::1',
      backendType: 'vxlan',
      backendData: { VNI: 1, VtepMAC: MAC },
      backendV6Data: { VNI: 1, VtepMAC: MAC6 },
    },
    `{"PublicIP":"192.168.77.1","PublicIPv6":"fd00:77::1","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${MAC}"},"BackendV6Data":{"VNI":1,"VtepMAC":"${MAC6}"}}`,
  ],
  [
    'wireguard',
    {
      publicIp: '10.0.0.3',
      publicIpv6: null,
      backendType: 'wireguard',
      backendData: { PublicKey: 'a2V5', Port: 51820 },
    },
    '{"PublicIP":"10.0.0.3","PublicIPv6":null,"BackendType":"wireguard","BackendData":{"PublicKey":"a2V5","Port":51820}}',
  ],
  [
    'extension with a string payload',
    { publicIp: '10.0.0.4', publicIpv6: null, backendType: 'extension', backendData: 'hello' },
    '{"PublicIP":"10.0.0.4","PublicIPv6":null,"BackendType":"extension","BackendData":"hello"}',
  ],
];

describe('encodeLeaseAttrs', () => {
  it.each(UPSTREAM)('writes the exact bytes upstream writes for %s', (_name, attrs, bytes) => {
    expect(encodeLeaseAttrs(attrs)).toBe(bytes);
  });

  it('omits an empty BackendType and absent backend data, but never PublicIPv6', () => {
    const attrs = { publicIp: '1.2.3.4', publicIpv6: null, backendType: '' };
    expect(encodeLeaseAttrs(attrs)).toBe('{"PublicIP":"1.2.3.4","PublicIPv6":null}');
  });

  it('writes backend data of "" or null, as Go writes a json.RawMessage holding them', () => {
    const attrs = { publicIp: '1.2.3.4', publicIpv6: null, backendType: 'extension' };
    expect(encodeLeaseAttrs({ ...attrs, backendData: '', backendV6Data: null })).toBe(
      '{"PublicIP":"1.2.3.4","PublicIPv6":null,"BackendType":"extension","BackendData":"","BackendV6Data":null}',
    );
  });

  it('escapes <, >, &, U+2028 and U+2029 as Go does', () => {
    const attrs = { publicIp: '1.2.3.4', publicIpv6: null, backendType: 'extension' };
    expect(encodeLeaseAttrs({ ...attrs, backendData: 'a<b>&c\u2028\u2029' })).toBe(
      '{"PublicIP":"1.2.3.4","PublicIPv6":null,"BackendType":"extension","BackendData":"a\\u003cb\\u003e\\u0026c\\u2028\\u2029"}',
    );
  });
});

describe('decodeLeaseAttrs', () => {
  it.each(UPSTREAM)('reads back the %s value', (_name, attrs, bytes) => {
    expect(decodeLeaseAttrs(bytes)).toEqual({ ok: true, attrs });
  });

  it.each(UPSTREAM)('round-trips the %s value byte for byte', (_name, _attrs, bytes) => {
    const decoded = decodeLeaseAttrs(bytes);
    expect(decoded.ok && encodeLeaseAttrs(decoded.attrs)).toBe(bytes);
  });

  it('ignores unknown fields and matches names case-insensitively, as Go does', () => {
    const text =
      '{"publicip":"10.1.1.1","PUBLICIPV6":"FD00:0:0::1","backendtype":"vxlan",' +
      '"backendData":{"VNI":1},"Extra":{"x":1}}';
    expect(decodeLeaseAttrs(text)).toEqual({
      ok: true,
      attrs: {
        publicIp: '10.1.1.1',
        publicIpv6: 'fd00::1',
        backendType: 'vxlan',
        backendData: { VNI: 1 },
        backendV6Data: undefined,
      },
    });
  });

  it('reads a missing PublicIP as 0.0.0.0 and a missing PublicIPv6 as null', () => {
    const decoded = decodeLeaseAttrs('{}');
    expect(decoded.ok && decoded.attrs).toMatchObject({ publicIp: '0.0.0.0', publicIpv6: null });
  });

  it.each([
    ['not JSON', 'not JSON'],
    ['[]', 'not a JSON object'],
    ['null', 'not a JSON object'],
    ['"1.2.3.4"', 'not a JSON object'],
    ['{"PublicIP":"999.1.1.1"}', 'PublicIP "999.1.1.1" is not an IPv4 address'],
    ['{"PublicIP":"01.2.3.4"}', 'PublicIP "01.2.3.4" is not an IPv4 address'],
    ['{"PublicIP":5}', 'PublicIP is not a string'],
    [
      '{"PublicIP":"1.2.3.4","PublicIPv6":"1.2.3.4"}',
      'PublicIPv6 "1.2.3.4" is not an IPv6 address',
    ],
    ['{"PublicIP":"1.2.3.4","BackendType":7}', 'BackendType is not a string'],
  ])('refuses %s with a reason', (text, reason) => {
    const decoded = decodeLeaseAttrs(text);
    expect(decoded.ok).toBe(false);
    expect(!decoded.ok && decoded.reason).toContain(reason);
  });
});

describe('jsonField (Go encoding/json field matching)', () => {
  it.each([
    [{ PublicIP: 'a' }, 'a'],
    [{ publicip: 'a' }, 'a'],
    [{ PUBLICIP: 'a' }, 'a'],
    [{ PublicIP: 'a', publicip: 'b' }, 'b'],
    [{ publicip: 'b', PublicIP: 'a' }, 'a'],
    [{ PublicIPv6: 'a' }, undefined],
    [{ PublicIP: null }, null],
    [{}, undefined],
  ])('reads PublicIP from %j as %j (the last matching key wins)', (obj, value) => {
    expect(jsonField(obj, 'PublicIP')).toBe(value);
  });

  it('folds the non-ASCII letters Go folds onto ASCII (long s, Kelvin sign)', () => {
    expect(jsonField({ '\u017Fubnetlen': 24 }, 'SubnetLen')).toBe(24);
    expect(jsonField({ '\u212Aey': 1 }, 'Key')).toBe(1);
    expect(jsonField({ 'Stra\u00DFe': 1 }, 'STRASSE')).toBeUndefined();
  });
});
