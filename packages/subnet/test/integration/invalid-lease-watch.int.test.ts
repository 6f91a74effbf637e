import { randomBytes } from 'node:crypto';
import { parseCidr } from '@flannel-ts/core';
import type { Cidr, Lease } from '@flannel-ts/core';
import { createRecordingLogger, waitUntil } from '@flannel-ts/core/testing';
import { PeerSet, createEtcdLeaseStore } from '@flannel-ts/subnet';
import type { LeaseStore } from '@flannel-ts/subnet';
import { startEtcd } from '@flannel-ts/subnet/testing';
import type { EtcdServer } from '@flannel-ts/subnet/testing';

let etcd: EtcdServer;
let store: LeaseStore;
let prefix: string;
const ctl = new AbortController();

const VALID = JSON.stringify({
  PublicIP: '192.0.2.11',
  PublicIPv6: null,
  BackendType: 'vxlan',
  BackendData: { VNI: 1, VtepMAC: 'aa:bb:cc:dd:ee:01' },
});

beforeAll(async () => {
  etcd = await startEtcd();
  prefix = `/t-${randomBytes(4).toString('hex')}/network`;
  store = await createEtcdLeaseStore({ endpoints: [etcd.endpoint], prefix });
});
afterAll(async () => {
  ctl.abort();
  await store?.close();
  await etcd?.stop();
});

describe('invalid leases over a real etcd watch', () => {
  it('a valid peer overwritten with garbage, then with our own PublicIP, is removed each time', async () => {
    const logger = createRecordingLogger();
    const peers = new PeerSet({
      own: { subnets: { ipv4: parseCidr('10.5.1.0/24') as Cidr }, publicIp: '192.0.2.10' },
      network: {
        ipv4: {
          network: parseCidr('10.5.0.0/16') as Cidr,
          subnetLen: 24,
          subnetMin: 0n,
          subnetMax: 0n,
        },
      },
      backendType: 'vxlan',
      logger,
    });
    const removals: string[] = [];
    const listing = await store.list();
    peers.apply({ kind: 'snapshot', listing });
    void (async () => {
      const from = (BigInt(listing.revision) + 1n).toString();
      for await (const batch of store.watch(from, ctl.signal)) {
        peers.apply(batch);
        for (const [k, l] of peers.takeChanges()) if (!l) removals.push(k);
      }
    })();
    const put = (value: string): Promise<string> =>
      etcd.etcdctl(['put', `${prefix}/subnets/10.5.2.0-24`, value]);
    const has = (): boolean => peers.list().some((l: Lease) => l.attrs.publicIp === '192.0.2.11');

    await put(VALID);
    await waitUntil(has, 'the valid peer');
    await put('{"PublicIP":"192.0.2.11"');
    await waitUntil(() => removals.length === 1, 'the peer removed after the garbage overwrite');
    await put(VALID);
    await waitUntil(has, 'the valid peer back');
    await put(VALID.replace('192.0.2.11', '192.0.2.10'));
    await waitUntil(() => removals.length === 2, 'the peer removed after the own-IP overwrite');

    expect(removals).toEqual(['10.5.2.0-24', '10.5.2.0-24']);
    expect(peers.size).toBe(0);

    // Deleting a hostile key with host bits does not remove the real peer it resembles.
    await put(VALID);
    await waitUntil(has, 'the valid peer back again');
    await etcd.etcdctl(['put', `${prefix}/subnets/10.5.2.5-24`, VALID]);
    await etcd.etcdctl(['del', `${prefix}/subnets/10.5.2.5-24`]);
    await etcd.etcdctl(['put', `${prefix}/subnets/10.5.3.0-24`, VALID.replace('.11', '.12')]);
    await waitUntil(() => peers.size === 2, 'a later valid peer, proving the delete was seen');
    expect(removals).toEqual(['10.5.2.0-24', '10.5.2.0-24']);
    expect(has()).toBe(true);
    const warned = logger.fields.filter((_, i) => logger.lines[i]?.level === 'warn');
    expect(warned).toEqual([
      expect.objectContaining({ key: 'subnets/10.5.2.0-24', field: 'value', rule: 'is not JSON' }),
      expect.objectContaining({ key: 'subnets/10.5.2.0-24', rule: 'is our own public IP' }),
      expect.objectContaining({ key: 'subnets/10.5.2.5-24', rule: 'has host bits set' }),
    ]);
  });
});
