import { parseCidr } from '@flannel-ts/core';
import type { Cidr, LeaseAttrs, SubnetPair } from '@flannel-ts/core';
import { createRecordingLogger } from '@flannel-ts/core/testing';
import type { RecordingLogger } from '@flannel-ts/core/testing';
import { PeerSet } from '@flannel-ts/subnet';
import type { LeaseBatch, SkippedKey, StoredLease } from '@flannel-ts/subnet';

const subnets = (v4: string): SubnetPair => ({ ipv4: parseCidr(v4) as Cidr });
const NET = parseCidr('10.5.0.0/16') as Cidr;
const OWN_IP = '192.0.2.10';

function lease(v4: string, attrs: Partial<LeaseAttrs> = {}): StoredLease {
  return {
    subnets: subnets(v4),
    attrs: {
      publicIp: '192.0.2.11',
      publicIpv6: null,
      backendType: 'vxlan',
      backendData: { VNI: 1, VtepMAC: 'aa:bb:cc:dd:ee:01' },
      ...attrs,
    },
    ttlLeaseId: '100',
    modRevision: '7',
  };
}

const OWN = lease('10.5.1.0/24', { publicIp: OWN_IP });
const A = lease('10.5.2.0/24');
const A_AS_US = lease('10.5.2.0/24', { publicIp: OWN_IP });
const A_NO_IP = lease('10.5.2.0/24', { publicIp: '0.0.0.0' });
const GARBAGE: SkippedKey = {
  key: 'subnets/10.5.2.0-24',
  field: 'value',
  rule: 'is not JSON',
  detail: 'oops',
};

function setup(): {
  set: PeerSet;
  log: RecordingLogger;
  warnings: () => unknown[];
  reported: string[];
} {
  const log = createRecordingLogger();
  const reported: string[] = [];
  const set = new PeerSet({
    own: { subnets: OWN.subnets, publicIp: OWN_IP },
    network: { ipv4: { network: NET, subnetLen: 24, subnetMin: 0n, subnetMax: 0n } },
    backendType: 'vxlan',
    logger: log,
    onRejected: (reason) => reported.push(reason),
  });
  const warnings = (): unknown[] => log.fields.filter((_, i) => log.lines[i]?.level === 'warn');
  return { set, log, warnings, reported };
}

function events(added: StoredLease[], skipped: SkippedKey[] = []): LeaseBatch {
  const evs = added.map((lease) => ({ type: 'added' as const, lease }));
  return { kind: 'events', events: evs, skipped, revision: '9' };
}

describe('PeerSet with invalid leases', () => {
  it('removes a valid peer when the watch brings a lease carrying our own PublicIP for it', () => {
    const { set, warnings } = setup();
    set.replace([A]);
    set.takeChanges();

    expect(set.apply(events([A_AS_US]))).toBe(true);
    expect(set.takeChanges()).toEqual(new Map([['10.5.2.0-24', undefined]]));
    expect(warnings()).toEqual([
      expect.objectContaining({
        key: 'subnets/10.5.2.0-24',
        field: 'PublicIP',
        rule: 'is our own public IP',
      }),
    ]);
  });

  it('removes a valid peer whose value is overwritten with garbage', () => {
    const { set, warnings } = setup();
    set.replace([A]);
    set.takeChanges();

    expect(set.apply(events([], [GARBAGE]))).toBe(true);
    expect(set.size).toBe(0);
    expect(set.takeChanges()).toEqual(new Map([['10.5.2.0-24', undefined]]));
    expect(warnings()).toEqual([
      expect.objectContaining({ key: 'subnets/10.5.2.0-24', field: 'value', rule: 'is not JSON' }),
    ]);
  });

  it('leaves the real peer alone when a key with host bits is unreadable', () => {
    const { set } = setup();
    set.replace([A]);
    const hostBits = {
      key: 'subnets/10.5.2.5-24',
      field: 'key',
      rule: 'has host bits set',
      detail: 'x',
    };
    expect(set.apply(events([], [hostBits]))).toBe(false);
    expect(set.list()).toEqual([A]);
  });

  it('warns once per key and reason, over the watch and across listings', () => {
    const { set, warnings } = setup();
    set.apply(events([A_AS_US]));
    set.apply(events([A_AS_US]));
    set.replace([A_AS_US]);
    expect(warnings()).toHaveLength(1);

    set.apply(events([A_NO_IP]));
    set.apply(events([A_NO_IP]));
    expect(warnings()).toHaveLength(2);
    expect(warnings()[1]).toEqual(expect.objectContaining({ rule: 'is missing or 0.0.0.0' }));
  });

  it('warns again when a key turns bad again after it was valid or deleted', () => {
    const { set, warnings } = setup();
    set.apply(events([], [GARBAGE]));
    set.apply(events([A]));
    set.apply(events([], [GARBAGE]));
    set.apply({
      kind: 'events',
      events: [{ type: 'removed', subnets: A.subnets }],
      skipped: [],
      revision: '9',
    });
    set.apply(events([], [GARBAGE]));
    expect(warnings()).toHaveLength(3);
  });

  it('warns about unreadable keys of a listing, and not about our own lease', () => {
    const { set, warnings } = setup();
    set.apply({
      kind: 'snapshot',
      listing: { leases: [OWN, A], skipped: [GARBAGE], revision: '3' },
    });
    expect(warnings()).toEqual([expect.objectContaining({ key: 'subnets/10.5.2.0-24' })]);
    expect(set.size).toBe(0);
  });

  it('counts rejections by field and rule, reports each, and lists the keys rejected now', () => {
    const { set, reported } = setup();
    set.apply(events([A_AS_US, A_NO_IP, A_AS_US], [GARBAGE]));
    expect(reported).toEqual([
      'PublicIP is our own public IP',
      'PublicIP is missing or 0.0.0.0',
      'PublicIP is our own public IP',
      'value is not JSON',
    ]);
    expect(Object.fromEntries(set.rejectedKeys)).toEqual({
      'subnets/10.5.2.0-24': 'value is not JSON',
    });
    expect(Object.fromEntries(set.rejected)).toEqual({
      'PublicIP is our own public IP': 2,
      'PublicIP is missing or 0.0.0.0': 1,
      'value is not JSON': 1,
    });
  });
});
