import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { noopLogger, parseCidr } from '@flannel-ts/core';
import type { Cidr, Lease } from '@flannel-ts/core';
import { waitUntil } from '@flannel-ts/core/testing';
import {
  BLACKHOLE_METRIC,
  createAllocBackend,
  createHostGwBackend,
  createIproute2Monitor,
  createIproute2Runner,
  createVxlanBackend,
} from '@flannel-ts/backend';
import type {
  BackendContext,
  BackendFactory,
  DataPlane,
  DataPlaneRunners,
  ExternalInterface,
} from '@flannel-ts/backend';

// `--ip-blackhole-route` against a real kernel, in a namespace of this test's own (removed in
// afterAll): the route's attributes, its repair by the kernel monitor and by a full pass, on each
// backend; and that nothing else (a bridge route for our subnet as Docker's, an admin's blackhole,
// a metric-0 blackhole as upstream adds it) is touched.
const ns = `ftbh-${process.pid}-${randomBytes(2).toString('hex')}`;
const sh = (...args: string[]): string =>
  execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
interface JsonRoute {
  type?: string;
  dst?: string;
  table?: string;
  protocol?: string;
  scope?: string;
  metric?: number;
  dev?: string;
}
/** Every blackhole route of every table, with its details. */
const blackholes = (): JsonRoute[] =>
  JSON.parse(sh('-d', '-j', 'route', 'show', 'table', 'all', 'type', 'blackhole')) as JsonRoute[];
const hasOurs = (dst: string): boolean =>
  blackholes().some((r) => r.dst === dst && r.metric === BLACKHOLE_METRIC);
const delOurs = (dst: string): string =>
  sh('route', 'del', 'blackhole', dst, 'metric', String(BLACKHOLE_METRIC));

const cidr = (text: string): Cidr => parseCidr(text) as Cidr;
const network = cidr('10.5.0.0/16');
const own: Lease = {
  subnets: { ipv4: cidr('10.5.1.0/24') },
  attrs: { publicIp: '192.0.2.10', publicIpv6: null },
  ttlLeaseId: '1',
};
const iface: ExternalInterface = {
  name: 'v0',
  index: 0,
  mtu: 1500,
  ipv4: { address: '192.0.2.10', publicIp: '192.0.2.10' },
};
const signal = new AbortController().signal;
const open: DataPlaneRunners[] = [];

function runners(): DataPlaneRunners {
  const r: DataPlaneRunners = {
    ip: createIproute2Runner({ netns: ns }),
    bridge: createIproute2Runner({ netns: ns, binary: 'bridge' }),
    monitor: createIproute2Monitor({ netns: ns }),
  };
  open.push(r);
  return r;
}

async function start(factory: BackendFactory, extra: Partial<BackendContext>): Promise<DataPlane> {
  const backend = factory({ iface, options: {}, logger: noopLogger, runners: runners(), ...extra });
  await backend.register(signal);
  return (await backend.start(own, { ipv4: network }, signal))!;
}

/**
 * Runs passes as the data-plane loop does (one at a time; a full pass only when the monitor says
 * it missed events) and counts them, until stopped.
 */
function follow(dp: DataPlane) {
  const stop = new AbortController();
  const passes = { apply: 0, full: 0 };
  let chain: Promise<unknown> = Promise.resolve();
  const watching = dp.watch((full) => {
    chain = chain.then(() => {
      if (full) passes.full += 1;
      else passes.apply += 1;
      return full ? dp.resync() : dp.apply();
    });
  }, stop.signal);
  return {
    passes,
    async stop() {
      stop.abort();
      await watching;
      await chain;
    },
  };
}

const addOurs = (dst: string): string =>
  sh('route', 'replace', 'blackhole', dst, 'metric', String(BLACKHOLE_METRIC));

/**
 * The monitor subscribes a moment after it starts: delete the route (putting it back by hand
 * first if a deletion went unseen) until the data plane puts it back, which proves the monitor is
 * live. The callers count passes from then on.
 */
async function monitorLive(dst: string): Promise<void> {
  await waitUntil(async () => {
    if (!hasOurs(dst)) addOurs(dst);
    delOurs(dst);
    return waitUntil(() => hasOurs(dst), 'the route back', 300).then(
      () => true,
      () => false,
    );
  }, 'the kernel monitor to put the blackhole route back');
}

beforeAll(() => {
  execFileSync('ip', ['netns', 'add', ns]);
  sh('link', 'set', 'lo', 'up');
  sh('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
  sh('addr', 'add', '192.0.2.10/24', 'dev', 'v0');
  sh('link', 'set', 'v0', 'up');
  sh('link', 'set', 'v1', 'up');
  // What must never be touched: Docker's bridge on our subnet (its kernel route 10.5.1.0/24 dev
  // br0, metric 0), an admin's route and blackhole, and a metric-0 blackhole as upstream adds it.
  sh('link', 'add', 'br0', 'type', 'bridge');
  sh('addr', 'add', '10.5.1.1/24', 'dev', 'br0');
  sh('link', 'set', 'br0', 'up');
  sh('route', 'add', 'default', 'via', '192.0.2.1', 'dev', 'v0');
  sh('route', 'add', '198.51.100.0/24', 'via', '192.0.2.1', 'dev', 'v0');
  sh('route', 'add', 'blackhole', '10.99.0.0/16');
  sh('route', 'add', 'blackhole', '10.5.8.0/24');
});
afterAll(() => {
  for (const r of open) {
    r.ip.close();
    r.bridge.close();
  }
  execFileSync('ip', ['netns', 'del', ns]);
});
afterEach(() => {
  for (const dst of ['10.5.1.0/24', '10.5.9.0/24']) if (hasOurs(dst)) delOurs(dst);
});

/** Routes that are not ours, as they were set up. */
function othersUntouched(): void {
  expect(sh('route', 'show', 'dev', 'br0')).toContain('10.5.1.0/24 proto kernel scope link');
  expect(sh('route', 'show', 'dev', 'v0')).toContain('default via 192.0.2.1');
  expect(sh('route', 'show', 'dev', 'v0')).toContain('198.51.100.0/24 via 192.0.2.1');
  expect(blackholes().filter((r) => r.metric === undefined)).toEqual([
    {
      type: 'blackhole',
      dst: '10.5.8.0/24',
      table: 'main',
      protocol: 'boot',
      scope: 'global',
      flags: [],
    },
    {
      type: 'blackhole',
      dst: '10.99.0.0/16',
      table: 'main',
      protocol: 'boot',
      scope: 'global',
      flags: [],
    },
  ]);
}

describe.each([
  ['host-gw', createHostGwBackend],
  ['vxlan', createVxlanBackend],
  ['alloc', createAllocBackend],
] as const)('--ip-blackhole-route on %s, on a real kernel', (_type, factory) => {
  it('creates upstream’s route (main table, proto boot, scope global) with our metric', async () => {
    const dp = await start(factory, { blackholeRoute: true });

    await dp.resync();

    expect(blackholes().filter((r) => r.dst === '10.5.1.0/24')).toEqual([
      {
        type: 'blackhole',
        dst: '10.5.1.0/24',
        table: 'main',
        protocol: 'boot',
        scope: 'global',
        metric: BLACKHOLE_METRIC,
        flags: [],
      },
    ]);
    othersUntouched();
    // Docker's bridge still carries its subnet; only what it does not take is dropped.
    expect(sh('route', 'get', '10.5.1.7')).toContain('dev br0');
  });

  it('puts a deleted route back through the kernel monitor, without a full pass', async () => {
    const dp = await start(factory, { blackholeRoute: true });
    await dp.resync();
    const f = follow(dp);
    try {
      await monitorLive('10.5.1.0/24');
      const before = { ...f.passes };

      delOurs('10.5.1.0/24');
      await waitUntil(() => hasOurs('10.5.1.0/24'), 'the blackhole route back');

      expect(f.passes.full).toBe(before.full);
      expect(f.passes.apply).toBeGreaterThan(before.apply);
      othersUntouched();
    } finally {
      await f.stop();
    }
  });

  it('puts a deleted route back on a full pass, counted as a repair', async () => {
    const dp = await start(factory, { blackholeRoute: true });
    await dp.resync();

    delOurs('10.5.1.0/24');
    const r = await dp.resync();

    expect(r).toMatchObject({ changes: 1, repairs: 1 });
    expect(hasOurs('10.5.1.0/24')).toBe(true);
    othersUntouched();
  });

  it('removes ours for the subnet an earlier run held, at start only', async () => {
    sh('route', 'add', 'blackhole', '10.5.9.0/24', 'metric', String(BLACKHOLE_METRIC));
    const dp = await start(factory, { blackholeRoute: true, previousSubnet: cidr('10.5.9.0/24') });

    await dp.resync();
    expect(hasOurs('10.5.9.0/24')).toBe(false);
    expect(hasOurs('10.5.1.0/24')).toBe(true);

    // Afterwards that subnet may be another agent's in this namespace: its route stays.
    sh('route', 'add', 'blackhole', '10.5.9.0/24', 'metric', String(BLACKHOLE_METRIC));
    await dp.resync();
    expect(hasOurs('10.5.9.0/24')).toBe(true);
    othersUntouched();
  });
});

describe('the blackhole route on a real kernel, beyond one backend', () => {
  it('drops traffic to our subnet that no bridge takes, instead of sending it by the default route', async () => {
    sh('link', 'set', 'br0', 'down');
    try {
      // Without the route: 10.5.1.7 would leave by the default route.
      expect(sh('route', 'get', '10.5.1.7')).toContain('via 192.0.2.1 dev v0');
      const dp = await start(createHostGwBackend, { blackholeRoute: true });
      await dp.resync();

      // With it the kernel refuses the lookup, as for any blackhole destination.
      expect(() =>
        execFileSync('ip', ['-n', ns, 'route', 'get', '10.5.1.7'], { stdio: 'pipe' }),
      ).toThrow(/Invalid argument/);
    } finally {
      sh('link', 'set', 'br0', 'up');
    }
    expect(sh('route', 'get', '10.5.1.7')).toContain('dev br0');
  });

  it.each([
    ['host-gw', createHostGwBackend],
    ['vxlan', createVxlanBackend],
  ] as const)(
    '%s without the option removes the route an earlier run left',
    async (_t, factory) => {
      sh('route', 'add', 'blackhole', '10.5.1.0/24', 'metric', String(BLACKHOLE_METRIC));
      const dp = await start(factory, {});

      await dp.resync();

      expect(hasOurs('10.5.1.0/24')).toBe(false);
      othersUntouched();
    },
  );
});
