import {
  deviceMac,
  lab,
  leaseEndingWith,
  unansweredPairs,
  upstreamLeaseValue,
  waitUntil,
} from './lab-harness';

// Dual stack ("EnableIPv6": true) on the 3-host lab (scripts/lab --ipv6): both subnets leased in
// upstream's form, both data planes programmed, both meshes full, both kept across a restart.
jest.setTimeout(180_000);
const RECONCILE_S = 3600;
const HOSTS = [1, 2, 3];
const NETWORK6 = 'fd10:5::/56';

describe.each(['vxlan', 'host-gw'])('dual stack: the %s overlay on the 3-host lab', (backend) => {
  beforeAll(async () => {
    await lab.down();
    await lab.up(backend, `--reconcile-interval=${RECONCILE_S}`, { ipv6: 'dual' });
  });
  afterAll(async () => {
    await lab.down();
  });

  it('leases both subnets: the subnet file and the lease key and value in upstream’s form', async () => {
    for (const h of HOSTS) {
      const env = lab.env(h);
      expect({ host: h, network6: env['FLANNEL_IPV6_NETWORK'] }).toEqual({
        host: h,
        network6: NETWORK6,
      });
      const key = `${lab.subnet(h).replace('/', '-')}&${lab.subnet6(h).replace('/', '-')}`;
      const lease = await leaseEndingWith(h, key);
      expect({ host: h, key: lease.key, value: lease.value }).toEqual({
        host: h,
        key,
        value: await upstreamLeaseValue(h, backend, true),
      });
    }
    const subnets6 = new Set(HOSTS.map((h) => lab.subnet6(h)));
    expect(subnets6.size).toBe(HOSTS.length);
  });

  if (backend === 'vxlan') {
    it('turns IPv6 router advertisements off on both VXLAN devices (accept_ra 0), as upstream does', async () => {
      for (const h of HOSTS) {
        const acceptRa = await Promise.all(
          ['flannel.1', 'flannel-v6.1'].map(async (dev) =>
            (await lab.exec(`h${h}`, ['cat', `/proc/sys/net/ipv6/conf/${dev}/accept_ra`])).trim(),
          ),
        );
        expect({ host: h, acceptRa }).toEqual({ host: h, acceptRa: ['0', '0'] });
      }
    });
  }

  it('programs every peer’s IPv6 subnet (vxlan: onlink via flannel-v6.1 with neighbour and FDB entry; host-gw: via its PublicIPv6 on eth0)', async () => {
    for (const h of HOSTS) {
      const dev = backend === 'vxlan' ? 'flannel-v6.1' : 'eth0';
      const routes = await lab.exec(`h${h}`, ['ip', '-6', 'route', 'show', 'dev', dev]);
      for (const p of HOSTS.filter((x) => x !== h)) {
        const net = lab.subnet6(p);
        const gw = backend === 'vxlan' ? net.replace(/\/\d+$/, '') : lab.hostIp6(p);
        const line = routes.split('\n').find((l) => l.startsWith(`${net} via ${gw} `));
        expect({ host: h, peer: p, route: line !== undefined, routes }).toMatchObject({
          host: h,
          peer: p,
          route: true,
        });
        if (backend !== 'vxlan') continue;
        expect({ host: h, peer: p, onlink: line!.includes('onlink') }).toEqual({
          host: h,
          peer: p,
          onlink: true,
        });
        const mac = await deviceMac(p, 'flannel-v6.1');
        const neigh = await lab.exec(`h${h}`, ['ip', '-6', 'neigh', 'show', gw, 'dev', dev]);
        expect({ host: h, peer: p, neigh: neigh.trim() }).toEqual({
          host: h,
          peer: p,
          neigh: `${gw} lladdr ${mac} PERMANENT`,
        });
        const fdb = await lab.exec(`h${h}`, ['bridge', 'fdb', 'show', 'dev', dev]);
        expect({
          host: h,
          peer: p,
          fdb: fdb.includes(`${mac} dst ${lab.hostIp6(p)} self permanent`),
        }).toEqual({ host: h, peer: p, fdb: true });
      }
    }
  });

  it('gives a full mesh in both families: every container pings every other over IPv4 and over IPv6', async () => {
    expect({
      ipv4: await unansweredPairs(4, HOSTS),
      ipv6: await unansweredPairs(6, HOSTS),
    }).toEqual({
      ipv4: [],
      ipv6: [],
    });
  });

  it('keeps both subnets (and VTEP MACs) across SIGKILL and restart: a 10 Hz IPv6 ping loses nothing, and both meshes stay full', async () => {
    const before = {
      subnet: lab.subnet(1),
      subnet6: lab.subnet6(1),
      macs:
        backend === 'vxlan'
          ? [await deviceMac(1, 'flannel.1'), await deviceMac(1, 'flannel-v6.1')]
          : [],
    };
    const oldPid = lab.pid(1);
    const pinging = lab.exec('c2', [
      'ping',
      '-6',
      '-i',
      '0.1',
      '-c',
      '60',
      '-W',
      '1',
      lab.containerIp6(1),
    ]);
    // Restart only once the ping is flowing: c1 has received at least 5 more packets.
    const rx = async (): Promise<number> =>
      Number(await lab.exec('c1', ['cat', '/sys/class/net/eth0/statistics/rx_packets']));
    const rx0 = await rx();
    await waitUntil(async () => (await rx()) >= rx0 + 5, 'the IPv6 ping to reach c1');
    await lab.killAndRestart(1);
    // Until the new agent listens, curl finds nothing on the port (lab.health rejects): not ready yet.
    await waitUntil(
      () =>
        lab.health(1, '/readyz').then(
          (r) => r.status === 200,
          () => false,
        ),
      `the restarted h1 agent to answer /readyz with 200 (was pid ${oldPid}; see /run/ftlab/h1/flanneld.log)`,
      30_000,
    );
    expect({
      subnet: lab.subnet(1),
      subnet6: lab.subnet6(1),
      macs:
        backend === 'vxlan'
          ? [await deviceMac(1, 'flannel.1'), await deviceMac(1, 'flannel-v6.1')]
          : [],
    }).toEqual(before);
    expect(await pinging).toMatch(/60 packets transmitted, 60 received, 0% packet loss/);
    const key = `${before.subnet.replace('/', '-')}&${before.subnet6.replace('/', '-')}`;
    expect((await leaseEndingWith(1, key)).value).toBe(await upstreamLeaseValue(1, backend, true));
    expect({
      ipv4: await unansweredPairs(4, HOSTS),
      ipv6: await unansweredPairs(6, HOSTS),
    }).toEqual({
      ipv4: [],
      ipv6: [],
    });
  });
});
