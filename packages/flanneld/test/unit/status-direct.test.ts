import { parseCidr } from '@flannel-ts/core';
import type { Cidr, LeaseAttrs, SubnetPair } from '@flannel-ts/core';
import { FakeIpRunner } from '@flannel-ts/backend/testing';
import { StoreUnavailableError } from '@flannel-ts/subnet';
import type { StoredLease } from '@flannel-ts/subnet';
import { InMemoryLeaseStore } from '@flannel-ts/subnet/testing';
import { parseConfig } from '../../src/config';
import type { Config } from '../../src/config';
import { collectDirectStatus, findOwnLease } from '../../src/status/status-direct';
import { readEtcd } from '../../src/status/status-etcd';
import type { DirectSources } from '../../src/status/status-direct';
import type { TrafficRulesReader } from '../../src/status/status-traffic';
import { statusVerdict } from '../../src/status/status-render';

const subnets = (v4: string): SubnetPair => ({ ipv4: parseCidr(v4) as Cidr });
const vxlan = (publicIp: string, mac: string, vni = 1): LeaseAttrs => ({
  publicIp,
  publicIpv6: null,
  backendType: 'vxlan',
  backendData: { VNI: vni, VtepMAC: mac },
});
const hostGw = (publicIp: string): LeaseAttrs => ({
  publicIp,
  publicIpv6: null,
  backendType: 'host-gw',
});

const SUBNET_FILE = '/run/flannel/subnet.env';
const FILE_TEXT =
  'FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n';
// This host: eth0 10.99.0.1/24, default route via 10.99.0.254.
const ADDRS = JSON.stringify([
  {
    ifindex: 1,
    ifname: 'lo',
    mtu: 65536,
    addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }],
  },
  {
    ifindex: 2,
    ifname: 'eth0',
    mtu: 1500,
    addr_info: [{ family: 'inet', local: '10.99.0.1', prefixlen: 24 }],
  },
]);
const DEFAULT = JSON.stringify([{ dst: 'default', gateway: '10.99.0.254', dev: 'eth0' }]);
const route = (dst: string, gateway: string, dev: string, onlink = true): object => ({
  dst,
  gateway,
  dev,
  ...(onlink ? { flags: ['onlink'] } : {}),
});

function config(argv: readonly string[] = []): Config {
  const parsed = parseConfig({
    argv: ['--etcd-endpoints=http://10.99.0.254:2379', ...argv],
    env: {},
  });
  if (parsed.kind !== 'run') throw new Error(`bad test config: ${parsed.stderr ?? ''}`);
  return parsed.config;
}

function kernel(routes: readonly object[]): FakeIpRunner {
  return new FakeIpRunner({
    answers: {
      '-json addr show': ADDRS,
      '-4 -json route show default': DEFAULT,
      '-4 -json route show': JSON.stringify([
        { dst: 'default', gateway: '10.99.0.254', dev: 'eth0' },
        { dst: '10.99.0.0/24', dev: 'eth0', prefsrc: '10.99.0.1' },
        ...routes,
      ]),
    },
  });
}

const FWD_RULES = [
  '-t filter -A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD',
  '-t filter -A FLANNEL-FWD -s 10.5.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
];
const traffic: TrafficRulesReader = { read: () => Promise.resolve(FWD_RULES) };

function sources(store: DirectSources['store'], ip: FakeIpRunner, file = FILE_TEXT): DirectSources {
  return {
    store,
    ip,
    traffic,
    readFile: (path) => Promise.resolve(path === SUBNET_FILE ? file : undefined),
  };
}

describe('collectDirectStatus (flanneld status without an agent)', () => {
  let store: InMemoryLeaseStore;
  beforeEach(() => {
    store = new InMemoryLeaseStore();
    store.setConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}');
    store.put(subnets('10.5.1.0/24'), vxlan('10.99.0.1', 'aa:aa:aa:aa:aa:01'));
    store.put(subnets('10.5.2.0/24'), vxlan('10.99.0.2', 'aa:aa:aa:aa:aa:02'));
    store.put(subnets('10.5.3.0/24'), vxlan('10.99.0.3', 'aa:aa:aa:aa:aa:03'));
  });

  it('finds our lease by this host’s address and calls a vxlan peer programmed when its onlink route is on flannel.1', async () => {
    const ip = kernel([
      route('10.5.2.0/24', '10.5.2.0', 'flannel.1'),
      route('10.5.3.0/24', '10.5.3.0', 'flannel.1'),
    ]);
    const status = await collectDirectStatus(config(), sources(store, ip), 'v0.1.0');
    expect(status).toEqual({
      source: 'direct',
      version: 'v0.1.0',
      lease: {
        subnet: '10.5.1.0/24',
        publicIp: '10.99.0.1',
        kind: 'lease',
        // The TTL left on the key's etcd lease, as the store says.
        expiresAt: expect.any(String) as string,
        expiresInSeconds: 86_400,
      },
      backend: {
        type: 'vxlan',
        device: 'flannel.1',
        mtu: 1450,
        data: { VNI: 1, VtepMAC: 'aa:aa:aa:aa:aa:01' },
      },
      peers: [
        { subnet: '10.5.2.0/24', publicIp: '10.99.0.2', backendType: 'vxlan', state: 'programmed' },
        { subnet: '10.5.3.0/24', publicIp: '10.99.0.3', backendType: 'vxlan', state: 'programmed' },
      ],
      traffic: { mode: 'iptables', rules: FWD_RULES },
      etcd: { endpoints: ['http://10.99.0.254:2379'], reachable: true },
      subnetFile: {
        path: SUBNET_FILE,
        values: {
          FLANNEL_NETWORK: '10.5.0.0/16',
          FLANNEL_SUBNET: '10.5.1.1/24',
          FLANNEL_MTU: '1450',
          FLANNEL_IPMASQ: 'false',
        },
      },
    });
    expect(statusVerdict(status, Date.now()).ok).toBe(true);
  });

  it('shows the expiry etcd counts for our lease, and none when the store cannot say', async () => {
    store.remainingTtlSeconds = 3 * 3600 + 125;
    const status = await collectDirectStatus(config(), sources(store, kernel([])), 'v0.1.0');
    const at = Date.parse(status.lease?.expiresAt ?? '');
    expect(Math.abs(at - (Date.now() + (3 * 3600 + 125) * 1000))).toBeLessThan(5_000);
    expect(statusVerdict(status, Date.now()).line).toContain(
      'lease 10.5.1.0/24 (expires in 3h02m)',
    );
    const silent = Object.assign(Object.create(store) as InMemoryLeaseStore, {
      remainingSeconds: () => Promise.reject(new Error('etcd went away')),
    });
    const unknown = await collectDirectStatus(config(), sources(silent, kernel([])), 'v0.1.0');
    expect(unknown.lease).toEqual({ subnet: '10.5.1.0/24', publicIp: '10.99.0.1', kind: 'lease' });
    expect(statusVerdict(unknown, Date.now()).line).toContain('expiry unknown');
  });

  it('says which route is missing, and is not OK, while a peer is not programmed', async () => {
    const ip = kernel([route('10.5.2.0/24', '10.5.2.0', 'flannel.1')]);
    const status = await collectDirectStatus(config(), sources(store, ip), 'v0.1.0');
    expect(status.peers[1]).toEqual({
      subnet: '10.5.3.0/24',
      publicIp: '10.99.0.3',
      backendType: 'vxlan',
      state: 'pending',
      reason: 'no route 10.5.3.0/24 via 10.5.3.0 dev flannel.1 in the kernel',
    });
    expect(statusVerdict(status, Date.now()).ok).toBe(false);
  });

  it('does not count a route through the wrong device or gateway as programmed', async () => {
    const ip = kernel([
      route('10.5.2.0/24', '10.5.2.0', 'eth0'),
      route('10.5.3.0/24', '10.5.3.1', 'flannel.1'),
    ]);
    const status = await collectDirectStatus(config(), sources(store, ip), 'v0.1.0');
    expect(status.peers.map((p) => p.state)).toEqual(['pending', 'pending']);
  });

  it('lists rejected and skipped peers with the agent’s reasons, and they do not make it NOT OK', async () => {
    store.put(subnets('10.5.4.0/24'), vxlan('10.99.0.1', 'aa:aa:aa:aa:aa:04'));
    store.put(subnets('10.5.5.0/24'), vxlan('10.99.0.5', 'aa:aa:aa:aa:aa:05', 7));
    store.putRaw('10.5.6.5-24', '{"PublicIP":"10.99.0.6"}');
    const ip = kernel([
      route('10.5.2.0/24', '10.5.2.0', 'flannel.1'),
      route('10.5.3.0/24', '10.5.3.0', 'flannel.1'),
    ]);
    const status = await collectDirectStatus(config(), sources(store, ip), 'v0.1.0');
    expect(status.peers.slice(2)).toEqual([
      {
        subnet: '10.5.4.0/24',
        publicIp: '10.99.0.1',
        backendType: 'vxlan',
        state: 'rejected',
        reason: 'PublicIP is our own public IP: 10.99.0.1',
      },
      {
        subnet: '10.5.5.0/24',
        publicIp: '10.99.0.5',
        backendType: 'vxlan',
        state: 'skipped',
        reason: 'its BackendData.VNI 7 is not ours (1)',
      },
      {
        subnet: '10.5.6.5-24',
        publicIp: '',
        state: 'rejected',
        reason: "key has host bits set: the subnet's key is 10.5.6.0-24",
      },
    ]);
    expect(statusVerdict(status, Date.now()).ok).toBe(true);
  });

  it('checks host-gw peers by their route via the peer’s public IP on the external interface', async () => {
    const gw = new InMemoryLeaseStore();
    gw.setConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"host-gw"}}');
    gw.put(subnets('10.5.1.0/24'), hostGw('10.99.0.1'));
    gw.put(subnets('10.5.2.0/24'), hostGw('10.99.0.2'));
    gw.put(subnets('10.5.3.0/24'), hostGw('192.0.2.3'));
    const ip = kernel([route('10.5.2.0/24', '10.99.0.2', 'eth0', false)]);
    const status = await collectDirectStatus(config(), sources(gw, ip), 'v0.1.0');
    expect(status.backend).toEqual({ type: 'host-gw', mtu: 1450 });
    expect(status.peers.map((p) => [p.subnet, p.state, p.reason])).toEqual([
      ['10.5.2.0/24', 'programmed', undefined],
      [
        '10.5.3.0/24',
        'skipped',
        'its public IP is not on a network directly connected to eth0; host-gw needs all hosts on one L2 segment (use vxlan)',
      ],
    ]);
  });

  it('lists alloc peers (whose leases carry no BackendType) as skipped, not rejected', async () => {
    const alloc = new InMemoryLeaseStore();
    alloc.setConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"alloc"}}');
    alloc.put(subnets('10.5.1.0/24'), { publicIp: '10.99.0.1', publicIpv6: null });
    alloc.put(subnets('10.5.2.0/24'), { publicIp: '10.99.0.2', publicIpv6: null });
    const status = await collectDirectStatus(config(), sources(alloc, kernel([])), 'v0.1.0');
    expect(status.peers).toEqual([
      {
        subnet: '10.5.2.0/24',
        publicIp: '10.99.0.2',
        state: 'skipped',
        reason: 'the alloc backend programs no data path',
      },
    ]);
    expect(statusVerdict(status, Date.now()).ok).toBe(true);
  });

  it('lists extension peers as unknown (their commands cannot be read back), validated, and OK', async () => {
    const ext = new InMemoryLeaseStore();
    ext.setConfig(
      '{"Network":"10.5.0.0/16","Backend":{"Type":"extension","SubnetAddCommand":"true"}}',
    );
    const extension = (publicIp: string): LeaseAttrs => ({
      publicIp,
      publicIpv6: null,
      backendType: 'extension',
    });
    ext.put(subnets('10.5.1.0/24'), extension('10.99.0.1'));
    ext.put(subnets('10.5.2.0/24'), extension('10.99.0.2'));
    ext.put(subnets('10.5.3.0/24'), hostGw('10.99.0.3'));
    const status = await collectDirectStatus(config(), sources(ext, kernel([])), 'v0.1.0');
    expect(status.peers.map((p) => [p.subnet, p.state])).toEqual([
      ['10.5.2.0/24', 'unknown'],
      ['10.5.3.0/24', 'rejected'],
    ]);
    expect(status.peers[0]?.reason).toMatch(/only the agent knows.*SubnetAddCommand/);
    const verdict = statusVerdict(status, Date.now());
    expect(verdict.ok).toBe(true);
    expect(verdict.line).toContain('peers 0/1 programmed (1 rejected, 1 unknown)');
  });

  it('takes --public-ip as this host’s public IP', async () => {
    store.put(subnets('10.5.9.0/24'), vxlan('203.0.113.9', 'aa:aa:aa:aa:aa:09'));
    const ip = kernel([]);
    const status = await collectDirectStatus(
      config(['--public-ip=203.0.113.9']),
      sources(store, ip, ''),
      'v0.1.0',
    );
    expect(status.lease?.subnet).toBe('10.5.9.0/24');
  });

  it('falls back to the subnet file’s subnet when no lease carries our address, and says a reservation is one', async () => {
    const other = new InMemoryLeaseStore();
    other.setConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}');
    other.put(subnets('10.5.1.0/24'), vxlan('198.51.100.1', 'aa:aa:aa:aa:aa:01'), { ttl: false });
    const status = await collectDirectStatus(config(), sources(other, kernel([])), 'v0.1.0');
    expect(status.lease).toEqual({
      subnet: '10.5.1.0/24',
      publicIp: '198.51.100.1',
      kind: 'reservation',
    });
  });

  it('shows an unreachable etcd (and the subnet file and kernel it could read) instead of failing', async () => {
    store.failNext.push(
      new StoreUnavailableError(
        'cannot list leases on etcd at http://10.99.0.254:2379: connect ECONNREFUSED',
      ),
    );
    const status = await collectDirectStatus(config(), sources(store, kernel([])), 'v0.1.0');
    expect(status.etcd).toEqual({
      endpoints: ['http://10.99.0.254:2379'],
      reachable: false,
      lastError: 'cannot list leases on etcd at http://10.99.0.254:2379: connect ECONNREFUSED',
    });
    expect(status.lease).toBeUndefined();
    expect(status.peers).toEqual([]);
    expect(status.subnetFile.values?.['FLANNEL_SUBNET']).toBe('10.5.1.1/24');
    const verdict = statusVerdict(status, Date.now());
    expect(verdict).toEqual({
      ok: false,
      line: 'NOT OK (read directly, no agent): no lease; peers 0/0 programmed; etcd UNREACHABLE',
    });
  });

  it('reports a missing config, a missing subnet file and unreadable routes as notes', async () => {
    const empty = new InMemoryLeaseStore();
    const ip = new FakeIpRunner({
      answers: { '-json addr show': ADDRS, '-4 -json route show default': DEFAULT },
    });
    const status = await collectDirectStatus(
      config(),
      { ...sources(empty, ip), readFile: () => Promise.resolve(undefined) },
      'v0.1.0',
    );
    expect(status.notes).toEqual([
      `no subnet file at ${SUBNET_FILE}`,
      expect.stringMatching(/^cannot read the routes: ip -4 -json route show failed/),
      'flannel config not found in etcd store. Did you create your config using etcdv3 API?',
      "no lease in etcd carries this host's public IP 10.99.0.1 or the subnet file's subnet (none); peers are listed without validation",
      'EnableNFTables is unknown (no network config was read): showing the iptables rules found (nftables: 2 lines, iptables: 2)',
    ]);
    expect(status.backend).toBeUndefined();
  });

  it('reads no traffic rules when neither --ip-masq nor forward rules are on', async () => {
    const read = jest.fn(traffic.read);
    const status = await collectDirectStatus(
      config(['--iptables-forward-rules=false']),
      { ...sources(store, kernel([])), traffic: { read } },
      'v0.1.0',
    );
    expect(status.traffic).toEqual({ mode: 'off', rules: [] });
    expect(read).not.toHaveBeenCalled();
  });

  it('reads nftables rules when the network config says EnableNFTables', async () => {
    store.setConfig('{"Network":"10.5.0.0/16","EnableNFTables":true,"Backend":{"Type":"vxlan"}}');
    const read = jest.fn((mode: 'iptables' | 'nftables') => Promise.resolve([`${mode} rule`]));
    const status = await collectDirectStatus(
      config(),
      { ...sources(store, kernel([])), traffic: { read } },
      'v0.1.0',
    );
    expect(status.traffic).toEqual({ mode: 'nftables', rules: ['nftables rule'] });
  });

  it('without a network config, shows the mode whose rules are in the kernel, and says it guessed', async () => {
    store.failNext.push(new StoreUnavailableError('etcd down'));
    const read = (mode: 'iptables' | 'nftables'): Promise<string[]> =>
      Promise.resolve(mode === 'nftables' ? ['table ip flannel-ipv4 {', '}'] : []);
    const status = await collectDirectStatus(
      config(),
      { ...sources(store, kernel([])), traffic: { read } },
      'v0.1.0',
    );
    expect(status.traffic).toEqual({ mode: 'nftables', rules: ['table ip flannel-ipv4 {', '}'] });
    expect(status.notes).toContain(
      'EnableNFTables is unknown (no network config was read): showing the nftables rules found (nftables: 2 lines, iptables: 0)',
    );
  });

  it('shows why the rules could not be read', async () => {
    const read = (): Promise<string[]> =>
      Promise.reject(
        new Error('iptables-save -t nat failed: the `iptables-save` command was not found'),
      );
    const status = await collectDirectStatus(
      config(),
      { ...sources(store, kernel([])), traffic: { read } },
      'v0.1.0',
    );
    expect(status.traffic).toEqual({ mode: 'iptables', rules: [] });
    expect(status.notes).toEqual([
      'traffic rules: iptables-save -t nat failed: the `iptables-save` command was not found',
    ]);
  });
});

describe('readEtcd', () => {
  it('gives up on a store that does not answer within the deadline, saying so', async () => {
    const store = new InMemoryLeaseStore();
    jest.spyOn(store, 'list').mockReturnValue(new Promise(() => undefined));
    expect(await readEtcd(store, { timeoutMs: 50 })).toEqual({
      reachable: false,
      error: 'no answer from in-memory store within 50 ms',
    });
  });
});

describe('findOwnLease', () => {
  const stored = (key: string, attrs: LeaseAttrs): StoredLease => {
    const [v4, v6] = key.split('&');
    return {
      subnets: {
        ipv4: parseCidr(v4 ?? '') as Cidr,
        ...(v6 ? { ipv6: parseCidr(v6) } : {}),
      },
      attrs,
      ttlLeaseId: '7',
      modRevision: '1',
    };
  };
  const v6only = (publicIpv6: string): LeaseAttrs => ({ publicIp: '0.0.0.0', publicIpv6 });
  const leases = [
    stored('0.0.0.0/0&fd10:5:0:1::/64', v6only('fd99::1')),
    stored('0.0.0.0/0&fd10:5:0:2::/64', v6only('fd99::2')),
  ];

  it('finds an IPv6-only lease by PublicIPv6, never by the PublicIP 0.0.0.0 all of them carry', () => {
    expect(findOwnLease(leases, '0.0.0.0', undefined, { publicIp: 'fd99::2' })).toBe(leases[1]);
    expect(findOwnLease(leases, '0.0.0.0', undefined, {})).toBeUndefined();
  });

  it('falls back to the subnet file’s IPv6 subnet', () => {
    const fileSubnet = parseCidr('fd10:5:0:1::/64') as Cidr;
    expect(findOwnLease(leases, undefined, undefined, { fileSubnet })).toBe(leases[0]);
  });
});
