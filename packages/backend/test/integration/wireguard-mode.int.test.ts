import { formatSubnetKey, parseCidr } from '@flannel-ts/core';
import type { Lease } from '@flannel-ts/core';
import { waitUntil } from '@flannel-ts/core/testing';
import type { Backend } from '@flannel-ts/backend';
import {
  netnsInode,
  pingAnsweredWithin,
  WgLab,
  wireguardBackendOn,
  wireguardGoPids,
} from './wg-netns';
import type { WgHost } from './wg-netns';

// The `Mode` option over the wire, on a dual-stack network (10.5.0.0/16 and fd00:5::/32): two
// labs of two hosts in namespaces this test creates (ftwg-mode-<pid>-… and ftwg-mode-pub-<pid>-…,
// apart from the other wireguard tests' labs) with a dual-stack underlay, each host running the
// wireguard backend with wireguard-go. The underlays' IPv6 is public (2001:db8:…); their IPv4 is
// private (192.168.77.0/24) in one lab and public (192.0.2.0/24) in the other, which is what
// `auto` decides by (upstream wireguard_network.go selectMode). Each mode starts with fresh
// devices (no session left from the mode before), and each host's underlay drops WireGuard's UDP
// in the family the mode must not use while counting it in the other.
const privateV4 = new WgLab({ name: 'mode', underlay4: '192.168.77', underlay6: '2001:db8:77' });
const publicV4 = new WgLab({ name: 'mode-pub', underlay6: '2001:db8:78' });
const NET4 = parseCidr('10.5.0.0/16')!;
const NET6 = parseCidr('fd00:5::/32')!;
/** The default ListenPort, the one device's in every mode tested here. */
const PORT = 51820;
const abort = new AbortController();

/** Host `h`'s wireguard backend in `mode`, on both families of its underlay. */
function backendFor(h: WgHost, mode: string): Backend {
  // Default ports: the lease advertises, per family, the port of the device that carries it
  // (here the one device's ListenPort 51820; upstream would say ListenPortV6, 51821).
  return wireguardBackendOn(h, { Mode: mode, PersistentKeepaliveInterval: 1 });
}

/**
 * Deletes both hosts' devices (their wireguard-go exits), filters the underlay (see
 * {@link filterUnderlay}), then registers and starts both hosts in `mode`.
 */
async function startMode(lab: WgLab, mode: string, blocked: 4 | 6): Promise<string[]> {
  for (const h of lab.hosts) {
    if (h.exec('ip', '-o', 'link', 'show').includes('flannel-wg')) {
      h.exec('ip', 'link', 'del', 'flannel-wg');
    }
    await waitUntil(() => wireguardGoPids(h.ns).length === 0, `${h.ns}: wireguard-go gone`);
  }
  // Only now: the devices of the mode before would still send keepalives in their family.
  filterUnderlay(lab, blocked);
  const backends = lab.hosts.map((h) => backendFor(h, mode));
  const leases: Lease[] = [];
  const keys: string[] = [];
  for (const [i, b] of backends.entries()) {
    const h = lab.hosts[i]!;
    const data = await b.register(abort.signal);
    keys.push((data.backendData as { PublicKey: string }).PublicKey);
    leases.push({
      subnets: { ipv4: parseCidr(`10.5.${i + 1}.0/24`)!, ipv6: parseCidr(`fd00:5:${i + 1}::/64`)! },
      attrs: { publicIp: h.address, publicIpv6: h.address6!, ...data },
      ttlLeaseId: '1',
    });
  }
  for (const [i, b] of backends.entries()) {
    const dp = await b.start(leases[i]!, { ipv4: NET4, ipv6: NET6 }, abort.signal);
    const other = leases[1 - i]!;
    dp!.update([[formatSubnetKey(other.subnets), other]]);
    expect((await dp!.resync(abort.signal)).programmedPeers).toBe(1);
  }
  return keys;
}

/** The underlay drops WireGuard over IPv`blocked`, and counts it over the other family. */
function filterUnderlay(lab: WgLab, blocked: 4 | 6): void {
  for (const h of lab.hosts) {
    for (const f of [4, 6] as const) {
      const tables = f === 4 ? 'iptables' : 'ip6tables';
      h.exec(tables, '-w', '-F', 'INPUT');
      const verdict = f === blocked ? ['-j', 'DROP'] : [];
      h.exec(tables, '-w', '-A', 'INPUT', '-p', 'udp', '--dport', String(PORT), ...verdict);
    }
  }
}

/** Packets of WireGuard's UDP the underlay of host `h` saw in IPv`f` (dropped or let through). */
function underlayPackets(h: WgHost, f: 4 | 6): number {
  const out = h.exec(f === 4 ? 'iptables' : 'ip6tables', '-w', '-L', 'INPUT', '-v', '-x', '-n');
  const rule = out.split('\n').find((l) => l.includes(`dpt:${PORT}`));
  if (!rule) throw new Error(`no counting rule in:\n${out}`);
  return Number(rule.trim().split(/\s+/)[0]);
}

/** Host number `to`'s subnet address in IPv`f`: what the pings go to. */
const subnetAddress = (to: number, f: 4 | 6): string =>
  f === 4 ? `10.5.${to}.0` : `fd00:5:${to}::`;

/** The one peer of host `h`'s flannel-wg: public key, endpoint and allowed IPs (sorted). */
function peerOf(h: WgHost): { key: string; endpoint: string; allowed: string[] } {
  const lines = h.exec('wg', 'show', 'flannel-wg', 'dump').trim().split('\n');
  expect(lines).toHaveLength(2);
  const f = lines[1]!.split('\t');
  return { key: f[0]!, endpoint: f[2]!, allowed: f[3]!.split(',').sort() };
}

/** `wg show … latest-handshakes` of host `h`'s one peer, in seconds since the epoch (0: never). */
const latestHandshake = (h: WgHost): number =>
  Number(h.exec('wg', 'show', 'flannel-wg', 'latest-handshakes').trim().split('\t')[1]);

/** Host `h`'s public address of family `f` as a WireGuard endpoint on our port. */
const endpointOf = (h: WgHost, f: 4 | 6): string =>
  f === 4 ? `${h.address}:${PORT}` : `[${h.address6!}]:${PORT}`;

/** Runs `mode` in `lab` and checks one device per host carrying both families over IPv`via`. */
async function expectCarriedOver(lab: WgLab, mode: string, via: 4 | 6): Promise<void> {
  const keys = await startMode(lab, mode, via === 4 ? 6 : 4);
  const [h1, h2] = lab.hosts as [WgHost, WgHost];
  for (const [n, h] of lab.hosts.entries()) {
    const [me, other] = [n + 1, 2 - n];
    // One device for both families: no flannel-wg-v6, one wireguard-go.
    expect(h.exec('ip', '-o', 'link', 'show')).not.toContain('flannel-wg-v6');
    expect(wireguardGoPids(h.ns)).toHaveLength(1);
    const addrs = h.exec('ip', '-o', 'addr', 'show', 'dev', 'flannel-wg');
    expect(addrs).toContain(`inet 10.5.${me}.0/32`);
    expect(addrs).toContain(`inet6 fd00:5:${me}::/128`);
    const routes = [4, 6].map((f) => h.exec('ip', `-${f}`, 'route', 'show', 'dev', 'flannel-wg'));
    expect(routes[0]).toContain(`10.5.${other}.0/24 via 10.5.${other}.0 onlink`);
    expect(routes[1]).toMatch(new RegExp(`fd00:5:${other}::/64 via fd00:5:${other}:: .*onlink`));
    expect(peerOf(h)).toEqual({
      key: keys[other - 1],
      endpoint: endpointOf(lab.hosts[other - 1]!, via),
      allowed: [`10.5.${other}.0/24`, `fd00:5:${other}::/64`],
    });
  }
  // A handshake over the underlay: each side starts one once it has the peer (keepalive); one
  // lost initiation is retried after WireGuard's 5 s REKEY_TIMEOUT, hence the bound.
  await waitUntil(
    () => latestHandshake(h1) > 0 && latestHandshake(h2) > 0,
    'a completed handshake on both hosts',
    15_000,
  );
  for (const f of [4, 6] as const) {
    expect(pingAnsweredWithin(h1, subnetAddress(2, f))).toBe(true);
    expect(pingAnsweredWithin(h2, subnetAddress(1, f))).toBe(true);
  }
  for (const [h, other] of [
    [h1, h2],
    [h2, h1],
  ] as const) {
    // The traffic came in over IPv`via` only: WireGuard roams a peer's endpoint to the source of
    // what it authenticated, and the other family's underlay saw no WireGuard packet.
    expect(peerOf(h).endpoint).toBe(endpointOf(other, via));
    expect(underlayPackets(h, via)).toBeGreaterThan(0);
    expect(underlayPackets(h, via === 4 ? 6 : 4)).toBe(0);
  }
}

const labs = [privateV4, publicV4];
beforeAll(() => labs.forEach((l) => l.setup()), 30_000);
afterAll(() => {
  abort.abort();
  labs.forEach((l) => l.destroy());
});

describe('wireguard backend Mode on a dual-stack network between two hosts (wireguard-go)', () => {
  it('ipv6: one device, peers at their IPv6 public addresses, carrying both families', async () => {
    await expectCarriedOver(publicV4, 'ipv6', 6);
  }, 60_000);

  it('ipv4: one device, peers at their IPv4 public addresses, carrying both families', async () => {
    await expectCarriedOver(privateV4, 'ipv4', 4);
  }, 60_000);

  it('auto: a peer with a private IPv4 and a public IPv6 (ours public too) is reached over IPv6', async () => {
    await expectCarriedOver(privateV4, 'auto', 6);
  }, 60_000);

  it('auto: a peer with a public IPv4 is reached over IPv4, though it has a public IPv6', async () => {
    await expectCarriedOver(publicV4, 'auto', 4);
  }, 60_000);

  it('leaves no wireguard-go behind once the namespaces are gone', () => {
    const inodes = labs.flatMap((l) => l.hosts.map((h) => netnsInode(h.ns)!));
    expect(inodes.flatMap((ino) => wireguardGoPids(ino))).toHaveLength(4);
    labs.forEach((l) => l.destroy());
    expect(inodes.flatMap((ino) => wireguardGoPids(ino))).toEqual([]);
  });
});
