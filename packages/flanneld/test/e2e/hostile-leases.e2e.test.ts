import { readFileSync } from 'node:fs';
import { lab, meshPairs, pingOnce, waitUntil } from './lab-harness';

// Issue 8 "What was seen" 1 and 2, black-box on the 3-host vxlan lab: hostile or broken leases
// written into etcd while the agents run never reach h1's kernel, each gets a warning in h1's log,
// a valid peer overwritten with garbage is removed, and a restart with all of them present (plus a
// reservation carrying h1's own public IP) keeps h1's subnet and the full mesh.
jest.setTimeout(180_000);
const HOSTS = [1, 2, 3];
const H1_IP = '10.99.0.1';
const PREFIX = '/coreos.com/network/subnets';
const LOG = '/run/ftlab/h1/flanneld.log';

interface Case {
  readonly what: string;
  readonly key: string;
  readonly value: string;
  /** Text h1's warning line about this case contains. */
  readonly warning: string;
  /** Subnets (and their .0 gateway) that must not appear in h1's kernel. */
  readonly subnets: readonly string[];
  readonly mac?: string;
}

const vxlanValue = (publicIp: string | undefined, mac: string, extra: object = {}): string =>
  JSON.stringify({
    ...(publicIp === undefined ? {} : { PublicIP: publicIp }),
    PublicIPv6: null,
    BackendType: 'vxlan',
    BackendData: { VNI: 1, VtepMAC: mac },
    ...extra,
  });

/** Third octets of 10.5.X.0/24 no lab host holds, in key order (so a test key sorts first). */
function freeOctets(): number[] {
  const used = new Set(HOSTS.map((h) => Number(lab.subnet(h).split('.')[2])));
  return Array.from({ length: 154 }, (_, i) => 100 + i).filter((o) => !used.has(o));
}

function hostileCases(free: number[]): Case[] {
  const [a, b, c, d, e, f, g, h, j, k] = free.slice(-10).map((o) => `10.5.${o}.0`);
  const mac = (n: number): string => `aa:bb:cc:00:00:${n.toString(16).padStart(2, '0')}`;
  const peer = (s: string | undefined, ip: string): string => `peer="${s}/24 (${ip})"`;
  // [what, key, value, MAC in the value, warning (default: the key's), subnet (default: the key's)]
  const rows: [string, string, string, string?, string?, string?][] = [
    ['no PublicIP', `${a}-24`, vxlanValue(undefined, mac(10)), mac(10)],
    ['our own PublicIP', `${b}-24`, vxlanValue(H1_IP, mac(11)), mac(11)],
    ['a key outside the Network', '10.77.1.0-24', vxlanValue('10.99.0.91', mac(12)), mac(12)],
    [
      'a key with host bits',
      `${c!.replace(/0$/, '5')}-24`,
      vxlanValue('10.99.0.92', mac(13)),
      mac(13),
      undefined,
      `${c}/24`,
    ],
    ['a value that is not JSON', `${d}-24`, 'not json'],
    ['a PublicIP that is not an address', `${e}-24`, vxlanValue('banana', mac(14)), mac(14)],
    ['a malformed key', 'garbage', vxlanValue('10.99.0.93', mac(15)), mac(15), undefined, ''],
    ['a key spanning the whole Network', '10.5.0.0-16', vxlanValue('10.99.0.94', mac(16)), mac(16)],
    [
      'another backend',
      `${f}-24`,
      JSON.stringify({ PublicIP: '10.99.0.95', BackendType: 'host-gw' }),
    ],
    ['a multicast PublicIP', `${g}-24`, vxlanValue('224.0.0.1', mac(17)), mac(17)],
    [
      'a multicast VtepMAC',
      `${h}-24`,
      vxlanValue('10.99.0.96', '01:00:5e:00:00:12'),
      '01:00:5e:00:00:12',
      peer(h, '10.99.0.96'),
    ],
    [
      'another VNI',
      `${k}-24`,
      vxlanValue('10.99.0.97', mac(18), { BackendData: { VNI: 2, VtepMAC: mac(18) } }),
      mac(18),
      peer(k, '10.99.0.97'),
    ],
    [
      'a value over 64 KiB',
      `${j}-24`,
      vxlanValue('10.99.0.98', mac(19), { Pad: 'x'.repeat(70_000) }),
      mac(19),
    ],
  ];
  return rows.map(([what, key, value, m, warning, subnet]) => ({
    what,
    key,
    value,
    warning: warning ?? `key=subnets/${key} `,
    subnets: subnet === '' ? [] : [subnet ?? key.replace(/-(\d+)$/, '/$1')],
    ...(m === undefined ? {} : { mac: m }),
  }));
}

const logLines = (): string[] => readFileSync(LOG, 'utf8').split('\n');
const h1 = (cmd: string[]): Promise<string> => lab.exec('h1', cmd);

/** What of the cases reached h1's kernel: routes, neighbours, FDB entries. */
async function leaked(cases: readonly Case[]): Promise<string[]> {
  const out: string[] = [];
  const neigh = await h1(['ip', '-4', 'neigh', 'show', 'dev', 'flannel.1']);
  const fdb = await h1(['bridge', 'fdb', 'show', 'dev', 'flannel.1']);
  for (const c of cases) {
    for (const s of c.subnets) {
      const route = await h1(['ip', '-4', 'route', 'show', 'exact', s]);
      if (route.trim()) out.push(`${c.what}: route ${route.trim()}`);
      if (neigh.includes(`${s.split('/')[0]} `)) out.push(`${c.what}: neighbour of ${s}`);
    }
    if (c.mac && fdb.includes(c.mac)) out.push(`${c.what}: fdb ${c.mac}`);
  }
  if (/dst (0\.0\.0\.0|10\.99\.0\.1) /.test(fdb))
    out.push(`fdb entry to 0.0.0.0 or ourselves: ${fdb}`);
  return out;
}

async function meshFailures(): Promise<string[]> {
  const bad: string[] = [];
  for (const [from, to] of meshPairs(HOSTS)) {
    if ((await lab.status(`c${from}`, pingOnce(lab.containerIp(to)))) !== 0)
      bad.push(`${from}->${to}`);
  }
  return bad;
}

describe('hostile leases on the 3-host vxlan lab', () => {
  let cases: Case[] = [];
  let free: number[] = [];

  beforeAll(async () => {
    await lab.down();
    await lab.up('vxlan', '--reconcile-interval=5');
    free = freeOctets();
    cases = hostileCases(free);
    for (const c of cases) await lab.etcdctl(['put', `${PREFIX}/${c.key}`, c.value]);
  });
  afterAll(async () => {
    await lab.down();
  });

  it('programs none of them on h1 and warns once about each, naming the key', async () => {
    const unwarned = (): string[] =>
      cases.filter((c) => !logLines().some((l) => l.includes(c.warning))).map((c) => c.what);
    await waitUntil(() => unwarned().length === 0, 'a warning about every hostile lease').catch(
      () => undefined,
    );
    expect(unwarned()).toEqual([]);
    expect(await leaked(cases)).toEqual([]);
    const counts = cases.map((c) => [
      c.what,
      logLines().filter((l) => l.includes(c.warning)).length,
    ]);
    expect(counts).toEqual(cases.map((c) => [c.what, 1]));
    expect(await meshFailures()).toEqual([]);
  });

  it('removes a valid peer from h1’s kernel when its value is overwritten with garbage', async () => {
    const o = free[0]!;
    const subnet = `10.5.${o}.0/24`;
    await lab.etcdctl([
      'put',
      `${PREFIX}/10.5.${o}.0-24`,
      vxlanValue('10.99.0.99', 'aa:bb:cc:00:00:99'),
    ]);
    await waitUntil(
      async () => (await h1(['ip', '-4', 'route', 'show', 'exact', subnet])).includes('flannel.1'),
      `h1 to program ${subnet}`,
    );
    await lab.etcdctl(['put', `${PREFIX}/10.5.${o}.0-24`, '{"PublicIP":']);
    await waitUntil(
      async () =>
        (
          await leaked([
            {
              what: 'overwritten',
              key: '',
              value: '',
              warning: '',
              subnets: [subnet],
              mac: 'aa:bb:cc:00:00:99',
            },
          ])
        ).length === 0,
      `h1 to remove ${subnet} and its neighbour and FDB entry`,
    );
    expect(logLines().filter((l) => l.includes(`key=subnets/10.5.${o}.0-24 `))).toHaveLength(1);
  });

  it('keeps its subnet and the full mesh after a restart with all of them present, beside a reservation carrying its own public IP', async () => {
    const subnet = lab.subnet(1);
    // A reservation (no TTL) for h1's own IP whose key sorts before h1's real one (issue 8, seen 2).
    const r = free[1]!;
    await lab.etcdctl(['put', `${PREFIX}/10.5.${r}.0-24`, vxlanValue(H1_IP, 'aa:bb:cc:00:00:77')]);
    const logged = logLines().length;
    await lab.killAndRestart(1);
    await waitUntil(
      () =>
        logLines()
          .slice(logged)
          .some((l) => l.includes('data plane in sync')),
      'the restarted agent in sync',
    );

    expect(lab.subnet(1)).toBe(subnet);
    const own = await h1(['ip', '-4', 'route', 'show', 'exact', subnet]);
    expect(own).toContain('dev cni0');
    const after = logLines().slice(logged);
    expect(after.some((l) => l.includes('several lease keys carry our public IP'))).toBe(true);
    expect(
      await leaked([
        ...cases,
        { what: 'own reservation', key: '', value: '', warning: '', subnets: [`10.5.${r}.0/24`] },
      ]),
    ).toEqual([]);
    expect(await meshFailures()).toEqual([]);
  });
});
