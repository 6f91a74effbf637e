import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { formatSubnetKey, noopLogger, parseCidr } from '@flannel-ts/core';
import { waitUntil } from '@flannel-ts/core/testing';
import type { Lease } from '@flannel-ts/core';
import {
  createHostGwBackend,
  createIproute2Monitor,
  createIproute2Runner,
  createVxlanBackend,
} from '@flannel-ts/backend';
import type { DataPlane, DataPlaneRunners } from '@flannel-ts/backend';

// Real `ip`/`bridge` in a throwaway namespace: the backends' kernel programming end to end.
const ns = `ftb-${randomBytes(3).toString('hex')}`;
const sh = (...args: string[]): string =>
  execFileSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
const br = (...args: string[]): string =>
  execFileSync('bridge', ['-n', ns, ...args], { encoding: 'utf8' });
const runners: DataPlaneRunners = {
  ip: createIproute2Runner({ netns: ns }),
  bridge: createIproute2Runner({ netns: ns, binary: 'bridge' }),
  monitor: createIproute2Monitor({ netns: ns }),
};
const keyed = (ls: readonly Lease[]) => ls.map((l) => [formatSubnetKey(l.subnets), l] as const);
/** Hands the data plane the peer set `ls` (what the data-plane loop's PeerSet does). */
let current = new Map<string, Lease>();
function setPeers(dp: DataPlane, ls: readonly Lease[]): void {
  const next = new Map(keyed(ls));
  dp.update([
    ...[...current.keys()].filter((k) => !next.has(k)).map((k) => [k, undefined] as const),
    ...next,
  ]);
  current = next;
}
const iface = {
  name: 'v0',
  index: 0,
  mtu: 1500,
  ipv4: { address: '192.0.2.10', publicIp: '192.0.2.10' },
};
const network = parseCidr('10.5.0.0/16')!;
const own: Lease = {
  subnets: { ipv4: parseCidr('10.5.1.0/24')! },
  attrs: { publicIp: '192.0.2.10', publicIpv6: null },
  ttlLeaseId: '1',
};
function peer(n: number, publicIp: string, mac: string, backendType = 'vxlan'): Lease {
  return {
    subnets: { ipv4: parseCidr(`10.5.${n}.0/24`)! },
    attrs: { publicIp, publicIpv6: null, backendType, backendData: { VNI: 1, VtepMAC: mac } },
    ttlLeaseId: '1',
  };
}
const p2 = peer(2, '192.0.2.11', 'aa:bb:cc:dd:ee:02');
const p3 = peer(3, '192.0.2.12', 'aa:bb:cc:dd:ee:03');

beforeAll(() => {
  execFileSync('ip', ['netns', 'add', ns]);
  sh('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
  sh('addr', 'add', '192.0.2.10/24', 'dev', 'v0');
  sh('link', 'set', 'v0', 'up');
  sh('link', 'set', 'v1', 'up');
});
afterAll(() => {
  runners.ip.close();
  runners.bridge.close();
  execFileSync('ip', ['netns', 'del', ns]);
});

describe('vxlan backend on a real kernel', () => {
  let dp: DataPlane;
  let mac: string;

  it('creates flannel.1 and advertises its MAC', async () => {
    const backend = createVxlanBackend({
      iface,
      options: { Type: 'vxlan' },
      logger: noopLogger,
      runners,
    });
    const data = await backend.register(new AbortController().signal);
    mac = (data.backendData as { VtepMAC: string }).VtepMAC;
    expect(data).toEqual({ backendType: 'vxlan', backendData: { VNI: 1, VtepMAC: mac } });
    const link = sh('-d', 'link', 'show', 'flannel.1');
    expect(link).toContain(`link/ether ${mac}`);
    expect(link).toMatch(/vxlan id 1 local 192\.0\.2\.10 dev v0 .*dstport 8472 nolearning/);
    expect(link).toContain('mtu 1450');
  });

  it('removes stale entries of ours at startup and never touches foreign routes (SPEC D9)', async () => {
    sh('route', 'add', '10.5.9.0/24', 'via', '10.5.9.0', 'dev', 'flannel.1', 'onlink');
    sh('route', 'add', '198.51.100.0/24', 'via', '192.0.2.1', 'dev', 'v0');
    const backend = createVxlanBackend({ iface, options: {}, logger: noopLogger, runners });
    await backend.register(new AbortController().signal);
    dp = (await backend.start(own, { ipv4: network }, new AbortController().signal))!;
    expect(sh('addr', 'show', 'dev', 'flannel.1')).toContain('inet 10.5.1.0/32');
    setPeers(dp, [p2, p3]);
    await dp.resync();
    expect(sh('route', 'show', 'dev', 'flannel.1')).not.toContain('10.5.9.0/24');
    expect(sh('route', 'show', 'dev', 'v0')).toContain('198.51.100.0/24 via 192.0.2.1');
    expect(sh('route', 'show', 'dev', 'flannel.1')).toContain('10.5.2.0/24 via 10.5.2.0 onlink');
    expect(sh('neigh', 'show', 'dev', 'flannel.1')).toContain(
      '10.5.3.0 lladdr aa:bb:cc:dd:ee:03 PERMANENT',
    );
    expect(br('fdb', 'show', 'dev', 'flannel.1')).toContain(
      'aa:bb:cc:dd:ee:02 dst 192.0.2.11 self permanent',
    );
  });

  it('restores a route, a neighbour and an FDB entry deleted by hand on the next full pass', async () => {
    sh('route', 'del', '10.5.2.0/24', 'dev', 'flannel.1');
    sh('neigh', 'del', '10.5.3.0', 'dev', 'flannel.1');
    br('fdb', 'del', 'aa:bb:cc:dd:ee:02', 'dev', 'flannel.1', 'dst', '192.0.2.11', 'self');
    const r = await dp.resync();
    expect(r.changes).toBe(3);
    expect(r.repairs).toBe(3);
    expect(sh('route', 'show', 'dev', 'flannel.1')).toContain('10.5.2.0/24 via 10.5.2.0 onlink');
    expect(sh('neigh', 'show', 'dev', 'flannel.1')).toContain(
      '10.5.3.0 lladdr aa:bb:cc:dd:ee:03 PERMANENT',
    );
    expect(br('fdb', 'show', 'dev', 'flannel.1')).toContain('aa:bb:cc:dd:ee:02 dst 192.0.2.11');
  });

  it('replaces the entries of a peer whose MAC changed, removing the old FDB entry (SPEC D8)', async () => {
    const moved = peer(3, '192.0.2.12', 'aa:bb:cc:dd:ee:33');
    setPeers(dp, [p2, moved]);
    await dp.apply();
    const fdb = br('fdb', 'show', 'dev', 'flannel.1');
    expect(fdb).toContain('aa:bb:cc:dd:ee:33 dst 192.0.2.12');
    expect(fdb).not.toContain('aa:bb:cc:dd:ee:03');
    expect(sh('neigh', 'show', 'dev', 'flannel.1')).toContain(
      '10.5.3.0 lladdr aa:bb:cc:dd:ee:33 PERMANENT',
    );
  });

  it('rebuilds a deleted flannel.1 with the same MAC and every peer', async () => {
    setPeers(dp, [p2, p3]);
    await dp.apply();
    sh('link', 'del', 'flannel.1');
    await dp.resync();
    expect(sh('link', 'show', 'flannel.1')).toContain(`link/ether ${mac}`);
    expect(sh('addr', 'show', 'dev', 'flannel.1')).toContain('inet 10.5.1.0/32');
    expect(sh('route', 'show', 'dev', 'flannel.1')).toMatch(
      /10\.5\.2\.0\/24 via 10\.5\.2\.0 onlink[\s\S]*10\.5\.3\.0\/24/,
    );
    expect(br('fdb', 'show', 'dev', 'flannel.1')).toContain('aa:bb:cc:dd:ee:03 dst 192.0.2.12');
  });

  it('removes exactly what it added for a peer that left', async () => {
    setPeers(dp, [p2]);
    await dp.apply();
    expect(sh('route', 'show', 'dev', 'flannel.1')).not.toContain('10.5.3.0/24');
    expect(sh('neigh', 'show', 'dev', 'flannel.1')).not.toContain('10.5.3.0');
    expect(br('fdb', 'show', 'dev', 'flannel.1')).not.toContain('aa:bb:cc:dd:ee:03');
    expect(sh('route', 'show', 'dev', 'flannel.1')).toContain('10.5.2.0/24');
  });
  describe('with the kernel monitor running (no full pass)', () => {
    const stop = new AbortController();
    const passes = { apply: 0, full: 0 };
    let chain: Promise<unknown> = Promise.resolve();
    let watching: Promise<void> = Promise.resolve();
    const stray = ['10.5.77.0/24', 'via', '10.5.77.0', 'dev', 'flannel.1', 'onlink'];
    const has = (text: string, what: string): boolean => text.includes(what);

    beforeAll(async () => {
      setPeers(dp, [p2, p3]);
      await dp.apply();
      // What the data-plane loop does: one pass at a time, full only when events were missed.
      watching = dp.watch((full) => {
        chain = chain.then(() => {
          if (full) passes.full += 1;
          else passes.apply += 1;
          return full ? dp.resync() : dp.apply();
        });
      }, stop.signal);
      // The monitor subscribes a moment after it starts: re-add a route of ours that no peer
      // explains until it is seen removed, which proves the monitor is live.
      let added = false;
      await waitUntil(() => {
        const there = has(sh('route', 'show', 'dev', 'flannel.1'), '10.5.77.0/24');
        if (added && !there) return true;
        if (there) sh('route', 'del', ...stray);
        sh('route', 'add', ...stray);
        added = true;
        return false;
      }, 'the monitor to remove a stray route of ours');
    });
    afterAll(async () => {
      stop.abort();
      await watching;
      await chain;
    });

    it('puts back a route, a neighbour and an FDB entry deleted by hand', async () => {
      sh('route', 'del', '10.5.2.0/24', 'dev', 'flannel.1');
      await waitUntil(
        () => has(sh('route', 'show', 'dev', 'flannel.1'), '10.5.2.0/24 via 10.5.2.0 onlink'),
        'the route back',
      );
      sh('neigh', 'del', '10.5.3.0', 'dev', 'flannel.1');
      await waitUntil(
        () =>
          has(
            sh('neigh', 'show', 'dev', 'flannel.1'),
            '10.5.3.0 lladdr aa:bb:cc:dd:ee:03 PERMANENT',
          ),
        'the neighbour back',
      );
      br('fdb', 'del', 'aa:bb:cc:dd:ee:02', 'dev', 'flannel.1', 'dst', '192.0.2.11', 'self');
      await waitUntil(
        () =>
          has(
            br('fdb', 'show', 'dev', 'flannel.1'),
            'aa:bb:cc:dd:ee:02 dst 192.0.2.11 self permanent',
          ),
        'the FDB entry back',
      );
      expect(passes.full).toBe(0);
      expect(passes.apply).toBeGreaterThanOrEqual(3);
    });

    it('puts back an entry someone changed', async () => {
      sh(
        'neigh',
        'replace',
        '10.5.2.0',
        'lladdr',
        'aa:bb:cc:dd:ee:99',
        'dev',
        'flannel.1',
        'nud',
        'permanent',
      );
      await waitUntil(
        () =>
          has(
            sh('neigh', 'show', 'dev', 'flannel.1'),
            '10.5.2.0 lladdr aa:bb:cc:dd:ee:02 PERMANENT',
          ),
        'the neighbour’s MAC back',
      );
      expect(passes.full).toBe(0);
    });

    // No periodic full pass runs in this harness, so what comes back is the monitor's doing. After
    // a rebuild the monitors restart (dropping the old device's flush) and one full pass checks
    // the result: that pass is counted here, and it must not be what did the work.
    it('rebuilds a deleted flannel.1 with its MAC, its address and every peer', async () => {
      const fullBefore = passes.full;
      const appliesBefore = passes.apply;
      sh('link', 'del', 'flannel.1');
      await waitUntil(() => {
        try {
          const routes = sh('route', 'show', 'dev', 'flannel.1');
          const fdb = br('fdb', 'show', 'dev', 'flannel.1');
          return (
            has(routes, '10.5.2.0/24 via 10.5.2.0 onlink') &&
            has(routes, '10.5.3.0/24 via 10.5.3.0 onlink') &&
            has(fdb, 'aa:bb:cc:dd:ee:03 dst 192.0.2.12 self permanent')
          );
        } catch {
          return false; // not there yet
        }
      }, 'flannel.1 back with both peers');
      expect(sh('link', 'show', 'flannel.1')).toContain(`link/ether ${mac}`);
      expect(sh('addr', 'show', 'dev', 'flannel.1')).toContain('inet 10.5.1.0/32');
      expect(passes.apply).toBeGreaterThan(appliesBefore);
      expect(passes.full - fullBefore).toBeLessThanOrEqual(1);
    });

    it('brings flannel.1 back up, with its routes, after someone set it down', async () => {
      const fullBefore = passes.full;
      sh('link', 'set', 'flannel.1', 'down');
      await waitUntil(
        () => has(sh('route', 'show', 'dev', 'flannel.1'), '10.5.3.0/24 via 10.5.3.0 onlink'),
        'the routes back',
      );
      expect(sh('link', 'show', 'flannel.1')).toMatch(/<[^>]*\bUP\b/);
      expect(passes.full - fullBefore).toBeLessThanOrEqual(1);
    });
  });
});

describe('host-gw backend on a real kernel', () => {
  it('routes on-link peers via their public IP and skips an off-link one with a reason', async () => {
    sh('link', 'del', 'flannel.1');
    sh('route', 'add', '10.5.8.0/24', 'via', '192.0.2.99', 'dev', 'v0');
    const warnings: string[] = [];
    const logger = {
      ...noopLogger,
      warn: (_m: string, f?: Record<string, unknown>) => void warnings.push(JSON.stringify(f)),
    };
    const backend = createHostGwBackend({ iface, options: {}, logger, runners });
    expect(await backend.register(new AbortController().signal)).toEqual({
      backendType: 'host-gw',
    });
    const dp = (await backend.start(own, { ipv4: network }, new AbortController().signal))!;
    const far = peer(4, '203.0.113.5', 'aa:bb:cc:dd:ee:04', 'host-gw');
    const near = peer(2, '192.0.2.11', 'aa:bb:cc:dd:ee:02', 'host-gw');
    current = new Map();
    setPeers(dp, [near, far]);
    const r = await dp.resync();
    expect(r.skippedPeers).toEqual(['10.5.4.0/24 (203.0.113.5)']);
    const routes = sh('route', 'show', 'dev', 'v0');
    expect(routes).toContain('10.5.2.0/24 via 192.0.2.11');
    expect(routes).not.toContain('10.5.4.0/24');
    expect(routes).not.toContain('10.5.8.0/24'); // stale route of ours, gone
    expect(routes).toContain('198.51.100.0/24 via 192.0.2.1'); // foreign, untouched
    expect(warnings.join()).toContain('203.0.113.5');
  });

  it('refuses a NAT public IP with the upstream message', async () => {
    const backend = createHostGwBackend({
      iface: { ...iface, ipv4: { address: '192.0.2.10', publicIp: '203.0.113.9' } },
      options: {},
      logger: noopLogger,
      runners,
    });
    await expect(backend.register(new AbortController().signal)).rejects.toThrow(
      "your PublicIP differs from interface IP, meaning that probably you're on a NAT, which is not supported by host-gw backend",
    );
  });
});
