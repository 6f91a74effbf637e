import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { lab, meshPairs, pingOnce, waitUntil } from './lab-harness';

const run = promisify(execFile);
jest.setTimeout(180_000);
const HOSTS = [1, 2, 3];
/** Short, so a peer removed by hand (no kernel event reports that) comes back within seconds. */
const RECONCILE_S = 2;

/** `wg ARGS` in host H's agent's namespaces (its network, and its /run/wireguard). */
async function wg(h: number, ...args: string[]): Promise<string> {
  const pid = String(lab.pid(h));
  const { stdout } = await run('nsenter', ['-t', pid, '-m', '-n', 'wg', ...args]);
  return stdout;
}

describe('the wireguard overlay on the 3-host lab (wireguard-go)', () => {
  beforeAll(async () => {
    await lab.down();
    await lab.up('wireguard', `--reconcile-interval=${RECONCILE_S}`);
  });
  afterAll(async () => {
    await lab.down();
  });

  it("publishes upstream's lease value, with the public key of the host's flannel-wg", async () => {
    const leases = await lab.leaseValues();
    for (const h of HOSTS) {
      const key = (await wg(h, 'show', 'flannel-wg', 'public-key')).trim();
      expect(leases.get(`10.99.0.${h}`)).toBe(
        `{"PublicIP":"10.99.0.${h}","PublicIPv6":null,"BackendType":"wireguard","BackendData":{"PublicKey":"${key}","Port":51820}}`,
      );
    }
  });

  it('gives a full mesh, and every host has shaken hands with every other', async () => {
    for (const [from, to] of meshPairs(HOSTS)) {
      const code = await lab.status(`c${from}`, pingOnce(lab.containerIp(to)));
      expect({ from, to, code }).toEqual({ from, to, code: 0 });
    }
    for (const h of HOSTS) {
      const handshakes = (await wg(h, 'show', 'flannel-wg', 'latest-handshakes'))
        .trim()
        .split('\n');
      expect(handshakes.map((l) => Number(l.split('\t')[1]) > 0)).toEqual([true, true]);
    }
  });

  it('carries the mesh over the underlay as WireGuard UDP 51820 only: no container packet in clear', async () => {
    const cap = spawn(
      'ip',
      [
        'netns',
        'exec',
        'ftlab-ul',
        'tcpdump',
        '-i',
        'br0',
        '-nn',
        '-q',
        '-l',
        '--immediate-mode',
        'ip',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    cap.stdout.on('data', (b: Buffer) => (out += b.toString()));
    cap.stderr.on('data', (b: Buffer) => (err += b.toString()));
    try {
      await waitUntil(() => err.includes('listening on'), 'tcpdump listens', 5000);
      for (const [from, to] of meshPairs(HOSTS)) {
        expect(await lab.status(`c${from}`, pingOnce(lab.containerIp(to)))).toBe(0);
      }
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      cap.kill('SIGINT');
      await new Promise((r) => cap.once('close', r));
    }
    const lines = out.trim().split('\n');
    const host = '10\\.99\\.0\\.([1-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-3])';
    const betweenHosts = lines.filter((l) =>
      new RegExp(` IP ${host}(\\.\\d+)? > ${host}(\\.\\d+)?:`).test(l),
    );
    const wgPackets = betweenHosts.filter((l) =>
      new RegExp(` IP ${host}\\.51820 > ${host}\\.51820: UDP`).test(l),
    );
    expect(wgPackets.length).toBeGreaterThanOrEqual(12); // 6 echo requests and 6 replies at least
    expect(betweenHosts.filter((l) => !wgPackets.includes(l))).toEqual([]);
    expect(lines.filter((l) => / 10\.5\.\d+\.\d+/.test(l))).toEqual([]);
  });

  it('puts back a WireGuard peer removed by hand on the next full pass', async () => {
    const peers = (await wg(1, 'show', 'flannel-wg', 'peers')).trim().split('\n');
    expect(peers).toHaveLength(2);
    const gone = peers[0]!;
    await wg(1, 'set', 'flannel-wg', 'peer', gone, 'remove');
    expect(await wg(1, 'show', 'flannel-wg', 'peers')).not.toContain(gone);
    await waitUntil(
      async () => (await wg(1, 'show', 'flannel-wg', 'peers')).includes(gone),
      'the full pass restores the peer',
      (RECONCILE_S + 5) * 1000,
    );
    for (const to of [2, 3]) expect(await lab.status('c1', pingOnce(lab.containerIp(to)))).toBe(0);
  });
});
