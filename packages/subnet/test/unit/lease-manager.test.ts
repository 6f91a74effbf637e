import { createRecordingLogger, waitUntil } from '@flannel-ts/core/testing';
import { parseCidr, systemClock } from '@flannel-ts/core';
import type { LeaseAttrs } from '@flannel-ts/core';
import {
  LeaseLostError,
  LeaseManager,
  StoreUnavailableError,
  loadNetworkConfig,
  parseNetworkConfig,
} from '@flannel-ts/subnet';
import type { NetworkConfig } from '@flannel-ts/subnet';
import { InMemoryLeaseStore } from '@flannel-ts/subnet/testing';

const cfg = parseNetworkConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"alloc"}}');
const config = (cfg.ok ? cfg.config : undefined) as NetworkConfig;
const attrs: LeaseAttrs = { publicIp: '192.0.2.9', publicIpv6: null };

function manager(
  store: InMemoryLeaseStore,
  extra: { ttlSeconds?: number; renewMarginMs?: number } = {},
) {
  return new LeaseManager({
    store,
    clock: systemClock,
    logger: createRecordingLogger(),
    renewMarginMs: extra.renewMarginMs ?? 3_600_000,
    ttlSeconds: extra.ttlSeconds,
  });
}

describe('LeaseManager.acquire', () => {
  const signal = new AbortController().signal;

  it('keeps the same subnet across a restart and leaks no TTL lease', async () => {
    const store = new InMemoryLeaseStore();
    const first = await manager(store).acquire({ config, attrs }, signal);
    const second = await manager(store).acquire({ config, attrs }, signal);
    expect(second.subnets).toEqual(first.subnets);
    expect(second.ttlLeaseId).not.toBe(first.ttlLeaseId);
    expect([...store.liveTtlLeases]).toEqual([second.ttlLeaseId]);
  });

  it('retries when another host wins the race for the chosen subnet (SPEC D1)', async () => {
    const store = new InMemoryLeaseStore();
    const realCreate = store.create.bind(store);
    let raced = false;
    store.create = (subnets, a, ttl) => {
      if (!raced) {
        raced = true;
        store.put(subnets, { publicIp: '192.0.2.77', publicIpv6: null });
      }
      return realCreate(subnets, a, ttl);
    };
    const lease = await manager(store).acquire({ config, attrs }, signal);
    expect(raced).toBe(true);
    expect(lease.attrs.publicIp).toBe('192.0.2.9');
    expect(store.get(lease.subnets)?.attrs.publicIp).toBe('192.0.2.9');
  });

  it('honours a reservation and never gives it a TTL', async () => {
    const store = new InMemoryLeaseStore();
    const reserved = store.put({ ipv4: parseCidr('10.5.42.0/24')! }, attrs, { ttl: false });
    const lease = await manager(store).acquire({ config, attrs }, signal);
    expect(lease).toEqual(reserved);
    const withMac = {
      ...attrs,
      backendType: 'vxlan',
      backendData: { VNI: 1, VtepMAC: 'aa:bb:cc:dd:ee:ff' },
    };
    const updated = await manager(store).acquire({ config, attrs: withMac }, signal);
    expect(updated.ttlLeaseId).toBe('0');
    expect(updated.attrs.backendType).toBe('vxlan');
  });

  it('retries while the store is unreachable', async () => {
    const store = new InMemoryLeaseStore();
    store.failNext.push(new StoreUnavailableError('cannot list leases on etcd at x: down'));
    const lease = await manager(store).acquire({ config, attrs }, signal);
    expect(store.get(lease.subnets)).toBeDefined();
  });
});

describe('LeaseManager through an etcd outage', () => {
  it('logs the first failure and the recovery, not every retry', async () => {
    const store = new InMemoryLeaseStore();
    for (let i = 0; i < 5; i++) {
      store.failNext.push(new StoreUnavailableError('cannot list leases on etcd at x: down'));
    }
    const logger = createRecordingLogger();
    const instant = { now: () => 0, sleep: () => Promise.resolve() };
    const lm = new LeaseManager({ store, clock: instant, logger, renewMarginMs: 3_600_000 });

    await lm.acquire({ config, attrs }, new AbortController().signal);

    expect(logger.lines.filter((l) => l.level !== 'debug' && /listing/.test(l.message))).toEqual([
      { level: 'error', message: 'listing leases failed; retrying' },
      { level: 'info', message: 'listing leases succeeded after retrying' },
    ]);
    expect(logger.fields[logger.lines.findIndex((l) => l.level === 'info')]).toMatchObject({
      retries: 5,
    });
  });
});

describe('LeaseManager.maintain', () => {
  it('renews before expiry with a fresh TTL, releasing the old one (SPEC D4)', async () => {
    const store = new InMemoryLeaseStore();
    const lm = manager(store, { ttlSeconds: 1, renewMarginMs: 900 });
    const ctl = new AbortController();
    const lease = await lm.acquire({ config, attrs }, ctl.signal);
    const running = lm.maintain(lease, attrs, ctl.signal);
    await waitUntil(() => store.get(lease.subnets)?.ttlLeaseId !== lease.ttlLeaseId, 'a renewal');
    await waitUntil(() => store.liveTtlLeases.size === 1, 'the old TTL to be released');
    ctl.abort();
    await running;
  });

  it('takes the same subnet back when its key is deleted (SPEC D5)', async () => {
    const store = new InMemoryLeaseStore();
    const lm = manager(store);
    const ctl = new AbortController();
    const lease = await lm.acquire({ config, attrs }, ctl.signal);
    const running = lm.maintain(lease, attrs, ctl.signal);
    store.delete(lease.subnets);
    await waitUntil(
      () => store.get(lease.subnets)?.attrs.publicIp === attrs.publicIp,
      're-acquisition',
    );
    ctl.abort();
    await running;
  });

  it('fails with a clear error when another host took the subnet meanwhile', async () => {
    const store = new InMemoryLeaseStore();
    const lm = manager(store);
    const ctl = new AbortController();
    const lease = await lm.acquire({ config, attrs }, ctl.signal);
    const running = lm.maintain(lease, attrs, ctl.signal);
    store.delete(lease.subnets);
    store.put(lease.subnets, { publicIp: '192.0.2.50', publicIpv6: null });
    await expect(running).rejects.toThrow(LeaseLostError);
    await expect(running).rejects.toThrow(/192\.0\.2\.50 now holds it/);
  });
});

describe('LeaseManager: the held lease and a watch that ends', () => {
  it('tells when the held lease expires and is due for renewal; a reservation never is', async () => {
    const store = new InMemoryLeaseStore();
    const lm = manager(store, { ttlSeconds: 3600, renewMarginMs: 600_000 });
    const before = Date.now();
    const lease = await lm.acquire({ config, attrs }, new AbortController().signal);
    const held = lm.held;
    expect(held?.lease).toBe(lease);
    expect(held?.expiresAtMs).toBeGreaterThanOrEqual(before + 3_600_000);
    expect(held?.expiresAtMs).toBeLessThanOrEqual(Date.now() + 3_600_000);
    expect(held?.renewAtMs).toBe((held?.expiresAtMs ?? 0) - 600_000);

    const reserved = new InMemoryLeaseStore();
    reserved.put(lease.subnets, attrs, { ttl: false });
    const lm2 = manager(reserved);
    await lm2.acquire({ config, attrs }, new AbortController().signal);
    expect(lm2.held).toMatchObject({ expiresAtMs: undefined, renewAtMs: undefined });
  });

  it('fails with a restart disposition when the watch of our key ends, and resumes when run again', async () => {
    const store = new InMemoryLeaseStore();
    const lm = manager(store);
    const ctl = new AbortController();
    const lease = await lm.acquire({ config, attrs }, ctl.signal);
    const first = lm.maintain(lease, attrs, ctl.signal);
    store.endWatches();
    await expect(first).rejects.toMatchObject({
      code: 'OWN_LEASE_WATCH_ENDED',
      disposition: 'restart',
    });
    // Run again (as the supervisor does): a deleted key is noticed and taken back.
    const second = lm.maintain(lease, attrs, ctl.signal);
    store.delete(lease.subnets);
    await waitUntil(
      () => store.get(lease.subnets)?.attrs.publicIp === attrs.publicIp,
      're-acquisition after the restart',
    );
    ctl.abort();
    await second;
  });
});

describe('loadNetworkConfig', () => {
  it('reports a missing then an invalid config once each, and goes on when it becomes valid', async () => {
    const store = new InMemoryLeaseStore();
    const logger = createRecordingLogger();
    const ctl = new AbortController();
    const loading = loadNetworkConfig({ store, clock: systemClock, logger, signal: ctl.signal });
    await waitUntil(
      () => logger.lines.some((l) => l.level === 'error'),
      'the missing-config error',
    );
    store.setConfig('{"Network":"10.5.0.0/16","SubnetLen":31}');
    await waitUntil(
      () => logger.lines.filter((l) => l.level === 'error').length === 2,
      'the invalid-config error',
    );
    store.setConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"alloc"}}');
    const loaded = await loading;
    expect(loaded.backend.type).toBe('alloc');
    const errors = logger.lines.filter((l) => l.level === 'error').map((l) => l.message);
    expect(errors).toEqual([
      'flannel config not found in etcd store. Did you create your config using etcdv3 API?',
      expect.stringMatching(
        /^invalid network config: SubnetLen=31: SubnetLen must be less than \/31$/,
      ),
    ]);
  });
});
