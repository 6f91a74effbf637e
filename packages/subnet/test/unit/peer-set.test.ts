import { parseCidr } from '@flannel-ts/core';
import type { Cidr, Lease, Logger, SubnetPair } from '@flannel-ts/core';
import { PeerSet } from '@flannel-ts/subnet';
import type { LeaseBatch, StoredLease, SubnetRange } from '@flannel-ts/subnet';

function subnets(v4: string): SubnetPair {
  return { ipv4: parseCidr(v4) as Cidr };
}

function lease(
  v4: string,
  publicIp: string,
  mac = 'aa:bb:cc:dd:ee:01',
  type = 'vxlan',
): StoredLease {
  return {
    subnets: subnets(v4),
    attrs: {
      publicIp,
      publicIpv6: null,
      backendType: type,
      backendData: type === 'vxlan' ? { VNI: 1, VtepMAC: mac } : undefined,
    },
    ttlLeaseId: '100',
    modRevision: '7',
  };
}

const own = subnets('10.5.1.0/24');
const OWN = lease('10.5.1.0/24', '192.0.2.10');
const A = lease('10.5.2.0/24', '192.0.2.11', 'aa:bb:cc:dd:ee:02');
const B = lease('10.5.3.0/24', '192.0.2.12', 'aa:bb:cc:dd:ee:03');
const HOST_GW = lease('10.5.4.0/24', '192.0.2.13', undefined, 'host-gw');

const NETWORK: SubnetRange = {
  network: parseCidr('10.5.0.0/16') as Cidr,
  subnetLen: 24,
  subnetMin: (parseCidr('10.5.1.0/24') as Cidr).address,
  subnetMax: (parseCidr('10.5.255.0/24') as Cidr).address,
};
const vxlanPeers = (logger?: Logger): PeerSet =>
  new PeerSet({
    own: { subnets: own, publicIp: '192.0.2.10' },
    network: { ipv4: NETWORK },
    backendType: 'vxlan',
    logger,
  });
const keys = (set: PeerSet): string[] =>
  set
    .list()
    .map((l: Lease) => l.attrs.publicIp)
    .sort();

function events(...evs: ({ added: StoredLease } | { removed: SubnetPair })[]): LeaseBatch {
  return {
    kind: 'events',
    events: evs.map((e) =>
      'added' in e
        ? { type: 'added' as const, lease: e.added }
        : { type: 'removed' as const, subnets: e.removed },
    ),
    skipped: [],
    revision: '9',
  };
}

function snapshot(...leases: StoredLease[]): LeaseBatch {
  return { kind: 'snapshot', listing: { leases, skipped: [], revision: '9' } };
}

describe('PeerSet', () => {
  it('leaves our own subnet out of a listing', () => {
    const set = vxlanPeers();
    expect(set.replace([OWN, A])).toBe(true);
    expect(keys(set)).toEqual(['192.0.2.11']);
  });

  it('leaves out leases another backend wrote', () => {
    const set = vxlanPeers();
    set.replace([A, HOST_GW]);
    expect(keys(set)).toEqual(['192.0.2.11']);
    expect(set.size).toBe(1);
  });

  it('reports no change when a listing brings nothing new', () => {
    const set = vxlanPeers();
    set.replace([A, B]);
    expect(set.replace([B, A, OWN, HOST_GW])).toBe(false);
    expect(set.replace([])).toBe(true);
    expect(set.size).toBe(0);
  });

  it('replaces everything it knew with a snapshot batch', () => {
    const set = vxlanPeers();
    set.replace([A]);
    expect(set.apply(snapshot(B, OWN))).toBe(true);
    expect(keys(set)).toEqual(['192.0.2.12']);
    expect(set.apply(snapshot(B, OWN))).toBe(false);
  });

  it('adds a peer on an added event and drops it on a removed one', () => {
    const set = vxlanPeers();
    expect(set.apply(events({ added: A }))).toBe(true);
    expect(keys(set)).toEqual(['192.0.2.11']);
    expect(set.apply(events({ removed: A.subnets }))).toBe(true);
    expect(set.size).toBe(0);
  });

  it('reports no change for removing a subnet it never had', () => {
    const set = vxlanPeers();
    set.replace([A]);
    expect(set.apply(events({ removed: B.subnets }))).toBe(false);
  });

  it('ignores our own lease and other backends arriving as events', () => {
    const set = vxlanPeers();
    expect(set.apply(events({ added: OWN }, { added: HOST_GW }))).toBe(false);
    expect(set.size).toBe(0);
  });

  it('reports no change when a peer re-puts its lease with the same attributes (renewal)', () => {
    const set = vxlanPeers();
    set.replace([A]);
    const renewed: StoredLease = { ...A, ttlLeaseId: '101', modRevision: '12' };
    expect(set.apply(events({ added: renewed }))).toBe(false);
  });

  it('reports a change when a peer re-puts its lease with a new VtepMAC, and keeps the new one', () => {
    const set = vxlanPeers();
    set.replace([A]);
    const moved = lease('10.5.2.0/24', '192.0.2.11', 'aa:bb:cc:dd:ee:99');
    expect(set.apply(events({ added: moved }))).toBe(true);
    expect(set.list()).toEqual([moved]);
  });

  it('drops a peer that re-puts its lease under another backend type', () => {
    const set = vxlanPeers();
    set.replace([A]);
    const switched = lease('10.5.2.0/24', '192.0.2.11', undefined, 'host-gw');
    expect(set.apply(events({ added: switched }))).toBe(true);
    expect(set.size).toBe(0);
  });

  it('reports a batch as changed when any one of its events changes the set', () => {
    const set = vxlanPeers();
    set.replace([A]);
    expect(set.apply(events({ added: A }, { added: OWN }, { added: B }))).toBe(true);
    expect(keys(set)).toEqual(['192.0.2.11', '192.0.2.12']);
  });
});
