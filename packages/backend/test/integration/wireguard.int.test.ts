import { readFileSync, statSync } from 'node:fs';
import { encodeLeaseAttrs, formatSubnetKey, parseCidr } from '@flannel-ts/core';
import type { Lease } from '@flannel-ts/core';
import { waitUntil } from '@flannel-ts/core/testing';
import type { DataPlane } from '@flannel-ts/backend';
import {
  netnsInode,
  pingAnsweredWithin,
  WgLab,
  wireguardBackendOn,
  wireguardGoPids,
} from './wg-netns';

// Two hosts in namespaces this test creates (ftwg-<pid>-h1/-h2), each running the wireguard
// backend with wireguard-go (this kernel has no wireguard module) and the real `wg`.
const lab = new WgLab();
const network = parseCidr('10.5.0.0/16')!;
const subnetOf = (n: number) => parseCidr(`10.5.${n}.0/24`)!;
const planes: DataPlane[] = [];
const leases: Lease[] = [];
const publicKeys: string[] = [];

function backendFor(n: number) {
  return wireguardBackendOn(lab.hosts[n - 1]!, { PersistentKeepaliveInterval: 5 });
}
const dump = (n: number): string => lab.hosts[n - 1]!.exec('wg', 'show', 'flannel-wg', 'dump');
const ping = (from: number, to: number): string =>
  lab.hosts[from - 1]!.exec('ping', '-c', '2', '-W', '2', '-i', '0.3', `10.5.${to}.0`);
const abort = new AbortController();

beforeAll(() => lab.setup(), 30_000);
afterAll(() => {
  abort.abort();
  lab.destroy();
});

describe('wireguard backend between two hosts (wireguard-go)', () => {
  it('registers: a key file with mode 0400 and upstream lease data', async () => {
    for (const n of [1, 2]) {
      const h = lab.hosts[n - 1]!;
      const data = await backendFor(n).register(abort.signal);
      const key = (data.backendData as { PublicKey: string }).PublicKey;
      publicKeys.push(key);
      expect(statSync(h.keyFile).mode & 0o777).toBe(0o400);
      const attrs = { publicIp: h.address, publicIpv6: null, ...data };
      expect(encodeLeaseAttrs(attrs)).toBe(
        `{"PublicIP":"${h.address}","PublicIPv6":null,"BackendType":"wireguard","BackendData":{"PublicKey":"${key}","Port":51820}}`,
      );
      // The device's key is the file's, and its public key the one advertised.
      expect(h.exec('wg', 'show', 'flannel-wg', 'public-key').trim()).toBe(key);
      expect(h.exec('wg', 'show', 'flannel-wg', 'listen-port').trim()).toBe('51820');
      expect(wireguardGoPids(h.ns)).toHaveLength(1);
      leases.push({ subnets: { ipv4: subnetOf(n) }, attrs, ttlLeaseId: '1' });
    }
    expect(publicKeys[0]).not.toBe(publicKeys[1]);
  }, 60_000);

  it('starts: address, MTU 1420, the network route, and each other as a peer', async () => {
    for (const n of [1, 2]) {
      const backend = backendFor(n);
      // register() again is what a restart does: the device (same key) is kept, wireguard-go too.
      const pids = wireguardGoPids(lab.hosts[n - 1]!.ns);
      await backend.register(abort.signal);
      expect(wireguardGoPids(lab.hosts[n - 1]!.ns)).toEqual(pids);
      const dp = await backend.start(leases[n - 1]!, { ipv4: network }, abort.signal);
      planes[n - 1] = dp!;
      const other = leases[2 - n]!;
      dp!.update([[formatSubnetKey(other.subnets), other]]);
      const r = await dp!.resync(abort.signal);
      expect(r.programmedPeers).toBe(1);
      const h = lab.hosts[n - 1]!;
      const link = h.exec('ip', '-o', 'addr', 'show', 'dev', 'flannel-wg');
      expect(link).toContain(`inet 10.5.${n}.0/32`);
      expect(h.exec('ip', 'link', 'show', 'flannel-wg')).toContain('mtu 1420');
      const routes = h.exec('ip', 'route', 'show', 'dev', 'flannel-wg');
      expect(routes).toContain('10.5.0.0/16 scope link');
      expect(routes).toContain(`10.5.${3 - n}.0/24 via 10.5.${3 - n}.0 onlink`);
      const peerLine = dump(n).split('\n')[1]!.split('\t');
      expect(peerLine[0]).toBe(publicKeys[2 - n]);
      expect(peerLine[2]).toBe(`192.0.2.${3 - n}:51820`);
      expect(peerLine[3]).toBe(`10.5.${3 - n}.0/24`);
      expect(peerLine[7]).toBe('5');
    }
  }, 60_000);

  it('carries a ping between the subnets after a handshake', () => {
    expect(pingAnsweredWithin(lab.hosts[0]!, '10.5.2.0')).toBe(true);
    expect(pingAnsweredWithin(lab.hosts[1]!, '10.5.1.0')).toBe(true);
    for (const n of [1, 2]) {
      const hs = lab.hosts[n - 1]!.exec('wg', 'show', 'flannel-wg', 'latest-handshakes');
      expect(Number(hs.trim().split('\t')[1])).toBeGreaterThan(0);
    }
  }, 60_000);

  it('puts back a peer removed by hand on the next full pass', async () => {
    lab.hosts[0]!.exec('wg', 'set', 'flannel-wg', 'peer', publicKeys[1]!, 'remove');
    expect(dump(1).trim().split('\n')).toHaveLength(1);
    const r = await planes[0]!.resync(abort.signal);
    expect(r.repairs).toBe(1);
    expect(dump(1)).toContain(publicKeys[1]!);
    expect(pingAnsweredWithin(lab.hosts[0]!, '10.5.2.0')).toBe(true);
  }, 60_000);

  it('rebuilds a deleted device with its key and every peer (a new wireguard-go)', async () => {
    const h = lab.hosts[0]!;
    const before = wireguardGoPids(h.ns);
    h.exec('ip', 'link', 'del', 'flannel-wg');
    await planes[0]!.resync(abort.signal);
    expect(h.exec('wg', 'show', 'flannel-wg', 'public-key').trim()).toBe(publicKeys[0]);
    expect(dump(1)).toContain(publicKeys[1]!);
    const after = wireguardGoPids(h.ns);
    expect(after).toHaveLength(1);
    expect(after).not.toEqual(before);
    expect(pingAnsweredWithin(h, '10.5.2.0')).toBe(true);
  }, 60_000);

  it('with the kernel monitor: a route deleted by hand, and then the device, come back at once', async () => {
    const h = lab.hosts[0]!;
    let dirty = false;
    const watching = planes[0]!.watch(() => (dirty = true), abort.signal);
    await new Promise((r) => setTimeout(r, 300)); // the monitor is listening
    h.exec('ip', 'route', 'del', '10.5.2.0/24', 'dev', 'flannel-wg');
    await waitUntil(() => dirty, 'the monitor reports the deleted route');
    dirty = false;
    await planes[0]!.apply(abort.signal);
    expect(h.exec('ip', 'route', 'show', 'dev', 'flannel-wg')).toContain(
      '10.5.2.0/24 via 10.5.2.0',
    );
    h.exec('ip', 'link', 'del', 'flannel-wg');
    await waitUntil(() => dirty, 'the monitor reports the deleted device');
    await planes[0]!.apply(abort.signal);
    expect(dump(1)).toContain(publicKeys[1]!);
    expect(pingAnsweredWithin(h, '10.5.2.0')).toBe(true);
    void watching.catch(() => undefined);
  }, 60_000);

  it('keeps the key across a restart (same file, same public key) and the traffic flowing', async () => {
    const h = lab.hosts[0]!;
    const file = readFileSync(h.keyFile, 'utf8');
    const pids = wireguardGoPids(h.ns);
    const backend = backendFor(1);
    const data = await backend.register(abort.signal);
    expect((data.backendData as { PublicKey: string }).PublicKey).toBe(publicKeys[0]);
    expect(readFileSync(h.keyFile, 'utf8')).toBe(file);
    // The device and its sessions are kept: the peer's traffic goes on at once.
    expect(wireguardGoPids(h.ns)).toEqual(pids);
    const dp = await backend.start(leases[0]!, { ipv4: network }, abort.signal);
    dp!.update([[formatSubnetKey(leases[1]!.subnets), leases[1]!]]);
    await dp!.resync(abort.signal);
    expect(ping(2, 1)).toMatch(/2 received/);
  }, 60_000);

  it('replaces a device of that name that has another key', async () => {
    const h = lab.hosts[0]!;
    h.exec('wg', 'set', 'flannel-wg', 'private-key', '/dev/stdin'); // stdin is empty: key cleared
    const pids = wireguardGoPids(h.ns);
    await backendFor(1).register(abort.signal);
    expect(h.exec('wg', 'show', 'flannel-wg', 'public-key').trim()).toBe(publicKeys[0]);
    const after = wireguardGoPids(h.ns);
    expect(after).toHaveLength(1);
    expect(after).not.toEqual(pids);
  }, 60_000);

  it('leaves no wireguard-go behind once the namespaces are gone', () => {
    // By inode: the namespaces' names are gone after destroy(), a process in them would not be.
    const inodes = lab.hosts.map((h) => netnsInode(h.ns)!);
    expect(inodes.flatMap((ino) => wireguardGoPids(ino))).toHaveLength(2);
    lab.destroy();
    expect(inodes.flatMap((ino) => wireguardGoPids(ino))).toEqual([]);
  });
});
