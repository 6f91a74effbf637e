import { parseCidr } from '@flannel-ts/core';
import type { Lease } from '@flannel-ts/core';
import { KernelTable, makeState, planDataPlane } from '@flannel-ts/backend';
import type { WgPeerEntry } from '@flannel-ts/backend';
import { createRecordingLogger } from '@flannel-ts/core/testing';
import { opLine } from '../../src/apply';
import { parseWgDump, pskFingerprint, wgPeerArgs } from '../../src/kernel/wg-peer-runner';
import { wireguardPeerEntries } from '../../src/wireguard/wireguard-desired';
import type { WireguardTopology } from '../../src/wireguard/wireguard-desired';

const KEY2 = 'Fk0XQ1RRGkLhhp4o8i0X7bm5R/pGeaLVFb2MtL2tBXw=';
const KEY3 = 'hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=';

function peer(n: number, extra: Partial<Lease['attrs']> = {}, v6 = false): Lease {
  return {
    subnets: {
      ipv4: parseCidr(`10.5.${n}.0/24`)!,
      ...(v6 ? { ipv6: parseCidr(`fd00:5:0:${n}::/64`)! } : {}),
    },
    attrs: {
      publicIp: `192.0.2.${n}`,
      publicIpv6: v6 ? `2001:db8::${n}` : null,
      backendType: 'wireguard',
      backendData: { PublicKey: n === 2 ? KEY2 : KEY3, Port: 51820 },
      ...(v6 ? { backendV6Data: { PublicKey: n === 2 ? KEY2 : KEY3, Port: 51821 } } : {}),
      ...extra,
    },
    ttlLeaseId: '1',
  };
}

const separate4: WireguardTopology = {
  mode: 'separate',
  devices: [{ name: 'flannel-wg', port: 51820, families: [4] }],
  keepaliveSeconds: 0,
  psk: '',
};

describe('wireguardPeerEntries', () => {
  it('gives a peer a WireGuard peer (key, endpoint, subnet) and a route through flannel-wg', () => {
    expect(wireguardPeerEntries(peer(2), separate4)).toEqual({
      wgPeers: [
        {
          dev: 'flannel-wg',
          publicKey: KEY2,
          endpoint: '192.0.2.2:51820',
          allowedIps: '10.5.2.0/24',
          keepalive: 0,
          psk: '',
        },
      ],
      routes: [{ dst: '10.5.2.0/24', gateway: '10.5.2.0', dev: 'flannel-wg', onlink: true }],
    });
  });

  it("uses our listen port for a lease without Port (older flannel), and the lease's otherwise", () => {
    const noPort = peer(2, { backendData: { PublicKey: KEY2 } });
    const topo = {
      ...separate4,
      devices: [{ name: 'flannel-wg', port: 40000, families: [4] as const }],
    };
    const e = wireguardPeerEntries(noPort, topo);
    expect('wgPeers' in e && e.wgPeers![0]!.endpoint).toBe('192.0.2.2:40000');
    const other = peer(2, { backendData: { PublicKey: KEY2, Port: 1234 } });
    const f = wireguardPeerEntries(other, topo);
    expect('wgPeers' in f && f.wgPeers![0]!.endpoint).toBe('192.0.2.2:1234');
  });

  it('carries keepalive and the preshared key fingerprint (never the key)', () => {
    const psk = 'mXkU7j8ZrTz0yB3iGcQ2xk9QJqYpQx3Yb0sV5nM2lEI=';
    const e = wireguardPeerEntries(peer(2), {
      ...separate4,
      keepaliveSeconds: 25,
      psk: pskFingerprint(psk),
    });
    const w = 'wgPeers' in e ? e.wgPeers![0]! : undefined;
    expect(w?.keepalive).toBe(25);
    expect(w?.psk).toMatch(/^[0-9a-f]{16}$/);
    expect(JSON.stringify(e)).not.toContain(psk);
  });

  it.each([
    [
      { backendData: { PublicKey: 'nope', Port: 51820 } },
      'its BackendData.PublicKey is not a WireGuard key',
    ],
    [{ backendData: undefined }, 'its lease has no BackendData'],
  ])('skips a peer whose lease cannot be used (%j)', (extra, reason) => {
    expect(wireguardPeerEntries(peer(2, extra), separate4)).toEqual({ skip: reason });
  });

  it('separate mode, dual stack: one peer per device, IPv6 on flannel-wg-v6 with [v6]:port', () => {
    const topo: WireguardTopology = {
      ...separate4,
      devices: [
        { name: 'flannel-wg', port: 51820, families: [4] },
        { name: 'flannel-wg-v6', port: 51821, families: [6] },
      ],
    };
    const e = wireguardPeerEntries(peer(2, {}, true), topo);
    expect('wgPeers' in e && e.wgPeers!.map((w) => [w.dev, w.endpoint, w.allowedIps])).toEqual([
      ['flannel-wg', '192.0.2.2:51820', '10.5.2.0/24'],
      ['flannel-wg-v6', '[2001:db8::2]:51821', 'fd00:5:0:2::/64'],
    ]);
  });

  it('auto mode: one peer for both subnets; IPv6 endpoint only for a private-IPv4 peer with public IPv6 on both sides', () => {
    const topo: WireguardTopology = {
      ...separate4,
      mode: 'auto',
      devices: [{ name: 'flannel-wg', port: 51820, families: [4, 6] }],
      ownPublicIp: '10.0.0.1',
      ownPublicIpv6: '2001:db8::1',
    };
    const pub = wireguardPeerEntries(peer(2, {}, true), topo);
    expect('wgPeers' in pub && pub.wgPeers![0]).toMatchObject({
      endpoint: '192.0.2.2:51820',
      allowedIps: '10.5.2.0/24,fd00:5:0:2::/64',
    });
    const priv = wireguardPeerEntries(peer(2, { publicIp: '10.0.0.2' }, true), topo);
    expect('wgPeers' in priv && priv.wgPeers![0]!.endpoint).toBe('[2001:db8::2]:51821');
  });
});

describe('WireGuard peers in the planner and the kernel table', () => {
  const w2: WgPeerEntry = {
    dev: 'flannel-wg',
    publicKey: KEY2,
    endpoint: '192.0.2.2:51820',
    allowedIps: '10.5.2.0/24',
    keepalive: 0,
    psk: '',
  };

  it('plans a missing peer before its route, and removes a stale peer after the routes', () => {
    const route = { dst: '10.5.2.0/24', gateway: '10.5.2.0', dev: 'flannel-wg', onlink: true };
    const stale = { ...w2, publicKey: KEY3 };
    const ops = planDataPlane(
      makeState([route], [], [], [], [w2]),
      makeState([], [], [], [], [stale]),
    );
    expect(ops.map((o) => o.op)).toEqual(['replace-wgpeer', 'replace-route', 'delete-wgpeer']);
    expect(opLine(ops[0]!)).toEqual({
      tool: 'wg',
      line: `set flannel-wg peer ${KEY2} endpoint 192.0.2.2:51820 allowed-ips 10.5.2.0/24 persistent-keepalive off preshared-key /dev/null`,
    });
    expect(wgPeerArgs({ op: 'delete-wgpeer', entry: stale })).toEqual([
      'set',
      'flannel-wg',
      'peer',
      KEY3,
      'remove',
    ]);
  });

  it('reads `wg show dump` into entries (sorted allowed IPs, keepalive, PSK fingerprint)', () => {
    const dump = [
      'cHJpdmF0ZQ==\tcHVibGlj\t51820\toff',
      `${KEY2}\t(none)\t192.0.2.2:51820\t10.5.2.0/24\t1700000000\t92\t180\toff`,
      `${KEY3}\tmXkU7j8ZrTz0yB3iGcQ2xk9QJqYpQx3Yb0sV5nM2lEI=\t(none)\tfd00:5:0:3::/64,10.5.3.0/24\t0\t0\t0\t25`,
      '',
    ].join('\n');
    expect(parseWgDump(dump, 'flannel-wg')).toEqual([
      w2,
      {
        dev: 'flannel-wg',
        publicKey: KEY3,
        endpoint: '',
        allowedIps: '10.5.3.0/24,fd00:5:0:3::/64',
        keepalive: 25,
        psk: pskFingerprint('mXkU7j8ZrTz0yB3iGcQ2xk9QJqYpQx3Yb0sV5nM2lEI='),
      },
    ]);
  });

  it('a full pass puts back a peer the kernel lost and removes one no lease explains', async () => {
    let kernel = new Map<string, WgPeerEntry>();
    const applied: string[] = [];
    const table = new KernelTable({
      entriesFor: (l) => wireguardPeerEntries(l, separate4),
      applyOps: (ops) => {
        for (const o of ops) {
          applied.push(o.op);
          if (o.op === 'replace-wgpeer') kernel.set(`${o.entry.dev} ${o.entry.publicKey}`, o.entry);
          if (o.op === 'delete-wgpeer') kernel.delete(`${o.entry.dev} ${o.entry.publicKey}`);
        }
        return Promise.resolve([]);
      },
      readKernel: () => Promise.resolve(makeState([], [], [], [], [...kernel.values()])),
      logger: createRecordingLogger(),
    });
    table.update([['10.5.2.0-24', peer(2)]]);
    await table.apply();
    expect([...kernel.values()]).toEqual([w2]);
    // Removed by hand, and a stranger added by hand.
    const stranger = { ...w2, publicKey: KEY3, allowedIps: '10.5.9.0/24' };
    kernel = new Map([[`flannel-wg ${KEY3}`, stranger]]);
    applied.length = 0;
    // (This fake kernel holds no routes: the peer's route reads as lost too.)
    const r = await table.resync();
    expect(r.repairs).toBe(2);
    expect([...kernel.values()]).toEqual([w2]);
    expect(applied.sort()).toEqual(['delete-wgpeer', 'replace-route', 'replace-wgpeer']);
  });
});
