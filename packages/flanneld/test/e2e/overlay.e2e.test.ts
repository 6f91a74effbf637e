import { lab, meshPairs, pingOnce, waitUntil } from './lab-harness';

jest.setTimeout(120_000);
// No full pass runs during these tests: what is repaired is repaired by the kernel monitor.
const RECONCILE_S = 3600;
/** Generous for a noisy CI machine; the monitor repairs within milliseconds. */
const REPAIR_MS = 3000;
const HOSTS = [1, 2, 3];

describe.each(['vxlan', 'host-gw'])('the %s overlay on the 3-host lab', (backend) => {
  const dev = backend === 'vxlan' ? 'flannel.1' : 'eth0';
  const routes = (h: number): Promise<string> =>
    lab.exec(`h${h}`, ['ip', 'route', 'show', 'dev', dev]);

  beforeAll(async () => {
    await lab.down();
    await lab.up(backend, `--reconcile-interval=${RECONCILE_S}`);
  });
  afterAll(async () => {
    await lab.down();
  });

  it('gives a full mesh: every container pings every other host’s container', async () => {
    for (const [from, to] of meshPairs(HOSTS)) {
      const code = await lab.status(`c${from}`, pingOnce(lab.containerIp(to)));
      expect({ from, to, code }).toEqual({ from, to, code: 0 });
    }
  });

  it('puts back a route (and, for vxlan, a neighbour and an FDB entry) deleted by hand at once, without waiting for a full pass', async () => {
    const target = lab.subnet(3);
    const gw = target.replace(/\/\d+$/, '');
    await lab.exec('h1', ['ip', 'route', 'del', target, 'dev', dev]);
    let mac = '';
    if (backend === 'vxlan') {
      mac = (await lab.exec('h1', ['ip', 'neigh', 'show', gw, 'dev', dev])).split(' ')[2]!;
      await lab.exec('h1', ['ip', 'neigh', 'del', gw, 'dev', dev]);
      await lab.exec('h1', ['bridge', 'fdb', 'del', mac, 'dev', dev, 'self']);
    }
    const took = await waitUntil(
      async () => {
        const ok = (await routes(1)).includes(target);
        if (backend !== 'vxlan') return ok;
        const neigh = await lab.exec('h1', ['ip', 'neigh', 'show', 'dev', dev]);
        const fdb = await lab.exec('h1', ['bridge', 'fdb', 'show', 'dev', dev]);
        return ok && neigh.includes(`${gw} lladdr ${mac}`) && fdb.includes(mac);
      },
      'the deleted entries to come back',
      REPAIR_MS,
    );
    expect(took).toBeLessThanOrEqual(REPAIR_MS);
    expect(await lab.status('c1', pingOnce(lab.containerIp(3)))).toBe(0);
  });

  if (backend === 'vxlan') {
    it('rebuilds flannel.1 deleted by hand, with its VTEP MAC and every peer, and traffic flows again', async () => {
      const mac = (await lab.exec('h1', ['cat', '/sys/class/net/flannel.1/address'])).trim();
      await lab.exec('h1', ['ip', 'link', 'del', 'flannel.1']);
      await waitUntil(
        async () => {
          const r = await lab.exec('h1', ['ip', 'route', 'show']);
          const fdb = await lab.exec('h1', ['bridge', 'fdb', 'show', 'dev', 'flannel.1']);
          const permanent = fdb
            .split('\n')
            .filter((l) => l.includes(' dst ') && l.includes('permanent'));
          return (
            HOSTS.slice(1).every((h) => r.includes(`${lab.subnet(h)} via`)) && permanent.length >= 2
          );
        },
        'flannel.1 back with both peers’ routes and FDB entries',
        REPAIR_MS,
      );
      expect((await lab.exec('h1', ['cat', '/sys/class/net/flannel.1/address'])).trim()).toBe(mac);
      for (const to of [2, 3])
        expect(await lab.status('c1', pingOnce(lab.containerIp(to)))).toBe(0);
    });
  }

  it('keeps subnet, VTEP MAC and traffic across SIGKILL and restart: a 10 Hz ping loses nothing', async () => {
    const subnet = lab.subnet(1);
    const macOf = async (): Promise<string> =>
      backend === 'vxlan'
        ? (await lab.exec('h1', ['cat', '/sys/class/net/flannel.1/address'])).trim()
        : '';
    const mac = await macOf();
    const pinging = lab.exec('c2', [
      'ping',
      '-i',
      '0.1',
      '-c',
      '60',
      '-W',
      '1',
      lab.containerIp(1),
    ]);
    // Restart only once the ping is flowing: c1 has received at least 5 more packets.
    const rx = async (): Promise<number> =>
      Number(await lab.exec('c1', ['cat', '/sys/class/net/eth0/statistics/rx_packets']));
    const rx0 = await rx();
    await waitUntil(async () => (await rx()) >= rx0 + 5, 'the ping to reach c1');
    await lab.killAndRestart(1);
    await waitUntil(
      async () =>
        /data plane in sync|wrote subnet file/.test(
          await lab.exec('h1', ['tail', '-n', '5', '/run/ftlab/h1/flanneld.log']),
        ),
      'the restarted agent',
    );
    const out = await pinging;
    expect(out).toMatch(/60 packets transmitted, 60 received, 0% packet loss/);
    expect(lab.subnet(1)).toBe(subnet);
    expect(await macOf()).toBe(mac);
  });

  it('removes a host from the others’ routes when its agent stops and its lease is deleted', async () => {
    const gone = lab.subnet(3);
    process.kill(lab.pid(3), 'SIGTERM');
    await lab.etcdctl(['del', `/coreos.com/network/subnets/${gone.replace('/', '-')}`]);
    for (const h of [1, 2]) {
      await waitUntil(async () => !(await routes(h)).includes(gone), `h${h} to drop ${gone}`);
    }
    expect(await lab.status('c1', pingOnce(lab.containerIp(2)))).toBe(0);
  });
});
