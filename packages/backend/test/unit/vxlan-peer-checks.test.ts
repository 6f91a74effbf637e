import { parseCidr } from '@flannel-ts/core';
import type { Cidr, Lease } from '@flannel-ts/core';
import { vxlanPeerEntries } from '@flannel-ts/backend';
import type { VxlanTopology } from '@flannel-ts/backend';

function lease(backendData: unknown): Lease {
  return {
    subnets: { ipv4: parseCidr('10.5.2.0/24') as Cidr },
    attrs: { publicIp: '192.0.2.11', publicIpv6: null, backendType: 'vxlan', backendData },
    ttlLeaseId: '100',
  };
}

const topo: VxlanTopology = {
  device: 'flannel.1',
  externalDevice: 'eth0',
  connected: [parseCidr('192.0.2.0/24') as Cidr],
  directRouting: false,
  vni: 1,
};

describe('vxlan peer checks', () => {
  it.each<[string, unknown, RegExp]>([
    ['no VtepMAC', { VNI: 1 }, /no valid BackendData.VtepMAC/],
    ['a VtepMAC that is not a MAC', { VNI: 1, VtepMAC: 'zz:zz' }, /no valid BackendData.VtepMAC/],
    [
      'a multicast VtepMAC',
      { VNI: 1, VtepMAC: '01:00:5e:00:00:01' },
      /01:00:5e:00:00:01 is not a unicast MAC/,
    ],
    ['the broadcast VtepMAC', { VNI: 1, VtepMAC: 'ff:ff:ff:ff:ff:ff' }, /is not a unicast MAC/],
    ['an all-zero VtepMAC', { VNI: 1, VtepMAC: '00:00:00:00:00:00' }, /is not a unicast MAC/],
    ['another VNI', { VNI: 2, VtepMAC: 'aa:bb:cc:dd:ee:01' }, /VNI 2 is not ours \(1\)/],
    ['no VNI', { VtepMAC: 'aa:bb:cc:dd:ee:01' }, /VNI undefined is not ours/],
    ['a VNI given as a string', { VNI: '1', VtepMAC: 'aa:bb:cc:dd:ee:01' }, /VNI "1" is not ours/],
  ])('skips a peer with %s', (_what, data, reason) => {
    const e = vxlanPeerEntries(lease(data), topo);
    expect('skip' in e && e.skip).toMatch(reason);
  });

  it('programs a peer with a unicast VtepMAC and our VNI, matched case-insensitively', () => {
    const e = vxlanPeerEntries(lease({ vni: 1, vtepmac: 'AA:BB:CC:DD:EE:01' }), topo);
    expect('fdb' in e && e.fdb).toEqual([
      { mac: 'aa:bb:cc:dd:ee:01', dst: '192.0.2.11', dev: 'flannel.1' },
    ]);
  });

  it('leaves the VNI unchecked when the topology does not say ours', () => {
    const e = vxlanPeerEntries(lease({ VNI: 7, VtepMAC: 'aa:bb:cc:dd:ee:01' }), {
      ...topo,
      vni: undefined,
    });
    expect('skip' in e).toBe(false);
  });
});
