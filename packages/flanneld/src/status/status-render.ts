import type { AgentStatus, LeaseStatus, PeerStatus } from './status-model';

/** The one-line outcome of a status: what the exit status and the last line of the table say. */
export interface StatusVerdict {
  /** The agent is ready; read directly: etcd answers, our lease exists, no valid peer pending. */
  readonly ok: boolean;
  /** `OK: agent ready; lease 10.5.3.0/24 (expires in 23h59m); peers 2/2 programmed; etcd reachable`. */
  readonly line: string;
}

/** `23h59m`, `4m05s`, `12s`: a duration in seconds as an operator reads it. */
export function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.round(totalSeconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/** When the lease expires, relative to `nowMs`: `expires in 23h59m`, `expired 3m00s ago`. */
export function describeExpiry(lease: LeaseStatus, nowMs: number): string {
  if (lease.kind === 'reservation') return 'reservation (no TTL, never expires)';
  const at = lease.expiresAt === undefined ? NaN : Date.parse(lease.expiresAt);
  const inSeconds = Number.isNaN(at) ? lease.expiresInSeconds : (at - nowMs) / 1000;
  if (inSeconds === undefined)
    return 'expiry unknown: etcd did not say, and the agent was not asked';
  return inSeconds >= 0
    ? `expires in ${formatDuration(inSeconds)}`
    : `expired ${formatDuration(-inSeconds)} ago`;
}

/** How many peers are in each state, and how many are expected to be programmed. */
function peerCounts(peers: readonly PeerStatus[]): Record<PeerStatus['state'], number> {
  const counts = { programmed: 0, pending: 0, skipped: 0, rejected: 0, unknown: 0 };
  for (const p of peers) counts[p.state]++;
  return counts;
}

function describePeers(peers: readonly PeerStatus[]): string {
  const c = peerCounts(peers);
  // Unknown peers are valid ones whose programming cannot be read back: expected, like pending.
  const valid = c.programmed + c.pending + c.unknown;
  const extra = [
    c.skipped ? `${c.skipped} skipped` : '',
    c.rejected ? `${c.rejected} rejected` : '',
    c.unknown ? `${c.unknown} unknown` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return `${c.programmed}/${valid} programmed${extra ? ` (${extra})` : ''}`;
}

/** The verdict of a status document (pure): see {@link StatusVerdict}. */
export function statusVerdict(status: AgentStatus, nowMs: number): StatusVerdict {
  const facts = [
    status.lease
      ? `lease ${status.lease.subnet} (${describeExpiry(status.lease, nowMs)})`
      : 'no lease',
    `peers ${describePeers(status.peers)}`,
    status.etcd.reachable ? 'etcd reachable' : 'etcd UNREACHABLE',
  ];
  if (status.source === 'agent') {
    const ready = status.agent?.ready === true;
    const head = ready
      ? 'agent ready'
      : `agent NOT READY: ${status.agent?.notReadyReason ?? 'no reason given'}`;
    return { ok: ready, line: `${ready ? 'OK' : 'NOT OK'}: ${[head, ...facts].join('; ')}` };
  }
  const pending = peerCounts(status.peers).pending;
  if (status.unansweredAgent !== undefined) {
    facts.unshift(`agent NOT ANSWERING at ${status.unansweredAgent}`);
  }
  const ok =
    status.etcd.reachable &&
    status.lease !== undefined &&
    pending === 0 &&
    status.unansweredAgent === undefined;
  const line = `${ok ? 'OK' : 'NOT OK'} (read directly, no agent): ${facts.join('; ')}`;
  return { ok, line };
}

/**
 * How many rules the listing holds: iptables `-A` lines (not the `-N` chain lines), or nft rule
 * lines (not the table, chain, comment, type lines and braces of `nft list`).
 */
function countRules(traffic: AgentStatus['traffic']): number {
  const nftFrame = /^(table|chain|comment|type|policy|}|$)/;
  return traffic.rules.filter((r) =>
    traffic.mode === 'iptables' ? / -A /.test(` ${r}`) : !nftFrame.test(r.trim()),
  ).length;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Pads columns to their widest cell; the last column is not padded. */
function table(rows: readonly (readonly string[])[], indent = '  '): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map(
    (r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  '),
  );
}

function describeData(data: unknown): string {
  if (typeof data !== 'object' || data === null) return JSON.stringify(data) ?? '';
  return Object.entries(data)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

/** Where the status came from, for the first line. */
function origin(status: AgentStatus, agentUrl: string | undefined): string {
  if (status.source === 'direct') return 'read directly from etcd, the subnet file and the kernel';
  const a = status.agent;
  const who = a ? ` (pid ${a.pid}, started ${a.startedAt})` : '';
  return `from the agent${agentUrl ? ` at ${agentUrl}` : ''}${who}`;
}

/**
 * The status as the table an operator reads (pure): our lease, backend, etcd, subnet file and
 * traffic rules, then one row per peer, the agent's tasks, notes, and the verdict line last.
 */
export function renderStatus(status: AgentStatus, nowMs: number, agentUrl?: string): string {
  const { lease, backend, etcd, subnetFile, traffic } = status;
  const out = [`flanneld status ${status.version}: ${origin(status, agentUrl)}`];
  const facts: [string, string][] = [
    [
      'lease',
      lease
        ? `${lease.subnet}${lease.ipv6Subnet ? ` ${lease.ipv6Subnet}` : ''} for ${lease.publicIp}, ${describeExpiry(lease, nowMs)}` +
          (lease.expiresAt ? ` (${lease.expiresAt})` : '')
        : 'none held',
    ],
    [
      'backend',
      backend
        ? [
            backend.type,
            backend.device ? `device ${backend.device}` : 'no device',
            backend.mtu ? `MTU ${backend.mtu}` : '',
            backend.data === undefined || backend.data === null ? '' : describeData(backend.data),
          ]
            .filter(Boolean)
            .join(', ')
        : 'unknown (no valid network config read)',
    ],
    [
      'etcd',
      `${etcd.reachable ? 'reachable' : 'UNREACHABLE'} (${etcd.endpoints.join(',')})` +
        (etcd.since ? ` since ${etcd.since}` : '') +
        (etcd.lastError ? `: ${etcd.lastError}` : ''),
    ],
    [
      'subnet file',
      `${subnetFile.path}${subnetFile.values ? `: ${describeData(subnetFile.values)}` : ' (not read)'}`,
    ],
    [
      'traffic',
      traffic.mode === 'off' ? 'off' : `${traffic.mode}, ${plural(countRules(traffic), 'rule')}`,
    ],
  ];
  out.push(...table(facts, ''));
  out.push(...traffic.rules.map((r) => `             ${r}`));
  out.push('', `peers (${status.peers.length}): ${describePeers(status.peers)}`);
  if (status.peers.length > 0) {
    const head = ['SUBNET', 'PUBLIC-IP', 'BACKEND', 'STATE', 'REASON'];
    const rows = status.peers.map((p) => [
      p.subnet + (p.ipv6Subnet ? ` ${p.ipv6Subnet}` : ''),
      p.publicIp || '-',
      p.backendType ?? '-',
      p.state,
      p.reason ?? '-',
    ]);
    out.push(...table([head, ...rows]));
  }
  const tasks = status.agent?.tasks ?? [];
  if (tasks.length > 0) {
    const rows = tasks.map((t) => [t.name, t.state, String(t.restarts), t.lastError ?? '-']);
    out.push('', 'tasks', ...table([['TASK', 'STATE', 'RESTARTS', 'LAST-ERROR'], ...rows]));
  }
  if (status.notes && status.notes.length > 0) {
    out.push('', 'notes', ...status.notes.map((n) => `  - ${n}`));
  }
  out.push('', statusVerdict(status, nowMs).line);
  return `${out.join('\n')}\n`;
}
