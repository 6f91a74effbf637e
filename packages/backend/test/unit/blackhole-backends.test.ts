import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatSubnetKey, noopLogger, parseCidr } from '@flannel-ts/core';
import type { Cidr, Lease } from '@flannel-ts/core';
import {
  BLACKHOLE_METRIC,
  createAllocBackend,
  createHostGwBackend,
  createVxlanBackend,
} from '@flannel-ts/backend';
import type { BackendContext, BackendFactory, ExternalInterface } from '@flannel-ts/backend';
import { FakeIpRunner } from '@flannel-ts/backend/testing';

// `--ip-blackhole-route` on each backend, against FakeIpRunner: what each pass reads and sends.
// Our subnet is 10.5.1.0/24; an earlier run held 10.5.9.0/24.

const signal = new AbortController().signal;
const network = parseCidr('10.5.0.0/16') as Cidr;
const cidr = (text: string): Cidr => parseCidr(text) as Cidr;
const iface: ExternalInterface = {
  name: 'v0',
  index: 3,
  mtu: 1500,
  ipv4: { address: '192.0.2.10', publicIp: '192.0.2.10', connected: [cidr('192.0.2.0/24')] },
};
const lease = (subnet: string, publicIp: string, backendType: string): Lease => ({
  subnets: { ipv4: cidr(subnet) },
  attrs: {
    publicIp,
    publicIpv6: null,
    backendType,
    backendData: { VNI: 1, VtepMAC: '9e:68:27:71:51:f2' },
  },
  ttlLeaseId: '100',
});
const own = lease('10.5.1.0/24', '192.0.2.10', 'host-gw');
const blackhole = (dst: string) =>
  JSON.stringify({ type: 'blackhole', dst, metric: BLACKHOLE_METRIC, flags: [] });
const replace = (dst: string): string =>
  `route replace blackhole ${dst} metric ${BLACKHOLE_METRIC}`;
const remove = (dst: string): string => `route del blackhole ${dst} metric ${BLACKHOLE_METRIC}`;
const READ = '-json route show type blackhole';

/** A host whose blackhole routes follow the batches sent; vxlan's device already exists. */
function fakeHost() {
  const host = { blackholes: [] as string[] };
  const ip = new FakeIpRunner({
    answers: {
      [READ]: () => `[${host.blackholes.map(blackhole).join(',')}]`,
      '-json route show dev v0': '[]',
      '-json route show dev flannel.1': '[]',
      '-json neigh show dev flannel.1': '[]',
      '-json -d addr show dev flannel.1': readFileSync(
        join(__dirname, '..', 'fixtures', 'addr-show-flannel1.json'),
        'utf8',
      ),
    },
    onBatch: (lines) => {
      for (const line of lines) {
        const [, verb, dst] = /^route (replace|del) blackhole (\S+)/.exec(line) ?? [];
        if (dst === undefined) continue;
        host.blackholes = host.blackholes.filter((d) => d !== dst);
        if (verb === 'replace') host.blackholes.push(dst);
      }
    },
  });
  const bridge = new FakeIpRunner({ answers: { '-json fdb show dev flannel.1': '[]' } });
  return { host, ip, bridge };
}

function backendOf(
  factory: BackendFactory,
  h: ReturnType<typeof fakeHost>,
  extra: Partial<BackendContext>,
) {
  return factory({ iface, options: {}, logger: noopLogger, runners: h, ...extra });
}

describe.each([
  ['host-gw', createHostGwBackend],
  ['vxlan', createVxlanBackend],
  ['alloc', createAllocBackend],
] as const)('--ip-blackhole-route on %s', (_type, factory) => {
  it('creates the route for our subnet at start, and a later full pass finds it in place', async () => {
    const h = fakeHost();
    const backend = backendOf(factory, h, { blackholeRoute: true });
    await backend.register(signal);
    const dp = (await backend.start(own, { ipv4: network }, signal))!;

    await dp.resync(signal);
    expect(h.ip.batchLines).toContain(replace('10.5.1.0/24'));
    expect(h.host.blackholes).toEqual(['10.5.1.0/24']);
    const sent = h.ip.batches.length;

    await expect(dp.resync(signal)).resolves.toMatchObject({ changes: 0, repairs: 0 });
    expect(h.ip.batches).toHaveLength(sent);
    expect(h.ip.history.filter((c) => c === READ)).toHaveLength(2);
  });

  it('removes ours for the previous subnet at start, and leaves it alone afterwards', async () => {
    const h = fakeHost();
    h.host.blackholes = ['10.5.1.0/24', '10.5.9.0/24'];
    const backend = backendOf(factory, h, {
      blackholeRoute: true,
      previousSubnet: cidr('10.5.9.0/24'),
    });
    await backend.register(signal);
    const dp = (await backend.start(own, { ipv4: network }, signal))!;

    await dp.resync(signal);
    expect(h.ip.batchLines).toEqual([remove('10.5.9.0/24')]);

    // Another agent in this namespace now holds 10.5.9.0/24 and keeps its own route for it.
    h.host.blackholes.push('10.5.9.0/24');
    await dp.resync(signal);
    expect(h.ip.batchLines).toEqual([remove('10.5.9.0/24')]);
  });
});

describe('without --ip-blackhole-route', () => {
  it.each([
    ['host-gw', createHostGwBackend],
    ['vxlan', createVxlanBackend],
  ] as const)(
    '%s removes the route an earlier run left for our subnet, then reads no more',
    async (_type, factory) => {
      const h = fakeHost();
      h.host.blackholes = ['10.5.1.0/24'];
      const backend = backendOf(factory, h, {});
      await backend.register(signal);
      const dp = (await backend.start(own, { ipv4: network }, signal))!;

      await dp.resync(signal);
      expect(h.ip.batchLines).toEqual([remove('10.5.1.0/24')]);

      await dp.resync(signal);
      expect(h.ip.history.filter((c) => c === READ)).toHaveLength(1);
    },
  );

  it('alloc has no data plane at all, as before', async () => {
    const backend = backendOf(createAllocBackend, fakeHost(), {});

    await expect(backend.start(own, { ipv4: network }, signal)).resolves.toBeUndefined();
  });
});

describe('alloc with --ip-blackhole-route', () => {
  it('holds the route and nothing else: peers change nothing and have no state', async () => {
    const h = fakeHost();
    const backend = backendOf(createAllocBackend, h, { blackholeRoute: true });
    const dp = (await backend.start(own, { ipv4: network }, signal))!;
    const peer = lease('10.5.2.0/24', '192.0.2.11', 'alloc');

    dp.update([[formatSubnetKey(peer.subnets), peer]]);
    await dp.resync(signal);

    expect(h.ip.batches).toEqual([[replace('10.5.1.0/24')]]);
    expect(h.ip.history.filter((c) => c.startsWith('-json'))).toEqual([READ]);
    expect(h.bridge.calls).toEqual([]);
    expect(dp.peerStates()).toEqual([]);
    expect(dp.pending).toBe(false);
  });
});
