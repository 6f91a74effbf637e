import { parseCidr } from '@flannel-ts/core';
import type { Cidr, Lease } from '@flannel-ts/core';
import { hostGwDesiredState, vxlanDesiredState } from '@flannel-ts/backend';
import type { VxlanTopology } from '@flannel-ts/backend';

function cidr(text: string): Cidr {
  return parseCidr(text) as Cidr;
}

function lease(subnet: string, publicIp: string, backendData?: unknown): Lease {
  return {
    subnets: { ipv4: cidr(subnet) },
    attrs: { publicIp, publicIpv6: null, backendType: 'vxlan', backendData },
    ttlLeaseId: '100',
  };
}

const vtep = (mac: string) => ({ VNI: 1, VtepMAC: mac });

const lan = [cidr('192.0.2.0/24')];
const topo: VxlanTopology = {
  device: 'flannel.1',
  externalDevice: 'eth0',
  connected: lan,
  directRouting: false,
};

describe('vxlanDesiredState', () => {
  it('gives each peer an FDB entry, a permanent neighbour and an onlink route', () => {
    const { state, skipped } = vxlanDesiredState(
      [
        lease('10.5.2.0/24', '192.0.2.11', vtep('aa:bb:cc:dd:ee:01')),
        lease('10.5.3.0/24', '198.51.100.7', vtep('aa:bb:cc:dd:ee:02')),
      ],
      topo,
    );
    expect(skipped).toEqual([]);
    expect([...state.fdb.values()]).toEqual([
      { mac: 'aa:bb:cc:dd:ee:01', dst: '192.0.2.11', dev: 'flannel.1' },
      { mac: 'aa:bb:cc:dd:ee:02', dst: '198.51.100.7', dev: 'flannel.1' },
    ]);
    expect([...state.neighbours.values()]).toEqual([
      { ip: '10.5.2.0', mac: 'aa:bb:cc:dd:ee:01', dev: 'flannel.1' },
      { ip: '10.5.3.0', mac: 'aa:bb:cc:dd:ee:02', dev: 'flannel.1' },
    ]);
    expect([...state.routes.values()]).toEqual([
      { dst: '10.5.2.0/24', gateway: '10.5.2.0', dev: 'flannel.1', onlink: true },
      { dst: '10.5.3.0/24', gateway: '10.5.3.0', dev: 'flannel.1', onlink: true },
    ]);
  });

  it('reads VtepMAC case-insensitively and lower-cases the MAC', () => {
    const { state } = vxlanDesiredState(
      [lease('10.5.2.0/24', '192.0.2.11', { vni: 1, vtepmac: 'AA:BB:CC:DD:EE:0F' })],
      topo,
    );
    expect([...state.fdb.keys()]).toEqual(['flannel.1 aa:bb:cc:dd:ee:0f']);
    expect(state.neighbours.get('10.5.2.0')?.mac).toBe('aa:bb:cc:dd:ee:0f');
  });

  it.each([
    ['no BackendData', undefined],
    ['no VtepMAC', { VNI: 1 }],
    ['a malformed VtepMAC', vtep('aa:bb:cc:dd:ee')],
    ['a VtepMAC that is not a string', { VNI: 1, VtepMAC: 42 }],
    ['BackendData that is a string', 'aa:bb:cc:dd:ee:01'],
  ])('skips a peer with %s, says why, and still programs the others', (_name, data) => {
    const { state, skipped } = vxlanDesiredState(
      [
        lease('10.5.2.0/24', '192.0.2.11', data),
        lease('10.5.3.0/24', '192.0.2.12', vtep('aa:bb:cc:dd:ee:02')),
      ],
      topo,
    );
    expect(skipped).toEqual([
      {
        peer: '10.5.2.0/24 (192.0.2.11)',
        reason: 'its lease has no valid BackendData.VtepMAC',
      },
    ]);
    expect([...state.routes.keys()]).toEqual(['10.5.3.0/24']);
    expect([...state.neighbours.keys()]).toEqual(['10.5.3.0']);
    expect([...state.fdb.keys()]).toEqual(['flannel.1 aa:bb:cc:dd:ee:02']);
  });

  it('with DirectRouting routes an on-link peer via its public IP on the external device, without FDB or neighbour', () => {
    const { state, skipped } = vxlanDesiredState(
      [
        lease('10.5.2.0/24', '192.0.2.11', vtep('aa:bb:cc:dd:ee:01')),
        lease('10.5.3.0/24', '198.51.100.7', vtep('aa:bb:cc:dd:ee:02')),
      ],
      { ...topo, directRouting: true },
    );
    expect(skipped).toEqual([]);
    expect([...state.routes.values()]).toEqual([
      { dst: '10.5.2.0/24', gateway: '192.0.2.11', dev: 'eth0', onlink: false },
      // The off-link peer still goes over VXLAN.
      { dst: '10.5.3.0/24', gateway: '10.5.3.0', dev: 'flannel.1', onlink: true },
    ]);
    expect([...state.neighbours.values()]).toEqual([
      { ip: '10.5.3.0', mac: 'aa:bb:cc:dd:ee:02', dev: 'flannel.1' },
    ]);
    expect([...state.fdb.values()]).toEqual([
      { mac: 'aa:bb:cc:dd:ee:02', dst: '198.51.100.7', dev: 'flannel.1' },
    ]);
  });

  it('with DirectRouting needs no VtepMAC for an on-link peer', () => {
    const { state, skipped } = vxlanDesiredState([lease('10.5.2.0/24', '192.0.2.11')], {
      ...topo,
      directRouting: true,
    });
    expect(skipped).toEqual([]);
    expect([...state.routes.keys()]).toEqual(['10.5.2.0/24']);
  });

  it('returns the empty state for no peers', () => {
    const { state, skipped } = vxlanDesiredState([], topo);
    expect(skipped).toEqual([]);
    expect(state.routes.size + state.neighbours.size + state.fdb.size).toBe(0);
  });
});

describe('hostGwDesiredState', () => {
  it('routes each on-link peer subnet via its public IP on the external interface', () => {
    const { state, skipped } = hostGwDesiredState(
      [lease('10.5.2.0/24', '192.0.2.11'), lease('10.5.3.0/24', '192.0.2.12')],
      'eth0',
      lan,
    );
    expect(skipped).toEqual([]);
    expect([...state.routes.values()]).toEqual([
      { dst: '10.5.2.0/24', gateway: '192.0.2.11', dev: 'eth0', onlink: false },
      { dst: '10.5.3.0/24', gateway: '192.0.2.12', dev: 'eth0', onlink: false },
    ]);
    expect(state.neighbours.size).toBe(0);
    expect(state.fdb.size).toBe(0);
  });

  it('skips an off-link peer with a reason naming it and still programs the others', () => {
    const { state, skipped } = hostGwDesiredState(
      [
        lease('10.5.2.0/24', '192.0.2.11'),
        lease('10.5.4.0/24', '198.51.100.7'),
        lease('10.5.3.0/24', '192.0.2.12'),
      ],
      'eth0',
      lan,
    );
    expect(skipped).toHaveLength(1);
    expect(skipped[0]?.peer).toBe('10.5.4.0/24 (198.51.100.7)');
    expect(skipped[0]?.reason).toMatch(/not on a network directly connected to eth0/);
    expect([...state.routes.keys()]).toEqual(['10.5.2.0/24', '10.5.3.0/24']);
  });

  it('treats every network of the external interface as on-link', () => {
    const { skipped } = hostGwDesiredState([lease('10.5.4.0/24', '198.51.100.7')], 'eth0', [
      ...lan,
      cidr('198.51.100.0/24'),
    ]);
    expect(skipped).toEqual([]);
  });
});
