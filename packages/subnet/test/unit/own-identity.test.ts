import { createRecordingLogger } from '@flannel-ts/core/testing';
import { parseCidr, systemClock } from '@flannel-ts/core';
import type { Cidr, LeaseAttrs, SubnetPair } from '@flannel-ts/core';
import { LeaseManager, decideAllocation, parseNetworkConfig } from '@flannel-ts/subnet';
import type { NetworkConfig, StoredLease } from '@flannel-ts/subnet';
import { InMemoryLeaseStore } from '@flannel-ts/subnet/testing';

const cfg = parseNetworkConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}');
const config = (cfg.ok ? cfg.config : undefined) as NetworkConfig;
const ME = '192.0.2.9';
const attrs: LeaseAttrs = { publicIp: ME, publicIpv6: null };
const pair = (v4: string): SubnetPair => ({ ipv4: parseCidr(v4) as Cidr });

let rev = 10;
function lease(v4: string, publicIp: string, ttlLeaseId = '7'): StoredLease {
  return {
    subnets: pair(v4),
    attrs: { publicIp, publicIpv6: null },
    ttlLeaseId,
    modRevision: String(rev++),
  };
}

const RESERVED = lease('10.5.100.0/24', ME, '0');
const TTL = lease('10.5.7.0/24', ME);
const PREVIOUS = lease('10.5.3.0/24', ME);
const PREVIOUS_RESERVED = lease('10.5.3.0/24', ME, '0');
const OUTSIDE = lease('10.9.1.0/24', ME);
const PEER = lease('10.5.1.0/24', '192.0.2.1');

describe('which key carrying our public IP is ours', () => {
  it.each<[string, StoredLease[], StoredLease]>([
    ['the previous subnet over a TTL lease and a reservation', [RESERVED, TTL, PREVIOUS], PREVIOUS],
    [
      'the previous subnet even when it is a reservation',
      [TTL, PREVIOUS_RESERVED],
      PREVIOUS_RESERVED,
    ],
    ['a TTL lease over a reservation listed first', [RESERVED, TTL], TTL],
    ['a reservation when it is the only one', [RESERVED], RESERVED],
    ['one that fits the config over one that does not', [OUTSIDE, RESERVED], RESERVED],
  ])('takes %s', (_what, leases, expected) => {
    const d = decideAllocation({
      config,
      leases: [PEER, ...leases],
      publicIp: ME,
      previous: pair('10.5.3.0/24'),
      random: () => 0,
    });
    expect(d).toEqual({
      kind: 'reuse',
      lease: expected,
      others: leases.filter((l) => l !== expected),
    });
  });

  it('treats a key holding an unreadable value as taken', () => {
    const d = decideAllocation({
      config,
      leases: [],
      publicIp: ME,
      previous: pair('10.5.3.0/24'),
      occupied: [pair('10.5.3.0/24')],
      random: () => 0,
    });
    expect(d).toEqual(expect.objectContaining({ kind: 'create', source: 'random' }));
    expect(d.kind === 'create' && d.subnets.ipv4).not.toEqual(pair('10.5.3.0/24').ipv4);
  });
});

describe('LeaseManager.acquire with several keys carrying our public IP', () => {
  it('keeps the previous subnet beside a reservation for our IP, and warns naming both keys', async () => {
    const store = new InMemoryLeaseStore();
    store.put(pair('10.5.100.0/24'), attrs, { ttl: false });
    const mine = store.put(pair('10.5.3.0/24'), attrs);
    const logger = createRecordingLogger();
    const manager = new LeaseManager({ store, clock: systemClock, logger, renewMarginMs: 60_000 });

    const got = await manager.acquire(
      { config, attrs, previous: pair('10.5.3.0/24') },
      new AbortController().signal,
    );

    expect(got.subnets).toEqual(mine.subnets);
    const warnings = logger.fields.filter((_, i) => logger.lines[i]?.level === 'warn');
    expect(warnings).toEqual([
      {
        publicIp: ME,
        using: '10.5.3.0-24 (TTL lease)',
        others: '10.5.100.0-24 (reservation)',
      },
    ]);
    // Nothing was deleted: the reservation is an administrator's statement.
    expect(store.get(pair('10.5.100.0/24'))).toBeDefined();
  });
});
