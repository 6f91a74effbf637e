import { readFile } from 'node:fs/promises';
import { errorMessage } from '@flannel-ts/core';
import { createIproute2Runner } from '@flannel-ts/backend';
import { createEtcdLeaseStore } from '@flannel-ts/subnet';
import type { LeaseStore } from '@flannel-ts/subnet';
import { FLANNELD_VERSION } from '../cli';
import type { Config } from '../config';
import { agentStatusUrl, fetchAgentStatus } from './status-agent-client';
import { parseStatusArgs } from './status-args';
import { collectDirectStatus } from './status-direct';
import type { AgentStatus } from './status-model';
import { renderStatus, statusVerdict } from './status-render';
import { createTrafficRulesReader } from './status-traffic';

/** How long the running agent gets to answer `GET /status`. */
const AGENT_TIMEOUT_MS = 2000;
/** Per etcd call when reading directly: an unreachable etcd is reported, not waited for. */
const ETCD_TIMEOUT_MS = 3000;

/** Where the status command writes; the process's streams unless a test passes its own. */
export interface StatusOutput {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

const processOutput: StatusOutput = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

async function readOptionalFile(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Reads etcd, the subnet file and the kernel itself, through the agent's own seams. */
async function readDirectly(config: Config, notes: readonly string[]): Promise<AgentStatus> {
  let store: LeaseStore | { error: string };
  try {
    store = await createEtcdLeaseStore({ ...config.etcd, callTimeoutMs: ETCD_TIMEOUT_MS });
  } catch (err) {
    store = { error: errorMessage(err) };
  }
  const ip = createIproute2Runner();
  try {
    const sources = { store, ip, traffic: createTrafficRulesReader(), readFile: readOptionalFile };
    const status = await collectDirectStatus(config, sources, FLANNELD_VERSION);
    return notes.length > 0 ? { ...status, notes: [...notes, ...(status.notes ?? [])] } : status;
  } finally {
    ip.close();
    if (!('error' in store)) await store.close();
  }
}

/**
 * `flanneld status [--json] [flanneld flags]`: asks the running agent on its health port for
 * `GET /status` when `--healthz-port` is set, and otherwise (or when nothing answers) reads etcd,
 * the subnet file and the kernel itself. Prints a table, or the status document with `--json`.
 * Resolves to the exit status: 0 when the agent is ready (read directly: etcd answers, our lease
 * exists and no valid peer is pending), 1 otherwise, 2 on a usage error.
 */
export async function runStatus(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  output: StatusOutput = processOutput,
): Promise<number> {
  const args = parseStatusArgs(argv, env);
  if (args.kind === 'exit') {
    if (args.stdout) output.stdout(args.stdout);
    if (args.stderr) output.stderr(args.stderr);
    return args.code;
  }
  const { config } = args;
  const notes: string[] = [];
  let status: AgentStatus | undefined;
  let agentUrl: string | undefined;
  let unanswered: string | undefined;
  if (config.healthz.port > 0) {
    const target = { healthzIp: config.healthz.ip, port: config.healthz.port };
    const answer = await fetchAgentStatus({ ...target, timeoutMs: AGENT_TIMEOUT_MS });
    if (answer.kind === 'status') {
      status = answer.status;
      agentUrl = answer.url;
    } else {
      const what = answer.kind === 'unreachable' ? 'no agent answered' : 'the agent answered';
      unanswered = `${agentStatusUrl(target)} (${answer.error})`;
      notes.push(
        `${what} at ${agentStatusUrl(target)} (${answer.error}); read etcd, the subnet file and the kernel directly`,
      );
    }
  } else {
    notes.push('--healthz-port is 0 (no agent to ask): read directly');
  }
  status ??= await readDirectly(config, notes);
  if (unanswered !== undefined) status = { ...status, unansweredAgent: unanswered };
  const now = Date.now();
  output.stdout(
    args.json ? `${JSON.stringify(status, null, 2)}\n` : renderStatus(status, now, agentUrl),
  );
  return statusVerdict(status, now).ok ? 0 : 1;
}
