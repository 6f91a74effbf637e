import { createRecordingLogger } from '@flannel-ts/core/testing';
import {
  NO_IPV4_SUBNET,
  encodeLeaseAttrs,
  formatSubnetKey,
  leaseHolder,
  parseCidr,
  parseSubnetKey,
  systemClock,
} from '@flannel-ts/core';
import type { Cidr, LeaseAttrs, SubnetPair } from '@flannel-ts/core';
import {
  LeaseManager,
  decideAllocation,
  fitsConfig,
  parseNetworkConfig,
  validatePeerLease,
} from '@flannel-ts/subnet';
import type { NetworkConfig, PeerLeaseContext, StoredLease } from '@flannel-ts/subnet';
import { InMemoryLeaseStore } from '@flannel-ts/subnet/testing';

function config(json: object): NetworkConfig {
  const r = parseNetworkConfig(JSON.stringify(json));
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}
const v6only = config({
  EnableIPv4: false,
  EnableIPv6: true,
  IPv6Network: 'fd00:42::/48',
  Backend: { Type: 'vxlan' },
});
const v6 = (text: string): SubnetPair => ({ ipv4: NO_IPV4_SUBNET, ipv6: parseCidr(text)! });
const attrsOf = (publicIpv6: string): LeaseAttrs => ({
  publicIp: '0.0.0.0',
  publicIpv6,
  backendType: 'vxlan',
  backendV6Data: { VNI: 1, VtepMAC: 'aa:bb:cc:dd:ee:01' },
});
let rev = 1;
const stored = (subnets: SubnetPair, publicIpv6: string): StoredLease => ({
  subnets,
  attrs: attrsOf(publicIpv6),
  ttlLeaseId: '7',
  modRevision: String(rev++),
});

describe('IPv6-only lease keys and values (as upstream writes them)', () => {
  it('keys carry the all-zero IPv4 part: 0.0.0.0-0&<ipv6>-<len>', () => {
    const key = formatSubnetKey(v6('fd00:42:0:7::/64'));
    expect(key).toBe('0.0.0.0-0&fd00:42:0:7::-64');
    expect(parseSubnetKey(key)).toEqual(v6('fd00:42:0:7::/64'));
  });

  it('values: PublicIP 0.0.0.0, PublicIPv6, BackendV6Data, no BackendData', () => {
    expect(encodeLeaseAttrs(attrsOf('2001:db8::2'))).toBe(
      '{"PublicIP":"0.0.0.0","PublicIPv6":"2001:db8::2","BackendType":"vxlan",' +
        '"BackendV6Data":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:01"}}',
    );
  });

  it('tells IPv6-only hosts apart by PublicIPv6 (they all publish PublicIP 0.0.0.0)', () => {
    expect(leaseHolder(attrsOf('2001:db8::2'))).toBe('2001:db8::2');
    expect(leaseHolder({ publicIp: '192.0.2.1', publicIpv6: '2001:db8::2' })).toBe('192.0.2.1');
  });

  it('fits the config only with the 0.0.0.0/0 IPv4 part and an IPv6 subnet of the range', () => {
    expect(fitsConfig(v6only, v6('fd00:42:0:7::/64'))).toBe(true);
    const dual = { ipv4: parseCidr('10.5.1.0/24')!, ipv6: parseCidr('fd00:42:0:7::/64')! };
    expect(fitsConfig(v6only, dual)).toBe(false);
    expect(fitsConfig(v6only, v6('fd00:99:0:7::/64'))).toBe(false);
  });
});

describe('decideAllocation on an IPv6-only network', () => {
  it('allocates from the IPv6 range, so a second host fits (upstream: out of subnets)', () => {
    const first = stored(v6('fd00:42::/64'), '2001:db8::1');
    const d = decideAllocation({
      config: v6only,
      leases: [first],
      publicIp: '2001:db8::2',
      random: () => 0,
    });
    expect(d).toEqual({ kind: 'create', subnets: v6('fd00:42:0:1::/64'), source: 'random' });
  });

  it('reuses our lease, found by PublicIPv6, not another host with PublicIP 0.0.0.0', () => {
    const other = stored(v6('fd00:42::/64'), '2001:db8::1');
    const mine = stored(v6('fd00:42:0:9::/64'), '2001:db8::2');
    const d = decideAllocation({
      config: v6only,
      leases: [other, mine],
      publicIp: '2001:db8::2',
      random: () => 0,
    });
    expect(d).toEqual({ kind: 'reuse', lease: mine, others: [] });
  });

  it('takes the previous IPv6 subnet back when it is free, though every key has 0.0.0.0/0', () => {
    const other = stored(v6('fd00:42::/64'), '2001:db8::1');
    const d = decideAllocation({
      config: v6only,
      leases: [other],
      publicIp: '2001:db8::2',
      previous: v6('fd00:42:0:5::/64'),
      random: () => 0,
    });
    expect(d).toEqual({ kind: 'create', subnets: v6('fd00:42:0:5::/64'), source: 'previous' });
  });

  it('deletes a dual-stack lease of ours left from before IPv4 was disabled', () => {
    const old: StoredLease = {
      subnets: { ipv4: parseCidr('10.5.1.0/24')!, ipv6: parseCidr('fd00:42:0:3::/64')! },
      attrs: { publicIp: '0.0.0.0', publicIpv6: '2001:db8::2' },
      ttlLeaseId: '7',
      modRevision: '1',
    };
    const d = decideAllocation({
      config: v6only,
      leases: [old],
      publicIp: '2001:db8::2',
      random: () => 0,
    });
    expect(d).toEqual({ kind: 'remove-incompatible', lease: old });
  });
});

describe('decideAllocation after switching from IPv6-only to dual stack', () => {
  const dual = config({
    Network: '10.5.0.0/16',
    EnableIPv6: true,
    IPv6Network: 'fd00:42::/48',
    Backend: { Type: 'vxlan' },
  });

  it('deletes our IPv6-only lease (found by PublicIPv6) instead of reusing it', () => {
    const old = stored(v6('fd00:42:0:9::/64'), '2001:db8::2');
    const d = decideAllocation({
      config: dual,
      leases: [old],
      publicIp: '192.0.2.2',
      publicIpv6: '2001:db8::2',
      random: () => 0,
    });
    expect(d).toEqual({ kind: 'remove-incompatible', lease: old });
  });

  it('does not let another host’s 0.0.0.0/0 block the IPv4 range', () => {
    const other = stored(v6('fd00:42::/64'), '2001:db8::1');
    const d = decideAllocation({
      config: dual,
      leases: [other],
      publicIp: '192.0.2.2',
      publicIpv6: '2001:db8::2',
      random: () => 0,
    });
    expect(d).toMatchObject({ kind: 'create', source: 'random' });
  });
});

describe('LeaseManager on an IPv6-only network', () => {
  const signal = new AbortController().signal;
  const manager = (store: InMemoryLeaseStore) =>
    new LeaseManager({
      store,
      clock: systemClock,
      logger: createRecordingLogger(),
      renewMarginMs: 3_600_000,
    });

  it('gives three hosts three subnets and each its own back after a restart', async () => {
    const store = new InMemoryLeaseStore();
    const hosts = ['2001:db8::1', '2001:db8::2', '2001:db8::3'];
    const got: Cidr[] = [];
    for (const h of hosts) {
      const l = await manager(store).acquire({ config: v6only, attrs: attrsOf(h) }, signal);
      expect(l.subnets.ipv4).toEqual(NO_IPV4_SUBNET);
      got.push(l.subnets.ipv6!);
    }
    expect(new Set(got.map((c) => c.address)).size).toBe(3);
    for (const [i, h] of hosts.entries()) {
      const again = await manager(store).acquire({ config: v6only, attrs: attrsOf(h) }, signal);
      expect(again.subnets.ipv6).toEqual(got[i]);
    }
  });
});

describe('validatePeerLease on IPv6-only and dual-stack networks', () => {
  const range = (network: string, subnetLen: number) => {
    const n = parseCidr(network)!;
    return { network: n, subnetLen, subnetMin: n.address, subnetMax: n.address };
  };
  const ctx: PeerLeaseContext = {
    network: { ipv6: range('fd00:42::/48', 64) },
    own: { subnets: v6('fd00:42:0:1::/64'), publicIp: '0.0.0.0', publicIpv6: '2001:db8::1' },
    backendType: 'vxlan',
  };
  const peer = (subnets: SubnetPair, attrs: Partial<LeaseAttrs> = {}) => ({
    subnets,
    attrs: { ...attrsOf('2001:db8::2'), ...attrs },
    ttlLeaseId: '7',
  });

  it('accepts an IPv6-only peer although its key and PublicIP match ours in IPv4', () => {
    expect(validatePeerLease(peer(v6('fd00:42:0:2::/64')), ctx)).toBeUndefined();
  });

  it.each<[string, ReturnType<typeof peer>, string]>([
    ['a key without IPv6', peer({ ipv4: NO_IPV4_SUBNET }), 'key has no IPv6 subnet'],
    ['an IPv6 subnet outside', peer(v6('fd00:99:0:2::/64')), 'key is outside'],
    ['an overlap with ours', peer(v6('fd00:42:0:1::/64')), 'key overlaps our own subnet'],
    ['no PublicIPv6', peer(v6('fd00:42:0:2::/64'), { publicIpv6: null }), 'PublicIPv6 is missing'],
    [
      'a multicast PublicIPv6',
      peer(v6('fd00:42:0:2::/64'), { publicIpv6: 'ff02::1' }),
      'PublicIPv6 is not a unicast IPv6 address',
    ],
    [
      'our PublicIPv6',
      peer(v6('fd00:42:0:2::/64'), { publicIpv6: '2001:db8::1' }),
      'PublicIPv6 is our own public IP',
    ],
  ])('rejects %s', (_what, l, rule) => {
    const r = validatePeerLease(l, ctx);
    expect(`${r?.field} ${r?.rule}`).toContain(rule);
  });

  it('dual stack: a peer without IPv6 parts is still a valid IPv4 peer', () => {
    const dual: PeerLeaseContext = {
      network: { ipv4: range('10.42.0.0/16', 24), ipv6: range('fd00:42::/48', 64) },
      own: {
        subnets: { ipv4: parseCidr('10.42.1.0/24')!, ipv6: parseCidr('fd00:42:0:1::/64')! },
        publicIp: '192.0.2.1',
      },
      backendType: 'vxlan',
    };
    const v4only = peer({ ipv4: parseCidr('10.42.2.0/24')! }, { publicIp: '192.0.2.2' });
    expect(
      validatePeerLease({ ...v4only, attrs: { ...v4only.attrs, publicIpv6: null } }, dual),
    ).toBe(undefined);
    const bad = peer(
      { ipv4: parseCidr('10.42.2.0/24')!, ipv6: parseCidr('fd00:42:0:2::/64')! },
      { publicIp: '192.0.2.2', publicIpv6: '::1' },
    );
    expect(validatePeerLease(bad, dual)).toMatchObject({
      field: 'PublicIPv6',
      rule: 'is not a unicast IPv6 address',
    });
  });
});
