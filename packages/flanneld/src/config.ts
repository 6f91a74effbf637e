import { CommanderError } from 'commander';
import { errorMessage, parseIp } from '@flannel-ts/core';
import { CHECKSUM_OFFLOAD_MODES } from '@flannel-ts/backend';
import type { ChecksumOffloadMode } from '@flannel-ts/backend';
import {
  createProgram,
  envName,
  FLAGS,
  flagLabel,
  FLANNELD_VERSION,
  GO_FLAG_SPEC,
  normalizeGoFlags,
  optionKey,
  parseFlagValue,
  usageText,
} from './cli';
import type { FlagDef, ResolvedValue } from './cli';

/** The agent's configuration after parsing and validation; deeply frozen. */
export interface Config {
  readonly etcd: {
    readonly endpoints: readonly string[];
    readonly prefix: string;
    readonly keyFile?: string;
    readonly certFile?: string;
    readonly caFile?: string;
    readonly username?: string;
    readonly password?: string;
  };
  readonly iface: readonly string[];
  readonly ifaceRegex: readonly string[];
  readonly ifaceCanReach?: string;
  readonly subnetFile: string;
  readonly publicIp?: string;
  readonly publicIpv6?: string;
  readonly renewMarginMinutes: number;
  readonly ipMasq: boolean;
  readonly ipMasqFullyRandomDisable: boolean;
  readonly iptablesResyncSeconds: number;
  readonly iptablesForwardRules: boolean;
  readonly ipBlackholeRoute: boolean;
  readonly healthz: { readonly ip: string; readonly port: number };
  readonly reconcileIntervalSeconds: number;
  /** Write mk-docker-opts output here after the subnet file (our addition). */
  readonly dockerOptsFile?: string;
  /** Merge dockerd bridge settings into this daemon.json after the subnet file (our addition). */
  readonly dockerDaemonJson?: string;
  readonly verbosity: number;
  readonly logFormat: 'text' | 'json';
  /** TX checksum offload on the VXLAN devices (our addition; see `checksumOffloadDecision`). */
  readonly vxlanChecksumOffload: ChecksumOffloadMode;
}

/** Outcome of {@link parseConfig}: run the agent, or print and exit with the given status. */
export type ParseResult =
  | {
      readonly kind: 'run';
      readonly config: Config;
      /** Settings accepted but not acted on, by name, for start-up warnings (never silent). */
      readonly warnings: readonly string[];
    }
  | {
      readonly kind: 'exit';
      readonly code: 0 | 2;
      readonly stdout?: string;
      readonly stderr?: string;
    };

/** Input of {@link parseConfig}: `process.argv.slice(2)` and `process.env`, passed in by main. */
export interface ConfigInput {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  /** What `--version` prints; defaults to {@link FLANNELD_VERSION}. */
  readonly version?: string;
}

/**
 * Turns a command line and environment into a validated, frozen {@link Config}, or into what to
 * print and the exit status. Pure: no I/O, no process.exit, so every path is unit-tested.
 * Order follows upstream (SPEC 3 steps 1-3): flags, then `--version`, then `FLANNELD_*` for flags
 * not given on the command line; every value and validation error is reported in one go.
 */
export function parseConfig(input: ConfigInput): ParseResult {
  const program = createProgram();
  const usage = usageText(program.helpInformation());
  let argv: string[];
  try {
    argv = normalizeGoFlags(input.argv, GO_FLAG_SPEC);
    if (argv.includes('--help')) return { kind: 'exit', code: 0, stdout: usage };
    program.parse(argv, { from: 'user' });
  } catch (err) {
    const message = err instanceof CommanderError ? err.message.replace(/^error: /, '') : err;
    return usageExit([errorMessage(message)], usage);
  }
  const opts = program.opts<Record<string, unknown>>();
  if (program.getOptionValueSource('version') === 'cli' && opts.version === 'true') {
    return { kind: 'exit', code: 0, stderr: `${input.version ?? FLANNELD_VERSION}\n` };
  }

  const errors: string[] = [];
  const values = new Map<string, ResolvedValue>();
  for (const def of FLAGS) {
    const resolved = resolve(
      def,
      program.getOptionValueSource(optionKey(def)) === 'cli',
      opts,
      input.env,
    );
    if (typeof resolved === 'string') errors.push(resolved);
    else values.set(def.name, resolved);
  }
  const result = validateConfig(values);
  errors.push(...result.errors);
  if (errors.length > 0 || result.config === undefined) return usageExit(errors, usage);
  return {
    kind: 'run',
    config: deepFreeze(result.config),
    warnings: unimplementedSettings(values, input.env),
  };
}

/**
 * What was set but will not be acted on, one sentence each naming it: upstream's klog flags, the
 * Kubernetes variables (the flags are refused outright; a variable may come from a shared unit
 * file, so it is warned about), and `FLANNELD_*` variables that name no flag (a typo, say).
 */
function unimplementedSettings(values: Values, env: ConfigInput['env']): string[] {
  const out: string[] = [];
  for (const def of FLAGS) {
    const v = values.get(def.name);
    if (!v || v.source === 'default') continue;
    if (def.ignored) {
      out.push(
        `${v.label} is accepted for compatibility with upstream's logging flags and ignored`,
      );
    } else if (def.kubernetes) {
      out.push(
        `${v.label} is ignored: flannel-ts runs in etcd mode only (Kubernetes mode is not supported)`,
      );
    }
  }
  const known = new Set(FLAGS.filter((f) => f.noEnv !== true).map(envName));
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('FLANNELD_') || known.has(name) || value === undefined) continue;
    out.push(
      `${name} is not a flanneld variable and is ignored (check its spelling; flags are listed by flanneld --help)`,
    );
  }
  return out.sort();
}

/**
 * The config as fields for the startup log line: every setting, with the etcd password replaced by
 * `<redacted>` (upstream logs it in clear; STYLE.md "do this, not that" 5).
 */
export function describeConfig(config: Config): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(config)) as { etcd: Record<string, unknown> };
  if (copy.etcd.password !== undefined) copy.etcd.password = '<redacted>';
  return copy;
}

function resolve(
  def: FlagDef,
  onCommandLine: boolean,
  opts: Record<string, unknown>,
  env: ConfigInput['env'],
): ResolvedValue | string {
  if (onCommandLine) {
    const raw = opts[optionKey(def)] as string | string[];
    return parseFlagValue(def, raw, flagLabel(def), 'cli');
  }
  const fromEnv = def.noEnv === true ? undefined : env[envName(def)];
  // Upstream skips empty variables, so FLANNELD_IFACE= behaves like an unset one.
  if (fromEnv !== undefined && fromEnv !== '') {
    return parseFlagValue(def, def.kind === 'list' ? [fromEnv] : fromEnv, envName(def), 'env');
  }
  return parseFlagValue(
    def,
    def.kind === 'list' ? [] : (def.defaultText ?? ''),
    `${flagLabel(def)} (default)`,
    'default',
  );
}

function usageExit(errors: readonly string[], usage: string): ParseResult {
  return { kind: 'exit', code: 2, stderr: `${errors.join('\n')}\n\n${usage}` };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

type Values = ReadonlyMap<string, ResolvedValue>;
type Check = (value: never) => string | undefined;

const ENDPOINT = /^https?:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/?$/;
const between = (min: number, max: number, unit: string) => (n: number) =>
  n >= min && n <= max ? undefined : `must be ${min}..${max}${unit}`;
const atLeast = (min: number, unit: string) => (n: number) =>
  n >= min ? undefined : `must be at least ${min}${unit}`;
const ipOf = (family: 4 | 6 | undefined) => (text: string) =>
  text === '' || (parseIp(text) !== undefined && (!family || parseIp(text)?.family === family))
    ? undefined
    : `not an ${family === undefined ? 'IP' : `IPv${family}`} address`;

/** Per-flag checks; each returns what is wrong with one value (a list is checked per entry). */
const CHECKS: Readonly<Record<string, Check>> = {
  'etcd-endpoints': (entry: string) => {
    const port = ENDPOINT.exec(entry)?.[2];
    return port !== undefined && Number(port) >= 1 && Number(port) <= 65535
      ? undefined
      : 'not an http:// or https:// URL with host and port (e.g. http://127.0.0.1:2379)';
  },
  iface: (name: string) => (name === '' ? 'empty interface name or address' : undefined),
  'iface-regex': (pattern: string) => {
    try {
      new RegExp(pattern);
      return undefined;
    } catch (err) {
      return `not a valid regular expression (${errorMessage(err)})`;
    }
  },
  'iface-can-reach': ipOf(undefined),
  'public-ip': ipOf(4),
  'public-ipv6': ipOf(6),
  'healthz-ip': (text: string) => (text === '' ? 'not an IP address' : ipOf(undefined)(text)),
  'subnet-file': (path: string) => (path === '' ? 'empty path' : undefined),
  // Upstream only says "out of acceptable range"; naming the range saves a trip to the source.
  'subnet-lease-renew-margin': between(1, 1439, ' minutes (the lease lasts 24 h)'),
  'iptables-resync': atLeast(1, ' second'),
  'healthz-port': between(0, 65535, ' (0 disables the health server)'),
  'reconcile-interval': atLeast(1, ' second'),
  v: atLeast(0, ' (log verbosity)'),
  'log-format': (f: string) => (f === 'text' || f === 'json' ? undefined : 'must be text or json'),
  'vxlan-checksum-offload': (m: string) =>
    (CHECKSUM_OFFLOAD_MODES as readonly string[]).includes(m)
      ? undefined
      : 'must be auto, on or off',
};

function validateConfig(values: Values): { errors: string[]; config?: Config } {
  const errors: string[] = [];
  for (const [name, check] of Object.entries(CHECKS)) {
    const resolved = values.get(name);
    if (resolved === undefined) continue;
    // Lists (and the comma-separated endpoints) are checked entry by entry.
    const entries =
      name === 'etcd-endpoints' ? splitList(resolved.value as string) : [resolved.value].flat();
    for (const entry of entries) {
      const problem = check(entry as never);
      if (problem !== undefined) {
        errors.push(`invalid value "${String(entry)}" for ${resolved.label}: ${problem}`);
      }
    }
  }
  errors.push(...crossChecks(values));
  if (errors.length > 0 || values.size !== FLAGS.length) return { errors };
  const str = (name: string): string => values.get(name)?.value as string;
  const opt = (name: string): string | undefined => (str(name) === '' ? undefined : str(name));
  const num = (name: string): number => values.get(name)?.value as number;
  const bool = (name: string): boolean => values.get(name)?.value as boolean;
  const list = (name: string): readonly string[] => values.get(name)?.value as string[];
  const config: Config = {
    etcd: {
      endpoints: splitList(str('etcd-endpoints')),
      prefix: str('etcd-prefix'),
      ...defined({
        keyFile: opt('etcd-keyfile'),
        certFile: opt('etcd-certfile'),
        caFile: opt('etcd-cafile'),
        username: opt('etcd-username'),
        password: opt('etcd-password'),
      }),
    },
    iface: list('iface'),
    ifaceRegex: list('iface-regex'),
    ...defined({
      ifaceCanReach: opt('iface-can-reach'),
      publicIp: opt('public-ip'),
      publicIpv6: opt('public-ipv6'),
      dockerOptsFile: opt('docker-opts-file'),
      dockerDaemonJson: opt('docker-daemon-json'),
    }),
    subnetFile: str('subnet-file'),
    renewMarginMinutes: num('subnet-lease-renew-margin'),
    ipMasq: bool('ip-masq'),
    ipMasqFullyRandomDisable: bool('ip-masq-fully-random-disable'),
    iptablesResyncSeconds: num('iptables-resync'),
    iptablesForwardRules: bool('iptables-forward-rules'),
    ipBlackholeRoute: bool('ip-blackhole-route'),
    healthz: { ip: str('healthz-ip'), port: num('healthz-port') },
    reconcileIntervalSeconds: num('reconcile-interval'),
    verbosity: num('v'),
    logFormat: str('log-format') as 'text' | 'json',
    vxlanChecksumOffload: str('vxlan-checksum-offload') as ChecksumOffloadMode,
  };
  return { errors, config };
}

/** Rules that involve more than one flag, or the Kubernetes flags we refuse. */
function crossChecks(values: Values): string[] {
  const errors: string[] = [];
  const cert = values.get('etcd-certfile')?.value;
  const key = values.get('etcd-keyfile')?.value;
  // Upstream warns and connects without a client certificate; a half-configured mTLS setup is
  // a mistake worth stopping for, not a reason to fall back to plaintext.
  if (cert !== undefined && key !== undefined && (cert === '') !== (key === '')) {
    errors.push('--etcd-certfile and --etcd-keyfile must be given together');
  }
  for (const def of FLAGS.filter((f) => f.kubernetes)) {
    const v = values.get(def.name);
    if (v?.source === 'cli' || (def.name === 'kube-subnet-mgr' && v?.value === true)) {
      errors.push(
        `${v.label}: Kubernetes mode is not supported; flannel-ts runs in etcd mode only ` +
          '(remove the Kubernetes flags and configure --etcd-endpoints)',
      );
    }
  }
  return errors;
}

function splitList(text: string): string[] {
  return text.split(',').map((s) => s.trim());
}

/** Drops undefined members, so optional Config fields are absent rather than undefined. */
function defined<T extends Record<string, string | undefined>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
