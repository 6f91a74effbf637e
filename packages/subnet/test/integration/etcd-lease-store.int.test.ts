import { randomBytes } from 'node:crypto';
import { parseCidr } from '@flannel-ts/core';
import type { LeaseAttrs } from '@flannel-ts/core';
import { createEtcdLeaseStore } from '@flannel-ts/subnet';
import type { LeaseBatch, LeaseStore } from '@flannel-ts/subnet';
import { startEtcd } from '@flannel-ts/subnet/testing';
import type { EtcdServer } from '@flannel-ts/subnet/testing';

let etcd: EtcdServer;
let store: LeaseStore;
let prefix: string;
const attrs: LeaseAttrs = { publicIp: '1.2.3.4', publicIpv6: null };
const subnet = (s: string) => ({ ipv4: parseCidr(s)! });

beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  await etcd?.stop();
});
beforeEach(async () => {
  prefix = `/t-${randomBytes(4).toString('hex')}/network`;
  store = await createEtcdLeaseStore({ endpoints: [etcd.endpoint], prefix });
});
afterEach(async () => {
  await store.close();
});

function watchFrom(revision: string, signal: AbortSignal): AsyncIterator<LeaseBatch> {
  const from = (BigInt(revision) + 1n).toString();
  return store.watch(from, signal)[Symbol.asyncIterator]();
}

async function next(it: AsyncIterator<LeaseBatch>): Promise<LeaseBatch> {
  const r = await it.next();
  if (r.done) throw new Error('watch ended');
  return r.value;
}

describe('EtcdLeaseStore against a real etcd', () => {
  it('reads the config key, or says it is missing', async () => {
    expect((await store.getNetworkConfig()).kind).toBe('missing');
    await etcd.etcdctl(['put', `${prefix}/config`, '{"Network":"10.5.0.0/16"}']);
    const read = await store.getNetworkConfig();
    expect(read).toMatchObject({ kind: 'found', text: '{"Network":"10.5.0.0/16"}' });
  });

  it('creates a lease with the exact upstream bytes and a 24 h TTL, once', async () => {
    const created = await store.create(subnet('10.5.7.0/24'), attrs, 86400);
    expect(created.kind).toBe('created');
    const raw = await etcd.etcdctl(['get', `${prefix}/subnets/10.5.7.0-24`, '--print-value-only']);
    expect(raw).toBe('{"PublicIP":"1.2.3.4","PublicIPv6":null}\n');
    const leaseId = created.kind === 'created' ? created.lease.ttlLeaseId : '';
    const ttl = await etcd.etcdctl(['lease', 'timetolive', BigInt(leaseId).toString(16)]);
    expect(ttl).toMatch(/granted with TTL\(86400s\)/);
    expect((await store.create(subnet('10.5.7.0/24'), attrs, 86400)).kind).toBe('taken');
  });

  it('renews onto a fresh TTL and revokes the previous one (no leak)', async () => {
    const c = await store.create(subnet('10.5.8.0/24'), attrs, 600);
    if (c.kind !== 'created') throw new Error('not created');
    const u = await store.update(c.lease, attrs, 600);
    if (u.kind !== 'updated') throw new Error('not updated');
    expect(u.lease.ttlLeaseId).not.toBe(c.lease.ttlLeaseId);
    const leases = await etcd.etcdctl(['lease', 'list']);
    expect(leases).not.toContain(BigInt(c.lease.ttlLeaseId).toString(16));
    expect(leases).toContain(BigInt(u.lease.ttlLeaseId).toString(16));
    // A stale compare-and-swap (the key changed since) reports the loss instead of overwriting.
    expect((await store.update(c.lease, attrs, 600)).kind).toBe('lost');
  });

  it('lists every lease in one read, skipping undecodable values, and keeps reservations TTL-less', async () => {
    await etcd.etcdctl([
      'put',
      `${prefix}/subnets/10.5.1.0-24`,
      '{"PublicIP":"10.0.0.1","Extra":1}',
    ]);
    await etcd.etcdctl(['put', `${prefix}/subnets/10.5.2.0-24`, 'not json']);
    await etcd.etcdctl(['put', `${prefix}/subnets/garbage`, '{}']);
    const listing = await store.list();
    expect(listing.leases.map((l) => l.attrs.publicIp)).toEqual(['10.0.0.1']);
    expect(listing.leases[0]!.ttlLeaseId).toBe('0');
    expect(listing.skipped.map((s) => s.key).sort()).toEqual([
      'subnets/10.5.2.0-24',
      'subnets/garbage',
    ]);
    const u = await store.update(
      listing.leases[0]!,
      { publicIp: '10.0.0.1', publicIpv6: null },
      600,
    );
    expect(u.kind === 'updated' && u.lease.ttlLeaseId).toBe('0');
  });

  it('watches additions and removals from a revision', async () => {
    const listing = await store.list();
    const ctl = new AbortController();
    const it = watchFrom(listing.revision, ctl.signal);
    await store.create(subnet('10.5.9.0/24'), attrs, 600);
    await etcd.etcdctl(['del', `${prefix}/subnets/10.5.9.0-24`]);
    const seen: string[] = [];
    while (seen.length < 2) {
      const b = await next(it);
      if (b.kind === 'events') seen.push(...b.events.map((e) => e.type));
    }
    expect(seen).toEqual(['added', 'removed']);
    ctl.abort();
  });

  it('survives compaction: re-lists and yields a snapshot, then keeps watching', async () => {
    const before = await store.list();
    await store.create(subnet('10.5.10.0/24'), attrs, 600);
    await store.create(subnet('10.5.11.0/24'), { publicIp: '5.6.7.8', publicIpv6: null }, 600);
    const status = JSON.parse(await etcd.etcdctl(['endpoint', 'status', '-w', 'json'])) as {
      Status: { header: { revision: number } };
    }[];
    await etcd.etcdctl(['compaction', String(status[0]!.Status.header.revision)]);
    const ctl = new AbortController();
    const it = watchFrom(before.revision, ctl.signal);
    const first = await next(it);
    expect(first.kind).toBe('snapshot');
    if (first.kind === 'snapshot') {
      expect(first.listing.leases.map((l) => l.attrs.publicIp).sort()).toEqual([
        '1.2.3.4',
        '5.6.7.8',
      ]);
    }
    await store.create(subnet('10.5.12.0/24'), { publicIp: '9.9.9.9', publicIpv6: null }, 600);
    const after = await next(it);
    expect(after.kind === 'events' && after.events[0]?.type).toBe('added');
    ctl.abort();
  });

  it('names the endpoint when etcd is unreachable', async () => {
    const dead = await createEtcdLeaseStore({
      endpoints: ['http://127.0.0.1:1'],
      prefix,
      callTimeoutMs: 1000,
    });
    await expect(dead.getNetworkConfig()).rejects.toThrow(
      /cannot read the network config on etcd at http:\/\/127\.0\.0\.1:1/,
    );
    await dead.close();
  });
});
