import { Address4, Address6 } from 'ip-address';
import { formatIp, parseIp } from '@flannel-ts/core';

/** What parseIp answered before its dotted-quad fast path: ip-address alone. */
function viaIpAddress(text: string): { family: 4 | 6; value: bigint } | undefined {
  if (text.includes('/') || text.trim() !== text || text === '') return undefined;
  if (Address4.isValid(text)) return { family: 4, value: new Address4(text).bigInt() };
  if (text.includes(':') && Address6.isValid(text)) {
    return { family: 6, value: new Address6(text).bigInt() };
  }
  return undefined;
}

describe('parseIp', () => {
  const edges = [
    '0.0.0.0',
    '255.255.255.255',
    '10.5.2.0',
    '192.0.2.10',
    '1.2.3.4',
    '01.2.3.4',
    '1.2.3.04',
    '1.2.3.00',
    '256.1.1.1',
    '1.2.3.255 ',
    ' 1.2.3.4',
    '1.2.3',
    '1.2.3.4.5',
    '1.2.3.-1',
    '10.5.2.0/24',
    '',
    'fe80::1',
    '2001:db8::10',
    '::ffff:1.2.3.4',
  ];

  it.each(edges)('answers %j exactly as ip-address does', (text) => {
    expect(parseIp(text)).toEqual(viaIpAddress(text));
  });

  it('agrees with ip-address on 10 000 random dotted quads, and formats them back', () => {
    let seed = 7;
    const octet = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 256;
    for (let i = 0; i < 10_000; i++) {
      const text = [octet(), octet(), octet(), octet()].join('.');
      const ip = parseIp(text);
      expect(ip).toEqual(viaIpAddress(text));
      expect(formatIp(ip!)).toBe(text);
    }
  });
});
