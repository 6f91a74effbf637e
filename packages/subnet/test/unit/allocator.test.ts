import { formatCidr, parseCidr } from '@flannel-ts/core';
import type { LeaseAttrs, SubnetPair } from '@flannel-ts/core';
import { decideAllocation, parseNetworkConfig, pickFreeSubnet } from '@flannel-ts/subnet';
import type { NetworkConfig, StoredLease } from '@flannel-ts/subnet';

function config(json: object): NetworkConfig {
  const r = parseNetworkConfig(JSON.stringify(json));
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}
const net16 = config({ Network: '10.5.0.0/16', Backend: { Type: 'alloc' } });
const pair = (v4: string): SubnetPair => ({ ipv4: parseCidr(v4)! });
let rev = 10;
function lease(v4: string, publicIp: string, ttlLeaseId = '7'): StoredLease {
  const attrs: LeaseAttrs = { publicIp, publicIpv6: null };
  return { subnets: pair(v4), attrs, ttlLeaseId, modRevision: String(rev++) };
}

describe('decideAllocation', () => {
  it('reuses the lease held for our public IP', () => {
    const mine = lease('10.5.9.0/24', '192.0.2.9');
    const d = decideAllocation({
      config: net16,
      leases: [lease('10.5.1.0/24', '192.0.2.1'), mine],
      publicIp: '192.0.2.9',
      previous: pair('10.5.3.0/24'),
      random: () => 0,
    });
    expect(d).toEqual({ kind: 'reuse', lease: mine, others: [] });
  });

  it('honours a reservation (no TTL) for our public IP', () => {
    const reserved = lease('10.5.200.0/24', '192.0.2.9', '0');
    const d = decideAllocation({
      config: net16,
      leases: [reserved],
      publicIp: '192.0.2.9',
      random: () => 0,
    });
    expect(d).toEqual({ kind: 'reuse', lease: reserved, others: [] });
  });

  it('deletes an incompatible TTL lease of ours but never an incompatible reservation', () => {
    const outside = lease('10.9.0.0/24', '192.0.2.9');
    expect(
      decideAllocation({
        config: net16,
        leases: [outside],
        publicIp: '192.0.2.9',
        random: () => 0,
      }),
    ).toEqual({ kind: 'remove-incompatible', lease: outside });
    const reservation = lease('10.9.0.0/24', '192.0.2.9', '0');
    const d = decideAllocation({
      config: net16,
      leases: [reservation],
      publicIp: '192.0.2.9',
      random: () => 0,
    });
    expect(d.kind).toBe('create');
  });

  it('takes the previous subnet when nobody holds it', () => {
    const d = decideAllocation({
      config: net16,
      leases: [lease('10.5.1.0/24', '192.0.2.1')],
      publicIp: '192.0.2.9',
      previous: pair('10.5.77.0/24'),
      random: () => 0,
    });
    expect(d).toEqual({ kind: 'create', subnets: pair('10.5.77.0/24'), source: 'previous' });
  });

  it('skips the previous subnet when another host holds it, or when it does not fit', () => {
    for (const previous of [pair('10.5.1.0/24'), pair('10.5.0.0/24'), pair('10.6.1.0/24')]) {
      const d = decideAllocation({
        config: net16,
        leases: [lease('10.5.1.0/24', '192.0.2.1')],
        publicIp: '192.0.2.9',
        previous,
        random: () => 0,
      });
      expect(d).toMatchObject({ kind: 'create', source: 'random' });
    }
  });

  it('picks among all free subnets, beyond the first 100 (SPEC D2)', () => {
    const d = decideAllocation({
      config: net16,
      leases: [],
      publicIp: '192.0.2.9',
      random: () => 0.999,
    });
    expect(d.kind === 'create' && formatCidr(d.subnets.ipv4)).toBe('10.5.255.0/24');
    const first = decideAllocation({
      config: net16,
      leases: [],
      publicIp: '192.0.2.9',
      random: () => 0,
    });
    expect(first.kind === 'create' && formatCidr(first.subnets.ipv4)).toBe('10.5.1.0/24');
  });

  it('never hands out a subnet overlapped by any lease, whatever its size', () => {
    const small = config({ Network: '10.5.0.0/16', SubnetMin: '10.5.1.0', SubnetMax: '10.5.4.0' });
    const leases = [
      lease('10.5.1.0/24', 'a'),
      lease('10.5.2.128/25', 'b'),
      lease('10.5.4.0/22', 'c'),
    ];
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const d = decideAllocation({ config: small, leases, publicIp: 'x', random: () => i / 20 });
      if (d.kind === 'create') seen.add(formatCidr(d.subnets.ipv4));
    }
    expect([...seen]).toEqual(['10.5.3.0/24']);
  });

  it('says which range is exhausted and how many subnets are taken', () => {
    const tiny = config({ Network: '10.5.0.0/28', Backend: { Type: 'alloc' } });
    const leases = ['10.5.0.4/30', '10.5.0.8/30', '10.5.0.12/30'].map((s, i) => lease(s, `h${i}`));
    const d = decideAllocation({ config: tiny, leases, publicIp: 'x', random: () => 0 });
    expect(d.kind).toBe('exhausted');
    expect(d.kind === 'exhausted' && d.message).toMatch(
      /^out of subnets: all 3 \/30 subnets of 10\.5\.0\.0\/28 from 10\.5\.0\.4 to 10\.5\.0\.12 are taken/,
    );
  });
});

describe('pickFreeSubnet', () => {
  it('scales to huge ranges without enumerating them', () => {
    const big = config({ Network: '10.0.0.0/8', SubnetLen: 30 }).ipv4!;
    const r = pickFreeSubnet(big, [parseCidr('10.0.0.4/30')!], () => 0);
    expect(r.total).toBe(4194303n);
    expect(r.free).toBe(4194302n);
    expect(r.subnet && formatCidr(r.subnet)).toBe('10.0.0.8/30');
  });

  it('allocates an IPv6 subnet independently on dual stack', () => {
    const ds = config({ Network: '10.5.0.0/16', EnableIPv6: true, IPv6Network: 'fd00:5::/48' });
    const d = decideAllocation({ config: ds, leases: [], publicIp: 'x', random: () => 0 });
    expect(d.kind === 'create' && d.subnets.ipv6 && formatCidr(d.subnets.ipv6)).toBe(
      'fd00:5:0:1::/64',
    );
  });
});
