import { execFileSync } from 'node:child_process';
import { encodeLeaseAttrs, formatSubnetKey, parseCidr } from '@flannel-ts/core';
import type { Lease } from '@flannel-ts/core';
import { createRecordingLogger, waitUntil } from '@flannel-ts/core/testing';
import type { Backend } from '@flannel-ts/backend';
import {
  netnsInode,
  pingAnswered,
  pingAnsweredWithin,
  WgLab,
  wireguardBackendOn,
  wireguardGoPids,
} from './wg-netns';

// The `PSK` option over the wire: two hosts in namespaces this test creates
// (ftwg-psk-<pid>-h1/-h2, apart from wireguard.int.test.ts's ftwg-<pid>-…), each running the
// wireguard backend with wireguard-go. First with different preshared keys (the Noise handshake
// fails: no session, no traffic), then with the same one (handshake, ping).
// The backend hands `wg` the key on stdin through a real pipe (kernel/wg-tools.ts): a first
// version passed Node's socket-pair stdin, which `preshared-key /dev/stdin` cannot open, and
// these tests found it.
const lab = new WgLab({ name: 'psk' });
const network = parseCidr('10.5.0.0/16')!;
const log = createRecordingLogger();
const genpsk = (): string => execFileSync('wg', ['genpsk'], { encoding: 'utf8' }).trim();
const PSK_A = genpsk();
const PSK_B = genpsk();
const publicKeys: string[] = [];
const leases: Lease[] = [];
const abort = new AbortController();

const host = (n: number) => lab.hosts[n - 1]!;
const wg = (n: number, what: string): string[][] =>
  host(n)
    .exec('wg', 'show', 'flannel-wg', what)
    .trim()
    .split('\n')
    .map((l) => l.split('\t'));
/** `wg show … latest-handshakes` of the one peer, in seconds since the epoch (0: never). */
const handshake = (n: number): number => Number(wg(n, 'latest-handshakes')[0]![1]);
/** Bytes the device received from / sent to its one peer (handshake messages included). */
const transfer = (n: number): { rx: number; tx: number } => {
  const [, rx, tx] = wg(n, 'transfer')[0]!;
  return { rx: Number(rx), tx: Number(tx) };
};

/** Host `n`'s backend with preshared key `psk`, registered: its lease is `leases[n - 1]`. */
async function register(n: number, psk: string): Promise<Backend> {
  const h = host(n);
  // A keepalive makes each side start a handshake as soon as it has the peer.
  const backend = wireguardBackendOn(h, { PSK: psk, PersistentKeepaliveInterval: 1 }, log);
  const data = await backend.register(abort.signal);
  const attrs = { publicIp: h.address, publicIpv6: null, ...data };
  // The lease carries the public key only: the preshared key is configuration, never advertised.
  expect(encodeLeaseAttrs(attrs)).not.toContain(psk);
  publicKeys[n - 1] = (data.backendData as { PublicKey: string }).PublicKey;
  leases[n - 1] = { subnets: { ipv4: parseCidr(`10.5.${n}.0/24`)! }, attrs, ttlLeaseId: '1' };
  return backend;
}

/** Starts host `n`'s registered backend with the other host as its one peer. */
async function start(n: number, backend: Backend): Promise<void> {
  const dp = await backend.start(leases[n - 1]!, { ipv4: network }, abort.signal);
  const other = leases[2 - n]!;
  dp!.update([[formatSubnetKey(other.subnets), other]]);
  const r = await dp!.resync(abort.signal);
  expect(r.programmedPeers).toBe(1);
}

beforeAll(() => lab.setup(), 30_000);
afterAll(() => {
  abort.abort();
  lab.destroy();
});

describe('wireguard backend PSK between two hosts (wireguard-go)', () => {
  it('with different preshared keys: handshakes are attempted and answered, but none completes and no ping gets through', async () => {
    // Both register first: each start needs the other's lease (its public key).
    const b1 = await register(1, PSK_A);
    const b2 = await register(2, PSK_B);
    await start(1, b1);
    await start(2, b2);
    // Each side holds its own key for the other (read back from the device: the test set it).
    expect(wg(1, 'preshared-keys')).toEqual([[publicKeys[1], PSK_A]]);
    expect(wg(2, 'preshared-keys')).toEqual([[publicKeys[0], PSK_B]]);
    // Handshake messages cross the underlay both ways: an initiation is accepted (the preshared
    // key enters Noise IKpsk2 only after it; wireguard-go counts a message it accepted as
    // received) and answered, and the answer then fails on the initiator.
    await waitUntil(
      () => {
        const [t1, t2] = [transfer(1), transfer(2)];
        return t1.tx > 0 && t2.tx > 0 && (t1.rx > 0 || t2.rx > 0);
      },
      'an initiation accepted and answered',
      10_000,
    );
    expect(pingAnswered(host(1), '10.5.2.0')).toBe(false);
    expect(pingAnswered(host(2), '10.5.1.0')).toBe(false);
    expect(handshake(1)).toBe(0);
    expect(handshake(2)).toBe(0);
  }, 60_000);

  it('with the same preshared key (host 2 restarted with host 1s): a handshake, and pings answered both ways', async () => {
    // register() keeps the device (same private key, no session); the full pass replaces the
    // peer, whose preshared key differs from the one wanted.
    await start(2, await register(2, PSK_A));
    expect(wg(1, 'preshared-keys')).toEqual([[publicKeys[1], PSK_A]]);
    expect(wg(2, 'preshared-keys')).toEqual([[publicKeys[0], PSK_A]]);
    await waitUntil(
      () => handshake(1) > 0 && handshake(2) > 0,
      'a completed handshake on both hosts',
      10_000,
    );
    expect(pingAnsweredWithin(host(1), '10.5.2.0')).toBe(true);
    expect(pingAnsweredWithin(host(2), '10.5.1.0')).toBe(true);
  }, 60_000);

  it('never logs a preshared key', () => {
    // Not vacuous: the backend logged its devices and peers at every start.
    expect(log.lines.length).toBeGreaterThan(0);
    const logged = JSON.stringify({ lines: log.lines, fields: log.fields });
    expect(logged).toContain(publicKeys[0]);
    for (const psk of [PSK_A, PSK_B]) expect(logged).not.toContain(psk);
  });

  it('leaves no wireguard-go behind once the namespaces are gone', () => {
    const inodes = lab.hosts.map((h) => netnsInode(h.ns)!);
    expect(inodes.flatMap((ino) => wireguardGoPids(ino))).toHaveLength(2);
    lab.destroy();
    expect(inodes.flatMap((ino) => wireguardGoPids(ino))).toEqual([]);
  });
});
