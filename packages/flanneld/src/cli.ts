import { Command, Option } from 'commander';
import { FlannelError } from '@flannel-ts/core';

/** What `flanneld --version` prints (on stderr, as upstream). Keep in step with package.json. */
export const FLANNELD_VERSION = 'v0.1.0';

/** How a flag's value is typed: Go `flag` kinds plus `list` for repeatable flags. */
export type FlagKind = 'string' | 'list' | 'bool' | 'int';

/** One command-line flag, named as upstream flanneld (Go `flag`) names it. */
export interface FlagDef {
  /** The Go flag name without dashes: `etcd-endpoints`, `v`, `log_backtrace_at`. */
  readonly name: string;
  readonly kind: FlagKind;
  /** Default in its textual form, parsed by the same code as command-line values. */
  readonly defaultText?: string;
  readonly help: string;
  /** Accepted for compatibility with Kubernetes deployments, then rejected (etcd mode only). */
  readonly kubernetes?: true;
  /** Accepted for compatibility with upstream's klog flags, otherwise ignored. */
  readonly ignored?: true;
  /** Not settable through the environment (upstream reads `--version` before env vars). */
  readonly noEnv?: true;
}

const flag = (name: string, kind: FlagKind, help: string, defaultText?: string): FlagDef =>
  defaultText === undefined ? { name, kind, help } : { name, kind, help, defaultText };

/**
 * Every flag flanneld accepts, in help order. Defaults are upstream's (SPEC 5.1) except for our own
 * additions `--reconcile-interval`, `--log-format`, `--docker-opts-file`, `--docker-daemon-json`
 * and `--vxlan-checksum-offload`.
 */
export const FLAGS: readonly FlagDef[] = [
  flag(
    'etcd-endpoints',
    'string',
    'comma-separated list of etcd endpoints',
    'http://127.0.0.1:4001,http://127.0.0.1:2379',
  ),
  flag('etcd-prefix', 'string', 'etcd key prefix of the network config', '/coreos.com/network'),
  flag('etcd-keyfile', 'string', 'TLS client key file for etcd', ''),
  flag('etcd-certfile', 'string', 'TLS client certificate file for etcd', ''),
  flag('etcd-cafile', 'string', 'CA bundle to verify the etcd server with', ''),
  flag('etcd-username', 'string', 'etcd user name (basic auth)', ''),
  flag('etcd-password', 'string', 'etcd password (basic auth)', ''),
  flag(
    'iface',
    'list',
    'interface (name or IP) for inter-host traffic; repeatable, tried in order',
  ),
  flag('iface-regex', 'list', 'regex matched against interface IPs, then names; repeatable'),
  flag('iface-can-reach', 'string', 'use the interface that routes to this IP', ''),
  flag('subnet-file', 'string', 'file to write the leased subnet to', '/run/flannel/subnet.env'),
  flag('public-ip', 'string', 'IPv4 address other hosts reach this one at', ''),
  flag('public-ipv6', 'string', 'IPv6 address other hosts reach this one at', ''),
  flag(
    'subnet-lease-renew-margin',
    'int',
    'minutes before expiry to renew the subnet lease (1..1439)',
    '60',
  ),
  flag('ip-masq', 'bool', 'masquerade traffic leaving the flannel network', 'false'),
  flag(
    'ip-masq-fully-random-disable',
    'bool',
    'do not use --random-fully in masquerade rules',
    'false',
  ),
  flag('iptables-resync', 'int', 'seconds between iptables rule checks', '5'),
  flag('iptables-forward-rules', 'bool', 'add FORWARD accept rules for the network', 'true'),
  flag('ip-blackhole-route', 'bool', 'keep a blackhole route for the own subnet', 'false'),
  flag('healthz-ip', 'string', 'address the health server listens on', '0.0.0.0'),
  flag('healthz-port', 'int', 'port of the health server (0 = disabled)', '0'),
  flag(
    'reconcile-interval',
    'int',
    'seconds between full data-plane passes (the safety net behind the kernel monitor)',
    '60',
  ),
  flag(
    'docker-opts-file',
    'string',
    'after the subnet file, also write dockerd options here (as mk-docker-opts.sh -f <subnet-file> -d <file>)',
    '',
  ),
  flag(
    'docker-daemon-json',
    'string',
    'after the subnet file, merge bip, mtu and ip-masq into this dockerd daemon.json',
    '',
  ),
  flag(
    'vxlan-checksum-offload',
    'string',
    'TX checksum offload on the VXLAN devices: auto (off on kernels that corrupt VXLAN checksums under masquerade), on, or off',
    'auto',
  ),
  flag('log-format', 'string', 'log format: text or json', 'text'),
  flag('v', 'int', 'log verbosity (10 = most detailed)', '0'),
  { ...flag('version', 'bool', 'print the version and exit', 'false'), noEnv: true },
  { ...flag('vmodule', 'string', 'accepted for compatibility; ignored', ''), ignored: true },
  {
    ...flag('log_backtrace_at', 'string', 'accepted for compatibility; ignored', ''),
    ignored: true,
  },
  ...(
    [
      ['kube-subnet-mgr', 'bool', 'false'],
      ['kube-api-url', 'string', ''],
      ['kube-annotation-prefix', 'string', 'flannel.alpha.coreos.com'],
      ['kubeconfig-file', 'string', ''],
      ['net-config-path', 'string', '/etc/kube-flannel/net-conf.json'],
      ['set-node-network-unavailable', 'bool', 'true'],
    ] as const
  ).map(([name, kind, def]): FlagDef => ({
    ...flag(name, kind, 'Kubernetes mode only: not supported', def),
    kubernetes: true,
  })),
];

/** Which Go flags are booleans (never consume the next argument) and which take a value. */
export type GoFlagSpec = ReadonlyMap<string, 'bool' | 'value'>;

/** The {@link GoFlagSpec} of {@link FLAGS}. */
export const GO_FLAG_SPEC: GoFlagSpec = new Map(
  FLAGS.map((f) => [f.name, f.kind === 'bool' ? 'bool' : 'value'] as const),
);

/** A command line that Go's `flag` package would reject; exit status 2 with usage. */
export class UsageError extends FlannelError {
  constructor(message: string) {
    super('CLI_USAGE', message);
  }
}

/** Go's strconv.ParseBool, which is what upstream applies to bool flags and their env vars. */
export function parseGoBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return undefined;
}

/**
 * Rewrites a Go `flag`-style command line (`-iface eth0`, `-etcd-endpoints=…`, `--ip-masq=false`,
 * `-v 10`) into the one spelling commander parses unambiguously: `--name=value` (`-v value` for
 * one-letter names) with bools always as `=true`/`=false`. Follows Go's flag.parseOne: `-x` and
 * `--x` are the same, bools never take the next argument, `--` ends the flags, `-h`/`-help` ask
 * for help (returned as `--help`). Unlike Go, which silently stops at the first non-flag and so
 * ignores everything after it, any positional argument is an error.
 * @throws UsageError with a one-line, Go-style message.
 */
export function normalizeGoFlags(argv: readonly string[], spec: GoFlagSpec): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      if (i + 1 < argv.length) throw positional(argv[i + 1] ?? '');
      break;
    }
    if (arg.length < 2 || !arg.startsWith('-')) throw positional(arg);
    const body = arg.slice(arg.startsWith('--') ? 2 : 1);
    if (body === '' || body.startsWith('-') || body.startsWith('=')) {
      throw new UsageError(`bad flag syntax: ${arg}`);
    }
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    if (name === 'h' || name === 'help') return ['--help'];
    const kind = spec.get(name);
    if (kind === undefined) throw new UsageError(`flag provided but not defined: -${name}`);
    let value: string;
    if (kind === 'bool') {
      const parsed = eq < 0 ? true : parseGoBool(body.slice(eq + 1));
      if (parsed === undefined) {
        throw new UsageError(`invalid boolean value "${body.slice(eq + 1)}" for -${name}`);
      }
      value = String(parsed);
    } else if (eq >= 0) {
      value = body.slice(eq + 1);
    } else if (i + 1 < argv.length) {
      // Go takes the next argument as the value even when it starts with a dash.
      value = argv[++i] ?? '';
    } else {
      throw new UsageError(`flag needs an argument: -${name}`);
    }
    out.push(...(name.length === 1 ? [`-${name}`, value] : [`--${name}=${value}`]));
  }
  return out;
}

function positional(arg: string): UsageError {
  return new UsageError(`unexpected argument "${arg}": flanneld takes flags only`);
}

/**
 * Builds the commander program for the normalized command line. Values stay strings (lists:
 * string arrays) and carry no commander defaults, so `getOptionValueSource(key) === 'cli'` means
 * "given on the command line"; typing, env vars and defaults are config.ts's job.
 */
export function createProgram(): Command {
  const program = new Command('flanneld')
    .usage('[OPTION]...')
    .description('flannel-ts: the flannel agent for etcd mode')
    .helpOption('-h, --help', 'show this help and exit')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  for (const def of FLAGS) program.addOption(toOption(def));
  return program;
}

/** How help and error messages spell a flag: `--iface`, but `-v` for one-letter names. */
export function flagLabel(def: FlagDef): string {
  return `${def.name.length === 1 ? '-' : '--'}${def.name}`;
}

/** The commander option key (attribute name) of a flag. */
export function optionKey(def: FlagDef): string {
  return toOption(def).attributeName();
}

/** Placeholders shown in the help, so `--iface <name|ip>` explains itself. */
const METAVARS: Readonly<Record<string, string>> = {
  'etcd-endpoints': 'urls',
  'etcd-prefix': 'prefix',
  'etcd-keyfile': 'file',
  'etcd-certfile': 'file',
  'etcd-cafile': 'file',
  'etcd-username': 'name',
  'etcd-password': 'password',
  iface: 'name|ip',
  'iface-regex': 'regex',
  'iface-can-reach': 'ip',
  'subnet-file': 'file',
  'public-ip': 'ipv4',
  'public-ipv6': 'ipv6',
  'subnet-lease-renew-margin': 'minutes',
  'iptables-resync': 'seconds',
  'healthz-ip': 'ip',
  'healthz-port': 'port',
  'reconcile-interval': 'seconds',
  'docker-opts-file': 'file',
  'docker-daemon-json': 'file',
  'log-format': 'text|json',
  'vxlan-checksum-offload': 'auto|on|off',
  v: 'level',
};

function toOption(def: FlagDef): Option {
  const arg = def.kind === 'bool' ? ' [bool]' : ` <${METAVARS[def.name] ?? 'value'}>`;
  const shown = def.defaultText === undefined || def.defaultText === '' ? '' : def.defaultText;
  const help = shown === '' ? def.help : `${def.help} (default: ${shown})`;
  const option = new Option(`${flagLabel(def)}${arg}`, help);
  if (def.kind === 'list') {
    option.argParser((value: string, previous: string[] | undefined) => [
      ...(previous ?? []),
      value,
    ]);
  }
  return option.hideHelp(def.kubernetes === true || def.ignored === true);
}

/** A flag's typed value and where it came from, so errors name the flag or the variable. */
export interface ResolvedValue {
  readonly value: string | readonly string[] | boolean | number;
  /** `--iface`, `FLANNELD_IFACE` or `--iface (default)`. */
  readonly label: string;
  readonly source: 'cli' | 'env' | 'default';
}

/** The environment variable upstream reads for a flag: `FLANNELD_` + upper snake case. */
export function envName(def: FlagDef): string {
  return `FLANNELD_${def.name.toUpperCase().replace(/-/g, '_')}`;
}

/**
 * Types one raw value (command line, environment or default) of a flag; returns the error text
 * when it does not parse, naming the flag or variable through `label`.
 */
export function parseFlagValue(
  def: FlagDef,
  raw: string | string[],
  label: string,
  source: ResolvedValue['source'],
): ResolvedValue | string {
  if (Array.isArray(raw) || def.kind === 'string' || def.kind === 'list') {
    return { value: raw, label, source };
  }
  if (def.kind === 'bool') {
    const value = parseGoBool(raw);
    if (value === undefined)
      return `invalid value "${raw}" for ${label}: not a boolean (true or false)`;
    return { value, label, source };
  }
  // Decimal integers only; Go would also take 0x10 or 1_000, which nobody writes in a unit file.
  if (!/^[+-]?\d{1,15}$/.test(raw)) return `invalid value "${raw}" for ${label}: not an integer`;
  return { value: Number(raw), label, source };
}

/** The help text: commander's option list plus how Go-style flags and env vars work. */
export function usageText(help: string): string {
  return (
    `${help}\n` +
    'Flags are written -flag or --flag, values as --flag=value or --flag value, booleans as\n' +
    '--flag or --flag=false. A flag not given on the command line is read from the environment\n' +
    'variable FLANNELD_<FLAG> (upper case, - as _), e.g. FLANNELD_ETCD_ENDPOINTS.\n'
  );
}
