import { execFileSync } from 'node:child_process';
import { formatSubnetKey, noopLogger, parseCidr } from '@flannel-ts/core';
import type { Cidr, Lease } from '@flannel-ts/core';
import { waitUntil } from '@flannel-ts/core/testing';
import {
  createHostGwBackend,
  createIproute2Monitor,
  createIproute2Runner,
  createVxlanBackend,
} from '@flannel-ts/backend';
import type { DataPlane, DataPlaneRunners, ExternalInterface } from '@flannel-ts/backend';
import { describeAsRoot } from './traffic-netns';

// The IPv6 data plane with real `ip`/`bridge` in throwaway namespaces `ftv6-<pid>[-…]`, each
// removed in afterAll (also when a test failed).
const base = `ftv6-${process.pid}`;
const cidr = (text: string): Cidr => parseCidr(text)!;
const NET4 = cidr('10.5.0.0/16');
const NET6 = cidr('fd00:5::/32');
const NO_IPV4 = cidr('0.0.0.0/0');

/** A namespace with a veth `v0` (peer `v1`, both up) holding `addrs`, and runners in it. */
function host(suffix: string, addrs: readonly string[]) {
  const name = `${base}-${suffix}`;
  const ip = (...args: string[]): string =>
    execFileSync('ip', ['-n', name, ...args], { encoding: 'utf8' });
  const br = (...args: string[]): string =>
    execFileSync('bridge', ['-n', name, ...args], { encoding: 'utf8' });
  const runners: DataPlaneRunners = {
    ip: createIproute2Runner({ netns: name }),
    bridge: createIproute2Runner({ netns: name, binary: 'bridge' }),
    monitor: createIproute2Monitor({ netns: name }),
  };
  return {
    name,
    ip,
    br,
    runners,
    create(): void {
      execFileSync('ip', ['netns', 'add', name]);
      ip('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
      // No duplicate address detection: the address is usable at once.
      for (const a of addrs)
        ip('addr', 'add', a, 'dev', 'v0', ...(a.includes(':') ? ['nodad'] : []));
      ip('link', 'set', 'v0', 'up');
      ip('link', 'set', 'v1', 'up');
    },
    destroy(): void {
      runners.ip.close();
      runners.bridge.close();
      try {
        execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
      } catch {
        // never created
      }
    },
  };
}

function lease(
  n: number,
  o: { v4?: boolean; publicIpv6?: string | null; mac6?: string; mac4?: string } = {},
): Lease {
  const v4 = o.v4 ?? true;
  return {
    subnets: { ipv4: v4 ? cidr(`10.5.${n}.0/24`) : NO_IPV4, ipv6: cidr(`fd00:5:${n}::/64`) },
    attrs: {
      publicIp: v4 ? `192.0.2.${10 + n}` : '0.0.0.0',
      publicIpv6: o.publicIpv6 === undefined ? `fc00:77::${10 + n}` : o.publicIpv6,
      backendType: 'vxlan',
      backendData: v4 ? { VNI: 1, VtepMAC: o.mac4 ?? `aa:bb:cc:dd:ee:4${n}` } : undefined,
      backendV6Data:
        o.publicIpv6 === null ? undefined : { VNI: 1, VtepMAC: o.mac6 ?? `aa:bb:cc:dd:ee:6${n}` },
    },
    ttlLeaseId: '1',
  };
}
const keyed = (ls: readonly Lease[]) => ls.map((l) => [formatSubnetKey(l.subnets), l] as const);

interface JsonLink {
  address: string;
  mtu: number;
  linkinfo: { info_kind: string; info_data: Record<string, unknown> };
}
const jsonLink = (h: ReturnType<typeof host>, dev: string): JsonLink =>
  (JSON.parse(h.ip('-d', '-j', 'link', 'show', 'dev', dev)) as JsonLink[])[0]!;
const signal = (): AbortSignal => new AbortController().signal;

describeAsRoot('IPv6 data plane on a real kernel', () => {
  describe('vxlan, dual stack', () => {
    const h = host('d', ['192.0.2.11/24', 'fc00:77::11/64']);
    const iface: ExternalInterface = {
      name: 'v0',
      index: 0,
      mtu: 1500,
      ipv4: { address: '192.0.2.11', publicIp: '192.0.2.11' },
      ipv6: { address: 'fc00:77::11', publicIp: 'fc00:77::11' },
    };
    const own = lease(1);
    const p2 = lease(2);
    const p3 = lease(3, { publicIpv6: null });
    let dp: DataPlane;
    let mac6 = '';
    beforeAll(() => h.create());
    afterAll(() => h.destroy());

    it('creates flannel.1 and flannel-v6.1 (local = the IPv6 interface address, MTU − 70) and advertises both MACs', async () => {
      const backend = createVxlanBackend({
        iface,
        options: {},
        logger: noopLogger,
        runners: h.runners,
        blackholeRoute: true,
      });
      const data = await backend.register(signal());
      mac6 = (data.backendV6Data as { VtepMAC: string }).VtepMAC;
      const v6 = jsonLink(h, 'flannel-v6.1');
      expect(data).toEqual({
        backendType: 'vxlan',
        backendData: { VNI: 1, VtepMAC: jsonLink(h, 'flannel.1').address },
        backendV6Data: { VNI: 1, VtepMAC: v6.address },
      });
      expect(v6.mtu).toBe(1430);
      expect(v6.linkinfo.info_kind).toBe('vxlan');
      expect(v6.linkinfo.info_data).toMatchObject({
        id: 1,
        local6: 'fc00:77::11',
        link: 'v0',
        port: 8472,
        learning: false,
      });
      expect(v6.linkinfo.info_data['gbp']).toBeUndefined();
      expect(jsonLink(h, 'flannel.1').mtu).toBe(1450);

      dp = (await backend.start(own, { ipv4: NET4, ipv6: NET6 }, signal()))!;
      expect(h.ip('-6', 'addr', 'show', 'dev', 'flannel-v6.1')).toContain('inet6 fd00:5:1::/128');
      expect(h.ip('addr', 'show', 'dev', 'flannel.1')).toContain('inet 10.5.1.0/32');
      dp.update(keyed([p2, p3]));
      await dp.resync();
    });

    it('programs a peer IPv6 neighbour, FDB entry to its PublicIPv6 and onlink route', () => {
      expect(h.ip('-6', 'route', 'show', 'dev', 'flannel-v6.1')).toContain(
        'fd00:5:2::/64 via fd00:5:2:: metric 1024 onlink',
      );
      expect(h.ip('-6', 'neigh', 'show', 'dev', 'flannel-v6.1')).toContain(
        'fd00:5:2:: lladdr aa:bb:cc:dd:ee:62 PERMANENT',
      );
      expect(h.br('fdb', 'show', 'dev', 'flannel-v6.1')).toContain(
        'aa:bb:cc:dd:ee:62 dst fc00:77::12 self permanent',
      );
      // IPv4 as ever, for both peers.
      const routes4 = h.ip('route', 'show', 'dev', 'flannel.1');
      expect(routes4).toContain('10.5.2.0/24 via 10.5.2.0 onlink');
      expect(routes4).toContain('10.5.3.0/24 via 10.5.3.0 onlink');
    });

    it('keeps the IPv4 entries of a peer without IPv6 and says why it has no IPv6 ones', () => {
      expect(h.ip('-6', 'route', 'show', 'dev', 'flannel-v6.1')).not.toContain('fd00:5:3::');
      expect(h.br('fdb', 'show', 'dev', 'flannel-v6.1')).not.toContain('aa:bb:cc:dd:ee:63');
      expect(dp.peerStates()).toEqual([
        { key: formatSubnetKey(p2.subnets), state: 'programmed' },
        {
          key: formatSubnetKey(p3.subnets),
          state: 'programmed',
          reason: 'IPv6: its lease has no PublicIPv6',
        },
      ]);
    });

    it('keeps blackhole routes for both our subnets, at our metric', () => {
      expect(h.ip('-6', 'route', 'show', 'type', 'blackhole')).toContain(
        'blackhole fd00:5:1::/64 dev lo metric 4294967295',
      );
      expect(h.ip('route', 'show', 'type', 'blackhole')).toContain(
        'blackhole 10.5.1.0/24 metric 4294967295',
      );
    });

    it('a second full pass changes nothing (the IPv6 entries read back as ours, unchanged)', async () => {
      const r = await dp.resync();
      expect(r.changes).toBe(0);
      expect(r.repairs).toBe(0);
    });

    describe('with the kernel monitor running (no full pass)', () => {
      const stop = new AbortController();
      const passes = { apply: 0, full: 0 };
      let chain: Promise<unknown> = Promise.resolve();
      let watching: Promise<void> = Promise.resolve();
      const stray = ['fd00:5:77::/64', 'via', 'fd00:5:77::', 'dev', 'flannel-v6.1', 'onlink'];
      const routes6 = (): string => h.ip('-6', 'route', 'show', 'dev', 'flannel-v6.1');

      beforeAll(async () => {
        watching = dp.watch((full) => {
          chain = chain.then(() => {
            if (full) passes.full += 1;
            else passes.apply += 1;
            return full ? dp.resync() : dp.apply();
          });
        }, stop.signal);
        // The monitor is live once an IPv6 route of ours that no peer explains is seen and removed.
        let added = false;
        await waitUntil(() => {
          const there = routes6().includes('fd00:5:77::/64');
          if (added && !there) return true;
          if (there) h.ip('-6', 'route', 'del', ...stray);
          h.ip('-6', 'route', 'add', ...stray);
          added = true;
          return false;
        }, 'the monitor to remove a stray IPv6 route of ours');
        await chain;
      });
      afterAll(async () => {
        stop.abort();
        await watching;
        await chain.catch(() => undefined);
      });

      it('puts back a deleted IPv6 route, neighbour and FDB entry', async () => {
        const before = passes.full;
        h.ip('-6', 'route', 'del', 'fd00:5:2::/64', 'dev', 'flannel-v6.1');
        await waitUntil(
          () => routes6().includes('fd00:5:2::/64 via fd00:5:2::'),
          'the IPv6 route to come back',
        );
        h.ip('-6', 'neigh', 'del', 'fd00:5:2::', 'dev', 'flannel-v6.1');
        await waitUntil(
          () => h.ip('-6', 'neigh', 'show', 'dev', 'flannel-v6.1').includes('fd00:5:2:: lladdr'),
          'the IPv6 neighbour to come back',
        );
        h.br(
          'fdb',
          'del',
          'aa:bb:cc:dd:ee:62',
          'dev',
          'flannel-v6.1',
          'dst',
          'fc00:77::12',
          'self',
        );
        await waitUntil(
          () =>
            h
              .br('fdb', 'show', 'dev', 'flannel-v6.1')
              .includes('aa:bb:cc:dd:ee:62 dst fc00:77::12'),
          'the IPv6 FDB entry to come back',
        );
        h.ip('-6', 'route', 'del', 'blackhole', 'fd00:5:1::/64', 'metric', '4294967295');
        await waitUntil(
          () => h.ip('-6', 'route', 'show', 'type', 'blackhole').includes('fd00:5:1::/64'),
          'the IPv6 blackhole route to come back',
        );
        expect(passes.full).toBe(before);
      });

      it('rebuilds a deleted flannel-v6.1 with its MAC, its address and every IPv6 peer', async () => {
        h.ip('link', 'del', 'flannel-v6.1');
        await waitUntil(() => {
          try {
            return routes6().includes('fd00:5:2::/64 via fd00:5:2::');
          } catch {
            return false;
          }
        }, 'flannel-v6.1 and its route to come back');
        expect(jsonLink(h, 'flannel-v6.1').address).toBe(mac6);
        expect(h.ip('-6', 'addr', 'show', 'dev', 'flannel-v6.1')).toContain('fd00:5:1::/128');
        await waitUntil(
          () => h.br('fdb', 'show', 'dev', 'flannel-v6.1').includes('aa:bb:cc:dd:ee:62'),
          'the FDB entry on the rebuilt device',
        );
        // flannel.1 was left alone.
        expect(h.ip('route', 'show', 'dev', 'flannel.1')).toContain(
          '10.5.2.0/24 via 10.5.2.0 onlink',
        );
      });
    });
  });

  describe('vxlan, IPv6 only', () => {
    const h = host('o', ['fc00:77::11/64']);
    beforeAll(() => h.create());
    afterAll(() => h.destroy());

    it('creates flannel-v6.1 and nothing IPv4: no flannel.1, no IPv4 route or blackhole', async () => {
      const backend = createVxlanBackend({
        iface: {
          name: 'v0',
          index: 0,
          mtu: 1500,
          ipv6: { address: 'fc00:77::11', publicIp: 'fc00:77::11' },
        },
        options: {},
        logger: noopLogger,
        runners: h.runners,
        blackholeRoute: true,
      });
      const data = await backend.register(signal());
      expect(Object.keys(data)).toEqual(['backendType', 'backendV6Data']);
      const dp = (await backend.start(lease(1, { v4: false }), { ipv6: NET6 }, signal()))!;
      dp.update(keyed([lease(2, { v4: false })]));
      await dp.resync();
      expect(() => h.ip('link', 'show', 'dev', 'flannel.1')).toThrow();
      expect(h.ip('-o', 'link', 'show', 'type', 'vxlan')).not.toContain('flannel.1');
      expect(h.ip('-6', 'route', 'show', 'dev', 'flannel-v6.1')).toContain(
        'fd00:5:2::/64 via fd00:5:2::',
      );
      expect(h.ip('route', 'show', 'type', 'blackhole')).toBe('');
      expect(h.ip('-6', 'route', 'show', 'type', 'blackhole')).toContain('fd00:5:1::/64');
      // Not even the key's 0.0.0.0/0 placeholder got an address or a route.
      expect(h.ip('-4', 'addr', 'show', 'dev', 'flannel-v6.1')).toBe('');
      expect(h.ip('-4', 'route', 'show')).not.toContain('0.0.0.0');
    });
  });

  describe('host-gw, dual stack', () => {
    const h = host('g', ['192.0.2.11/24', 'fc00:77::11/64']);
    beforeAll(() => h.create());
    afterAll(() => h.destroy());

    it('routes each peer IPv6 subnet via its PublicIPv6 and skips an off-link one in IPv6 with a reason', async () => {
      const backend = createHostGwBackend({
        iface: {
          name: 'v0',
          index: 0,
          mtu: 1500,
          ipv4: { address: '192.0.2.11', publicIp: '192.0.2.11' },
          ipv6: { address: 'fc00:77::11', publicIp: 'fc00:77::11' },
        },
        options: {},
        logger: noopLogger,
        runners: h.runners,
      });
      expect(await backend.register(signal())).toEqual({ backendType: 'host-gw' });
      const dp = (await backend.start(lease(1), { ipv4: NET4, ipv6: NET6 }, signal()))!;
      const far = lease(3, { publicIpv6: 'fc00:99::3' });
      dp.update(keyed([lease(2), far]));
      await dp.resync();
      const routes6 = h.ip('-6', 'route', 'show', 'dev', 'v0');
      expect(routes6).toContain('fd00:5:2::/64 via fc00:77::12 metric 1024');
      expect(routes6).not.toContain('fd00:5:3::');
      const routes4 = h.ip('route', 'show', 'dev', 'v0');
      expect(routes4).toContain('10.5.2.0/24 via 192.0.2.12');
      expect(routes4).toContain('10.5.3.0/24 via 192.0.2.13');
      expect(dp.peerStates()).toContainEqual({
        key: formatSubnetKey(far.subnets),
        state: 'programmed',
        reason:
          'IPv6: its public IP is not on a network directly connected to v0; host-gw needs all hosts on one L2 segment (use vxlan)',
      });
      // Deleted by hand: the next full pass puts it back.
      h.ip('-6', 'route', 'del', 'fd00:5:2::/64', 'dev', 'v0');
      const r = await dp.resync();
      expect(r.repairs).toBe(1);
      expect(h.ip('-6', 'route', 'show', 'dev', 'v0')).toContain('fd00:5:2::/64 via fc00:77::12');
    });
  });

  describe('two hosts over flannel-v6.1', () => {
    // Host a and host b, their underlay a veth pair across the two namespaces.
    const a = host('a', []);
    const b = host('b', []);
    beforeAll(() => {
      for (const x of [a, b]) execFileSync('ip', ['netns', 'add', x.name]);
      execFileSync('ip', [
        '-n',
        a.name,
        'link',
        'add',
        'u0',
        'type',
        'veth',
        'peer',
        'name',
        'u0',
        'netns',
        b.name,
      ]);
      a.ip('addr', 'add', 'fc00:88::1/64', 'dev', 'u0', 'nodad');
      b.ip('addr', 'add', 'fc00:88::2/64', 'dev', 'u0', 'nodad');
      for (const x of [a, b]) x.ip('link', 'set', 'u0', 'up');
    });
    afterAll(() => {
      a.destroy();
      b.destroy();
    });

    it('carries a ping between the hosts subnets addresses', async () => {
      const leases: Lease[] = [];
      const planes: DataPlane[] = [];
      for (const [i, x] of [a, b].entries()) {
        const backend = createVxlanBackend({
          iface: {
            name: 'u0',
            index: 0,
            mtu: 1500,
            ipv6: { address: `fc00:88::${i + 1}`, publicIp: `fc00:88::${i + 1}` },
          },
          options: {},
          logger: noopLogger,
          runners: x.runners,
        });
        const data = await backend.register(signal());
        const l: Lease = {
          subnets: { ipv4: NO_IPV4, ipv6: cidr(`fd00:5:${i + 1}::/64`) },
          attrs: { publicIp: '0.0.0.0', publicIpv6: `fc00:88::${i + 1}`, ...data },
          ttlLeaseId: '1',
        };
        leases.push(l);
        planes.push((await backend.start(l, { ipv6: NET6 }, signal()))!);
      }
      planes[0]!.update(keyed([leases[1]!]));
      planes[1]!.update(keyed([leases[0]!]));
      await Promise.all(planes.map((p) => p.resync()));
      // The subnet addresses go through duplicate address detection (as upstream's): retry
      // until the source address is usable.
      let out = '';
      await waitUntil(() => {
        try {
          out = execFileSync(
            'ip',
            [
              'netns',
              'exec',
              a.name,
              'ping',
              '-6',
              '-c',
              '1',
              '-W',
              '1',
              '-I',
              'fd00:5:1::',
              'fd00:5:2::',
            ],
            { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
          );
          return true;
        } catch {
          return false;
        }
      }, 'a ping from fd00:5:1:: to fd00:5:2:: over flannel-v6.1');
      expect(out).toContain('1 received');
    });
  });
});
