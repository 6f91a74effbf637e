import type { AgentStatus } from '../../src/status/status-model';
import {
  describeExpiry,
  formatDuration,
  renderStatus,
  statusVerdict,
} from '../../src/status/status-render';

const NOW = Date.parse('2026-12-04T06:00:00Z');

const agentStatus: AgentStatus = {
  source: 'agent',
  version: 'v0.1.0',
  agent: {
    pid: 4242,
    startedAt: '2026-12-04T05:00:00Z',
    ready: true,
    tasks: [
      { name: 'lease', state: 'running', restarts: 0 },
      { name: 'peer-watch', state: 'backing-off', restarts: 2, lastError: 'etcd unreachable' },
    ],
  },
  lease: {
    subnet: '10.5.1.0/24',
    publicIp: '10.99.0.1',
    kind: 'lease',
    expiresAt: '2026-12-05T05:00:00Z',
    expiresInSeconds: 82_800,
  },
  backend: {
    type: 'vxlan',
    device: 'flannel.1',
    mtu: 1450,
    data: { VNI: 1, VtepMAC: 'aa:aa:aa:aa:aa:01' },
  },
  peers: [
    { subnet: '10.5.2.0/24', publicIp: '10.99.0.2', backendType: 'vxlan', state: 'programmed' },
    {
      subnet: '10.5.3.0/24',
      publicIp: '10.99.0.3',
      backendType: 'vxlan',
      state: 'skipped',
      reason: 'its BackendData.VNI 7 is not ours (1)',
    },
    { subnet: '10.5.6.5-24', publicIp: '', state: 'rejected', reason: 'key has host bits set' },
  ],
  traffic: {
    mode: 'iptables',
    rules: ['-t filter -A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD'],
  },
  etcd: { endpoints: ['http://10.99.0.254:2379'], reachable: true, since: '2026-12-04T05:00:01Z' },
  subnetFile: {
    path: '/run/flannel/subnet.env',
    values: { FLANNEL_SUBNET: '10.5.1.1/24', FLANNEL_MTU: '1450' },
  },
};

describe('formatDuration and describeExpiry', () => {
  it.each([
    [0, '0s'],
    [59.6, '1m00s'],
    [245, '4m05s'],
    [86_399, '23h59m'],
    [90_000, '25h00m'],
  ])('formats %p seconds as %p', (s, text) => {
    expect(formatDuration(s)).toBe(text);
  });

  it('counts down to expiresAt from now, says when it is past, and that a reservation never expires', () => {
    const lease = agentStatus.lease!;
    expect(describeExpiry(lease, NOW)).toBe('expires in 23h00m');
    expect(describeExpiry(lease, Date.parse('2026-12-05T05:03:00Z'))).toBe('expired 3m00s ago');
    expect(describeExpiry({ ...lease, kind: 'reservation' }, NOW)).toBe(
      'reservation (no TTL, never expires)',
    );
    const noTime = { subnet: lease.subnet, publicIp: lease.publicIp, kind: lease.kind };
    expect(describeExpiry({ ...noTime, expiresInSeconds: 82_800 }, NOW)).toBe('expires in 23h00m');
    expect(describeExpiry(noTime, NOW)).toBe(
      'expiry unknown: etcd did not say, and the agent was not asked',
    );
  });
});

describe('statusVerdict', () => {
  it('is OK when the agent is ready, counting only valid peers as expected', () => {
    expect(statusVerdict(agentStatus, NOW)).toEqual({
      ok: true,
      line: 'OK: agent ready; lease 10.5.1.0/24 (expires in 23h00m); peers 1/1 programmed (1 skipped, 1 rejected); etcd reachable',
    });
  });

  it('is NOT OK with the agent’s reason while it is not ready', () => {
    const status = {
      ...agentStatus,
      agent: { ...agentStatus.agent!, ready: false, notReadyReason: 'waiting for a valid config' },
    };
    expect(statusVerdict(status, NOW)).toEqual({
      ok: false,
      line: 'NOT OK: agent NOT READY: waiting for a valid config; lease 10.5.1.0/24 (expires in 23h00m); peers 1/1 programmed (1 skipped, 1 rejected); etcd reachable',
    });
  });

  it('read directly, is NOT OK while a valid peer is pending', () => {
    const status: AgentStatus = {
      ...agentStatus,
      agent: undefined,
      source: 'direct',
      peers: [
        ...agentStatus.peers,
        { subnet: '10.5.4.0/24', publicIp: '10.99.0.4', state: 'pending' },
      ],
    };
    expect(statusVerdict(status, NOW)).toEqual({
      ok: false,
      line: 'NOT OK (read directly, no agent): lease 10.5.1.0/24 (expires in 23h00m); peers 1/2 programmed (1 skipped, 1 rejected); etcd reachable',
    });
  });
});

describe('statusVerdict when the configured agent does not answer', () => {
  it('is NOT OK even when everything read directly is fine, naming where it asked', () => {
    const status: AgentStatus = {
      ...agentStatus,
      agent: undefined,
      source: 'direct',
      unansweredAgent: 'http://127.0.0.1:8471/status (timed out after 2000 ms)',
    };
    expect(statusVerdict(status, NOW)).toEqual({
      ok: false,
      line: 'NOT OK (read directly, no agent): agent NOT ANSWERING at http://127.0.0.1:8471/status (timed out after 2000 ms); lease 10.5.1.0/24 (expires in 23h00m); peers 1/1 programmed (1 skipped, 1 rejected); etcd reachable',
    });
  });
});

describe('renderStatus', () => {
  it('prints the lease, backend, etcd, subnet file, rules, a row per peer, the tasks and the verdict', () => {
    expect(renderStatus(agentStatus, NOW, 'http://127.0.0.1:8471/status')).toBe(
      [
        'flanneld status v0.1.0: from the agent at http://127.0.0.1:8471/status (pid 4242, started 2026-12-04T05:00:00Z)',
        'lease        10.5.1.0/24 for 10.99.0.1, expires in 23h00m (2026-12-05T05:00:00Z)',
        'backend      vxlan, device flannel.1, MTU 1450, VNI=1 VtepMAC=aa:aa:aa:aa:aa:01',
        'etcd         reachable (http://10.99.0.254:2379) since 2026-12-04T05:00:01Z',
        'subnet file  /run/flannel/subnet.env: FLANNEL_SUBNET=10.5.1.1/24 FLANNEL_MTU=1450',
        'traffic      iptables, 1 rule',
        '             -t filter -A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD',
        '',
        'peers (3): 1/1 programmed (1 skipped, 1 rejected)',
        '  SUBNET       PUBLIC-IP  BACKEND  STATE       REASON',
        '  10.5.2.0/24  10.99.0.2  vxlan    programmed  -',
        '  10.5.3.0/24  10.99.0.3  vxlan    skipped     its BackendData.VNI 7 is not ours (1)',
        '  10.5.6.5-24  -          -        rejected    key has host bits set',
        '',
        'tasks',
        '  TASK        STATE        RESTARTS  LAST-ERROR',
        '  lease       running      0         -',
        '  peer-watch  backing-off  2         etcd unreachable',
        '',
        'OK: agent ready; lease 10.5.1.0/24 (expires in 23h00m); peers 1/1 programmed (1 skipped, 1 rejected); etcd reachable',
        '',
      ].join('\n'),
    );
  });

  it('says what is unknown when read directly with etcd down, and lists the notes', () => {
    const status: AgentStatus = {
      source: 'direct',
      version: 'v0.1.0',
      peers: [],
      traffic: { mode: 'off', rules: [] },
      etcd: {
        endpoints: ['http://10.99.0.254:2379'],
        reachable: false,
        lastError: 'connect ECONNREFUSED',
      },
      subnetFile: { path: '/run/flannel/subnet.env' },
      notes: ['no subnet file at /run/flannel/subnet.env'],
    };
    expect(renderStatus(status, NOW)).toBe(
      [
        'flanneld status v0.1.0: read directly from etcd, the subnet file and the kernel',
        'lease        none held',
        'backend      unknown (no valid network config read)',
        'etcd         UNREACHABLE (http://10.99.0.254:2379): connect ECONNREFUSED',
        'subnet file  /run/flannel/subnet.env (not read)',
        'traffic      off',
        '',
        'peers (0): 0/0 programmed',
        '',
        'notes',
        '  - no subnet file at /run/flannel/subnet.env',
        '',
        'NOT OK (read directly, no agent): no lease; peers 0/0 programmed; etcd UNREACHABLE',
        '',
      ].join('\n'),
    );
  });

  it('counts rules, not chain declarations or the frame lines of nft list', () => {
    const nft: AgentStatus = {
      ...agentStatus,
      traffic: {
        mode: 'nftables',
        rules: [
          'table ip flannel-ipv4 {',
          '\tcomment "rules for flannel-ipv4"',
          '\tchain forward {',
          '\t\tcomment "chain to accept flannel traffic"',
          '\t\ttype filter hook forward priority filter; policy accept;',
          '\t\tip saddr 10.5.0.0/16 accept',
          '\t\tip daddr 10.5.0.0/16 accept',
          '\t}',
          '}',
        ],
      },
    };
    expect(renderStatus(nft, NOW)).toContain('\ntraffic      nftables, 2 rules\n');
    const ipt: AgentStatus = {
      ...agentStatus,
      traffic: {
        mode: 'iptables',
        rules: ['-t filter -N FLANNEL-FWD', '-t filter -A FLANNEL-FWD -s 10.5.0.0/16 -j ACCEPT'],
      },
    };
    expect(renderStatus(ipt, NOW)).toContain('\ntraffic      iptables, 1 rule\n');
  });
});
