import { ManualClock } from '@flannel-ts/core/testing';
import type { HeldLease } from '@flannel-ts/subnet';
import { readiness } from '../../src/readiness';
import type { ReadinessInput } from '../../src/readiness';

const clock = new ManualClock();
const now = clock.now();
const lease = {
  lease: {},
  expiresAtMs: now + 3_600_000,
  renewAtMs: now + 60_000,
} as unknown as HeldLease;
const ready: ReadinessInput = {
  clock,
  configLoaded: true,
  lease,
  subnetFileWritten: true,
  hasDataPlane: true,
  dataPlane: { inSync: true, knownPeers: 2 },
  store: { connectionStatus: () => ({ reachable: true }) },
};

describe('readiness', () => {
  it('is ready once the lease is held, the file written and the data plane in sync', () => {
    expect(readiness(ready)).toEqual({ ready: true });
    expect(readiness({ ...ready, hasDataPlane: false, dataPlane: undefined })).toEqual({
      ready: true,
    });
  });

  it.each([
    [
      'waiting for the config',
      { configLoaded: false, configWaiting: 'flannel config not found in etcd store' },
      'waiting for a valid network config (flannel config not found in etcd store)',
    ],
    ['no lease yet', { lease: undefined }, 'waiting for a subnet lease'],
    ['no file yet', { subnetFileWritten: false }, 'the subnet file is not written yet'],
    ['no data plane yet', { dataPlane: undefined }, 'the data plane is not started yet'],
    [
      'first pass not done',
      { dataPlane: { inSync: false, knownPeers: 0 } },
      'the data plane is not programmed yet',
    ],
    [
      'a failing pass',
      {
        dataPlane: {
          inSync: false,
          knownPeers: 1,
          lastError: 'RTNETLINK answers: Invalid argument',
        },
      },
      'the data plane is not in sync: RTNETLINK answers: Invalid argument',
    ],
    [
      'a failing task',
      { trouble: { task: 'traffic rules', error: 'iptables-restore: line 3 failed' } },
      'traffic rules is failing: iptables-restore: line 3 failed',
    ],
  ] as const)('is not ready when %s', (_what, change, reason) => {
    expect(readiness({ ...ready, ...change })).toEqual({ ready: false, reason });
  });

  it('stays ready through an etcd outage until the lease is due for renewal', () => {
    const down = {
      connectionStatus: () => ({ reachable: false, sinceMs: now, lastError: 'ECONNREFUSED' }),
    };
    expect(readiness({ ...ready, store: down })).toEqual({ ready: true });
    const late = new ManualClock();
    late.advance(60_000);
    expect(readiness({ ...ready, clock: late, store: down })).toEqual({
      ready: false,
      reason: `etcd is unreachable since ${new Date(now).toISOString()} (ECONNREFUSED) and the lease is due for renewal; it expires at ${new Date(now + 3_600_000).toISOString()}`,
    });
    // A reservation is never renewed: an outage does not make it unready.
    const reservation = { ...lease, expiresAtMs: undefined, renewAtMs: undefined };
    expect(readiness({ ...ready, clock: late, store: down, lease: reservation })).toEqual({
      ready: true,
    });
  });
});
