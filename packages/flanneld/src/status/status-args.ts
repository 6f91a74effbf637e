import { GO_FLAG_SPEC, parseGoBool } from '../cli';
import { parseConfig } from '../config';
import type { Config } from '../config';

/** What `flanneld status` was asked to do: report (as a table or JSON), or print and exit. */
export type StatusArgs =
  | { readonly kind: 'run'; readonly json: boolean; readonly config: Config }
  | {
      readonly kind: 'exit';
      readonly code: 0 | 2;
      readonly stdout?: string;
      readonly stderr?: string;
    };

/** The help of `flanneld status`. */
export const STATUS_USAGE = `Usage: flanneld status [--json] [flanneld flags]

What this host's flannel agent is doing: its subnet lease and when it expires, the backend and
its device, every peer (public IP, subnet, programmed or why not), the traffic rules in place
and whether etcd answers.

It asks the running agent at --healthz-ip:--healthz-port (GET /status; 0.0.0.0 is asked on
127.0.0.1) when the port is set, and otherwise (or when no agent answers within 2 s) reads etcd,
the subnet file and the kernel itself, with the same flags and FLANNELD_* variables as the
daemon: run it with the unit's environment (e.g. set -a; . /etc/default/flanneld; set +a).

  --json    print the status as JSON (the agent's /status document) instead of a table

Exit status: 0 when the agent is ready (read directly: our lease exists, etcd answers and every
valid peer is programmed), 1 otherwise, 2 on a usage error.
`;

/**
 * Parses `flanneld status` arguments: `--json` (Go-style, so `-json` and `--json=false` work too)
 * plus every daemon flag, read with the daemon's own parser and FLANNELD_* variables, so the
 * status command sees the same etcd, subnet file and health port as the agent. Pure.
 */
export function parseStatusArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): StatusArgs {
  let json = false;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const m = /^--?json(?:=(.*))?$/.exec(arg);
    if (m) {
      const value = m[1] === undefined ? true : parseGoBool(m[1]);
      if (value === undefined) return usage(`invalid boolean value "${m[1]}" for -json`);
      json = value;
      continue;
    }
    if (/^--?(h|help)$/.test(arg)) return { kind: 'exit', code: 0, stdout: STATUS_USAGE };
    rest.push(arg);
    // A daemon flag that takes a value consumes the next argument (Go's rule), even `--json`.
    const name = /^--?([^=]+)$/.exec(arg)?.[1];
    if (name !== undefined && GO_FLAG_SPEC.get(name) === 'value' && i + 1 < argv.length) {
      rest.push(argv[++i] ?? '');
    }
  }
  const parsed = parseConfig({ argv: rest, env });
  if (parsed.kind === 'run') return { kind: 'run', json, config: parsed.config };
  if (parsed.code === 0) return parsed;
  // The daemon's errors, but with the status command's usage instead of the daemon's.
  const errors = (parsed.stderr ?? '').split('\n\n')[0] ?? '';
  return usage(errors);
}

function usage(error: string): StatusArgs {
  return { kind: 'exit', code: 2, stderr: `flanneld status: ${error.trim()}\n\n${STATUS_USAGE}` };
}
