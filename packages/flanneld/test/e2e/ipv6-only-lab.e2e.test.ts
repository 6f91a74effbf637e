import { lab, leaseEndingWith, unansweredPairs, upstreamLeaseValue } from './lab-harness';

// IPv6 only ("EnableIPv4": false) on the 3-host lab (scripts/lab --ipv6-only): upstream's keys and
// values, a full IPv6 mesh, and nothing IPv4 of ours in any host.
jest.setTimeout(180_000);
const RECONCILE_S = 3600;
const HOSTS = [1, 2, 3];

describe.each(['vxlan', 'host-gw'])(
  'IPv6 only ("EnableIPv4": false): the %s overlay on the 3-host lab',
  (backend) => {
    beforeAll(async () => {
      await lab.down();
      await lab.up(backend, `--reconcile-interval=${RECONCILE_S}`, { ipv6: 'only' });
    });
    afterAll(async () => {
      await lab.down();
    });

    it('writes only the IPv6 variables and leases distinct IPv6 subnets', async () => {
      for (const h of HOSTS) {
        const env = lab.env(h);
        expect({ host: h, vars: Object.keys(env).sort() }).toEqual({
          host: h,
          vars: ['FLANNEL_IPMASQ', 'FLANNEL_IPV6_NETWORK', 'FLANNEL_IPV6_SUBNET', 'FLANNEL_MTU'],
        });
        // Upstream's key for an IPv6-only lease: the empty IPv4 subnet, '&', the IPv6 subnet.
        const key = `0.0.0.0-0&${lab.subnet6(h).replace('/', '-')}`;
        const lease = await leaseEndingWith(h, `&${lab.subnet6(h).replace('/', '-')}`);
        expect({ host: h, key: lease.key, value: lease.value }).toEqual({
          host: h,
          key,
          value: await upstreamLeaseValue(h, backend, false),
        });
      }
      expect(new Set(HOSTS.map((h) => lab.subnet6(h))).size).toBe(HOSTS.length);
    });

    it('gives a full IPv6 mesh', async () => {
      expect({ ipv6: await unansweredPairs(6, HOSTS) }).toEqual({ ipv6: [] });
    });

    it('creates nothing IPv4: no flannel.1 and no IPv4 route beyond the lab’s own underlay routes, in any host', async () => {
      for (const h of HOSTS) {
        const links = await lab.exec(`h${h}`, ['ip', '-o', 'link', 'show']);
        const names = links
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split(': ')[1]!.replace(/@.*/, ''));
        expect({ host: h, flannel1: names.includes('flannel.1') }).toEqual({
          host: h,
          flannel1: false,
        });
        if (backend === 'vxlan')
          expect({ host: h, flannelV6: names.includes('flannel-v6.1') }).toEqual({
            host: h,
            flannelV6: true,
          });
        // What scripts/lab itself made: eth0's connected route and the default route.
        const routes = (await lab.exec(`h${h}`, ['ip', '-4', 'route', 'show']))
          .split('\n')
          .filter(Boolean)
          .map((l) => l.trim())
          .sort();
        expect({ host: h, routes }).toEqual({
          host: h,
          routes: [
            `10.99.0.0/24 dev eth0 proto kernel scope link src 10.99.0.${h}`,
            'default via 10.99.0.254 dev eth0',
          ],
        });
      }
    });
  },
);
