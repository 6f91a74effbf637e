import { parseCidr } from '@flannel-ts/core';
import type { Lease } from '@flannel-ts/core';
import { createRecordingLogger } from '@flannel-ts/core/testing';
import { EMPTY_STATE, PeerProgrammer, Reconciler, vxlanPeerEntries } from '@flannel-ts/backend';
import { FakeIpRunner } from '@flannel-ts/backend/testing';

const topo = { device: 'flannel.1', externalDevice: 'eth0', connected: [], directRouting: false };
function peer(n: number, mac = `aa:bb:cc:dd:ee:${n.toString(16).padStart(2, '0')}`): Lease {
  return {
    subnets: { ipv4: parseCidr(`10.5.${n}.0/24`)! },
    attrs: {
      publicIp: `192.0.2.${n}`,
      publicIpv6: null,
      backendType: 'vxlan',
      backendData: { VNI: 1, VtepMAC: mac },
    },
    ttlLeaseId: '1',
  };
}

function setup() {
  const ip = new FakeIpRunner();
  const bridge = new FakeIpRunner();
  let reads = 0;
  const runners = { ip, bridge };
  const reconciler = new Reconciler(runners, () => {
    reads++;
    return Promise.resolve(EMPTY_STATE);
  });
  const logger = createRecordingLogger();
  const programmer = new PeerProgrammer(
    reconciler,
    runners,
    (l) => vxlanPeerEntries(l, topo),
    logger,
  );
  return { ip, bridge, programmer, logger, reads: () => reads };
}

describe('PeerProgrammer', () => {
  it('programs only the changed peers on a delta pass, without reading the kernel', async () => {
    const h = setup();
    const peers = Array.from({ length: 50 }, (_, i) => peer(i + 1));
    await h.programmer.sync(peers, true);
    expect(h.reads()).toBe(1);
    expect(h.ip.batchLines).toHaveLength(100);
    const added = peer(60);
    const r = await h.programmer.sync(
      [...peers, added],
      false,
      undefined,
      new Map([['10.5.60.0-24', added]]),
    );
    expect(h.reads()).toBe(1);
    expect(r).toEqual({ changes: 3, programmedPeers: 51, skippedPeers: [] });
    expect(h.ip.batches.at(-1)).toEqual([
      'neigh replace 10.5.60.0 lladdr aa:bb:cc:dd:ee:3c dev flannel.1 nud permanent',
      'route replace 10.5.60.0/24 via 10.5.60.0 dev flannel.1 onlink',
    ]);
    expect(h.bridge.batches.at(-1)).toEqual([
      'fdb replace aa:bb:cc:dd:ee:3c dev flannel.1 dst 192.0.2.60 self permanent',
    ]);
  });

  it('removes exactly a departed peer’s entries, and moves a peer whose MAC changed', async () => {
    const h = setup();
    const [a, b] = [peer(1), peer(2)];
    await h.programmer.sync([a, b], true);
    await h.programmer.sync([b], false, undefined, new Map([['10.5.1.0-24', undefined]]));
    expect(h.ip.batches.at(-1)).toEqual([
      'route del 10.5.1.0/24 via 10.5.1.0 dev flannel.1 onlink',
      'neigh del 10.5.1.0 dev flannel.1',
    ]);
    expect(h.bridge.batches.at(-1)).toEqual([
      'fdb del aa:bb:cc:dd:ee:01 dev flannel.1 dst 192.0.2.1 self',
    ]);
    const moved = peer(2, '02:00:00:00:00:22');
    await h.programmer.sync([moved], false, undefined, new Map([['10.5.2.0-24', moved]]));
    expect(h.bridge.batches.at(-1)).toEqual([
      'fdb replace 02:00:00:00:00:22 dev flannel.1 dst 192.0.2.2 self permanent',
      'fdb del aa:bb:cc:dd:ee:02 dev flannel.1 dst 192.0.2.2 self',
    ]);
  });

  it('warns once about a skipped peer, and again only when the reason changes', async () => {
    const h = setup();
    const broken: Lease = { ...peer(3), attrs: { ...peer(3).attrs, backendData: {} } };
    await h.programmer.sync([broken], true);
    await h.programmer.sync([broken], true);
    expect(h.logger.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    const r = await h.programmer.sync(
      [broken],
      false,
      undefined,
      new Map([['10.5.3.0-24', broken]]),
    );
    expect(r.skippedPeers).toEqual(['10.5.3.0/24 (192.0.2.3)']);
    expect(h.logger.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
  });
});
