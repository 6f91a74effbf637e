import type { Cidr, IpFamily } from '@flannel-ts/core';
import { addressBits, cidrContainsIp, cidrLast, errorMessage, formatIp } from '@flannel-ts/core';
import { jsonField, parseCidr, parseIp } from '@flannel-ts/core';

/** One address family's allocation range, with every default filled in. */
export interface SubnetRange {
  /** The whole flannel network, host bits masked. */
  readonly network: Cidr;
  readonly subnetLen: number;
  /** Network address of the first allocatable subnet. */
  readonly subnetMin: bigint;
  /** Network address of the last allocatable subnet (inclusive). */
  readonly subnetMax: bigint;
}

/** The `Backend` object: its type, and the object itself for the backend to read its options. */
export interface BackendConfig {
  /** Lower-cased, as upstream looks backends up. Whether it is supported is the caller's call. */
  readonly type: string;
  /** The whole Backend object as given; read options with `jsonField` (names are case-insensitive). */
  readonly options: Readonly<Record<string, unknown>>;
}

/** The validated network config stored at `<prefix>/config` (flannel `subnet.Config`). */
export interface NetworkConfig {
  /** Present iff EnableIPv4 (default true). */
  readonly ipv4?: SubnetRange | undefined;
  /** Present iff EnableIPv6 (default false). */
  readonly ipv6?: SubnetRange | undefined;
  readonly enableNftables: boolean;
  readonly backend: BackendConfig;
}

/** One problem with the config: which field, the value found there, and the rule it breaks. */
export interface ConfigIssue {
  readonly field: string;
  /** The value as found in the JSON; undefined when the field is absent. */
  readonly value: unknown;
  readonly rule: string;
}

/** Outcome of {@link parseNetworkConfig}: a config plus warnings, or every issue found. */
export type NetworkConfigResult =
  | { readonly ok: true; readonly config: NetworkConfig; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

// Upstream exits with "unknown backend type" for a Backend without a type; the hint says what to fix.
const NO_BACKEND_TYPE_RULE = 'unknown backend type: Backend.Type must name a backend';

/**
 * One line naming field, value and rule: `SubnetLen=31: SubnetLen must be less than /31`.
 * The value is rendered as JSON (strings quoted) and cut at 60 characters, so a stray secret or a
 * huge object cannot flood the log; an absent value is left out: `Network: please define …`.
 */
export function formatConfigIssue(issue: ConfigIssue): string {
  if (issue.value === undefined) return `${issue.field}: ${issue.rule}`;
  // Issues from JSON hold JSON values; a caller's own checks may add a bigint (an address).
  const bigintAsText = (_key: string, v: unknown): unknown =>
    typeof v === 'bigint' ? v.toString() : v;
  const json = JSON.stringify(issue.value, bigintAsText) ?? typeof issue.value;
  const shown = json.length > 60 ? `${json.slice(0, 59)}…` : json;
  return `${issue.field}=${shown}: ${issue.rule}`;
}

// Field names and upstream messages per family. The range and boundary messages follow one pattern
// in both families and are built from the field names; these three differ in wording, so they are
// spelled out (verbatim from flannel pkg/subnet/config.go CheckNetworkConfig).
interface Family {
  readonly family: IpFamily;
  readonly network: string;
  readonly subnetLen: string;
  readonly subnetMin: string;
  readonly subnetMax: string;
  /** Given to each host when the network is wide enough to hold four such subnets. */
  readonly defaultSubnetLen: number;
  readonly emptyRule: string;
  readonly lenTooLongRule: string;
  readonly tooSmallRule: string;
  readonly cidrExample: string;
  readonly ipExample: string;
}

const IPV4: Family = {
  family: 4,
  network: 'Network',
  subnetLen: 'SubnetLen',
  subnetMin: 'SubnetMin',
  subnetMax: 'SubnetMax',
  defaultSubnetLen: 24,
  emptyRule: 'please define a correct Network parameter in the flannel config',
  lenTooLongRule: 'SubnetLen must be less than /31',
  tooSmallRule: 'network is too small. Minimum useful network prefix is /28',
  cidrExample: '10.5.0.0/16',
  ipExample: '10.5.1.0',
};

const IPV6: Family = {
  family: 6,
  network: 'IPv6Network',
  subnetLen: 'IPv6SubnetLen',
  subnetMin: 'IPv6SubnetMin',
  subnetMax: 'IPv6SubnetMax',
  defaultSubnetLen: 64,
  emptyRule: 'please define a correct IPv6Network parameter in the flannel config',
  lenTooLongRule: 'SubnetLen must be less than /127',
  tooSmallRule: 'IPv6Network is too small. Minimum useful network prefix is /124',
  cidrExample: 'fd00:5::/48',
  ipExample: 'fd00:5:0:1::',
};

const FOUR_SUBNETS_RULE = 'network must be able to accommodate at least four subnets';

type Obj = Readonly<Record<string, unknown>>;

/** Collects issues; `read` gives a field's value with JSON null as absent (Go keeps the default). */
class Issues {
  readonly list: ConfigIssue[] = [];
  constructor(readonly obj: Obj) {}
  add(field: string, value: unknown, rule: string): void {
    this.list.push({ field, value, rule });
  }
  read(name: string): unknown {
    const value = jsonField(this.obj, name);
    return value === null ? undefined : value;
  }
}

/**
 * Parses and validates the network config JSON (port of flannel pkg/subnet/config.go ParseConfig +
 * CheckNetworkConfig). Pure. Unlike upstream, which stops at the first error, it reports every issue
 * (SPEC D6), skipping checks that an earlier issue makes meaningless.
 *
 * A value Go's decoder cannot read at all (wrong JSON type, text that is no address) is an issue even
 * when its family is disabled, as upstream rejects it too; range rules apply to enabled families only.
 * `null` counts as absent for every field except `Backend`, where SPEC 1.2 says it means type "".
 */
export function parseNetworkConfig(text: string): NetworkConfigResult {
  const parsed = parseObject(text);
  if (!('obj' in parsed)) return { ok: false, issues: [parsed] };
  const issues = new Issues(parsed.obj);
  const warnings: string[] = [];
  const readBool = (name: string, fallback: boolean): boolean => {
    const value = issues.read(name);
    if (value === undefined || typeof value === 'boolean') return value ?? fallback;
    issues.add(name, value, 'must be true or false');
    return fallback;
  };
  const enableIpv4 = readBool('EnableIPv4', true);
  const enableIpv6 = readBool('EnableIPv6', false);
  const enableNftables = readBool('EnableNFTables', false);
  if (!enableIpv4 && !enableIpv6) issues.add('EnableIPv4/EnableIPv6', false, 'none defined stack');
  const ipv4 = parseRange(issues, IPV4, enableIpv4, warnings);
  const ipv6 = parseRange(issues, IPV6, enableIpv6, warnings);
  const backend = parseBackend(issues, warnings);
  warnings.push(...unknownFields(parsed.obj));
  if (issues.list.length > 0 || !backend) return { ok: false, issues: issues.list };
  return { ok: true, config: { ipv4, ipv6, enableNftables, backend }, warnings };
}

/** Every top-level field upstream's config has (SPEC 1.2), in Go's spelling. */
const CONFIG_FIELDS = [
  'Network',
  'SubnetMin',
  'SubnetMax',
  'SubnetLen',
  'EnableIPv4',
  'EnableIPv6',
  'IPv6Network',
  'IPv6SubnetMin',
  'IPv6SubnetMax',
  'IPv6SubnetLen',
  'EnableNFTables',
  'Backend',
];

/** A warning per field that no code reads (a typo, or a field of another tool), never silent. */
function unknownFields(obj: Obj): string[] {
  // Known as Go's decoder knows them (jsonField's case folding), so nothing read is warned about.
  return Object.keys(obj)
    .filter((k) => !CONFIG_FIELDS.some((f) => jsonField({ [k]: true }, f) !== undefined))
    .map(
      (k) =>
        `${k} is not a field of the flannel network config; it is ignored (check its spelling)`,
    );
}

function parseObject(text: string): { obj: Obj } | ConfigIssue {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { field: '(config)', value: undefined, rule: `not valid JSON (${errorMessage(err)})` };
  }
  if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
    return { obj: parsed as Obj };
  }
  const kind = Array.isArray(parsed) ? 'an array' : parsed === null ? 'null' : typeof parsed;
  return { field: '(config)', value: undefined, rule: `must be a JSON object, not ${kind}` };
}

// The readers return undefined for "absent" and null for "unreadable, issue already reported". A
// value of the other family is unreadable only while this family is enabled: otherwise it is unused.
function readNetwork(issues: Issues, f: Family, enabled: boolean): Cidr | undefined | null {
  const value = issues.read(f.network);
  if (value === undefined) return undefined;
  const expected = `IPv${f.family} CIDR string such as ${f.cidrExample}`;
  if (typeof value !== 'string') {
    issues.add(f.network, value, `must be an ${expected}`);
    return null;
  }
  const cidr = parseCidr(value);
  if (cidr !== undefined && (!enabled || cidr.family === f.family)) {
    return cidr.family === f.family ? cidr : undefined;
  }
  issues.add(f.network, value, `${f.emptyRule}: expected an ${expected}`);
  return null;
}

function readSubnetLen(issues: Issues, f: Family): number | null {
  const value = issues.read(f.subnetLen);
  if (value === undefined) return 0; // Go's zero value: "unset, pick the default"
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  issues.add(f.subnetLen, value, 'must be a non-negative integer');
  return null;
}

function readAddress(issues: Issues, name: string, f: Family, enabled: boolean): bigint | null {
  const value = issues.read(name);
  if (value === undefined) return 0n; // Go's zero value; the all-zeros address also means "unset"
  const ip = typeof value === 'string' ? parseIp(value) : undefined;
  if (ip !== undefined && (!enabled || ip.family === f.family)) {
    return ip.family === f.family ? ip.value : 0n;
  }
  issues.add(name, value, `must be an IPv${f.family} address string such as ${f.ipExample}`);
  return null;
}

/** SubnetLen as given or defaulted, or undefined after reporting why there is none. */
function subnetLenFor(
  issues: Issues,
  f: Family,
  network: Cidr,
  len: number | null,
): number | undefined {
  const prefix = network.prefixLength;
  const bits = addressBits(f.family);
  if (len === null) return undefined;
  if (len === 0) {
    // Four subnets of at least four addresses each (/30, /126) need a network of /28 (/124).
    if (prefix > bits - 4) issues.add(f.network, issues.read(f.network), f.tooSmallRule);
    else if (prefix <= f.defaultSubnetLen - 2) return f.defaultSubnetLen;
    else return prefix + 2; // too narrow for the default: split it in four
    return undefined;
  }
  // Each subnet must hold a tunnel and a bridge address, and the network at least four subnets
  // (the first one is never handed out).
  if (len > bits - 2) issues.add(f.subnetLen, len, f.lenTooLongRule);
  if (len < prefix + 2) issues.add(f.subnetLen, len, FOUR_SUBNETS_RULE);
  return len <= bits - 2 && len >= prefix + 2 ? len : undefined;
}

function parseRange(
  issues: Issues,
  f: Family,
  enabled: boolean,
  warnings: string[],
): SubnetRange | undefined {
  const before = issues.list.length;
  const network = readNetwork(issues, f, enabled);
  const len = readSubnetLen(issues, f);
  const min = readAddress(issues, f.subnetMin, f, enabled);
  const max = readAddress(issues, f.subnetMax, f, enabled);
  if (!enabled || network === null) return undefined;
  // Go's IPNet.Empty(): an absent Network and 0.0.0.0/0 (or ::/0) are both "not defined".
  if (network === undefined || (network.address === 0n && network.prefixLength === 0)) {
    issues.add(f.network, issues.read(f.network), f.emptyRule);
    return undefined;
  }
  const subnetLen = subnetLenFor(issues, f, network, len);
  // Without a valid SubnetLen there are no defaults and no alignment, but the range can be checked.
  const size =
    subnetLen === undefined ? undefined : 1n << BigInt(addressBits(f.family) - subnetLen);
  const bound = (name: string, value: bigint | null, fallback: bigint): bigint | undefined => {
    if (value === null) return undefined;
    if (value === 0n) return size === undefined ? undefined : fallback;
    if (!cidrContainsIp(network, { family: f.family, value })) {
      issues.add(name, issues.read(name), `${name} is not in the range of the ${f.network}`);
    }
    if (size !== undefined && value % size !== 0n) {
      const ip = formatIp({ family: f.family, value });
      issues.add(name, issues.read(name), `${name} is not on a SubnetLen boundary: ${ip}`);
    }
    return value;
  };
  // Upstream skips the first subnet (it holds the network address) and ends at the last one.
  const subnetMin = bound(f.subnetMin, min, network.address + (size ?? 0n));
  const subnetMax = bound(f.subnetMax, max, cidrLast(network) + 1n - (size ?? 0n));
  if (issues.list.length > before || subnetLen === undefined) return undefined;
  if (subnetMin === undefined || subnetMax === undefined) return undefined;
  if (subnetMin > subnetMax) {
    warnings.push(`${f.subnetMin} is above ${f.subnetMax}: no subnet can be allocated`);
  }
  return { network, subnetLen, subnetMin, subnetMax };
}

function parseBackend(issues: Issues, warnings: string[]): BackendConfig | undefined {
  const value = jsonField(issues.obj, 'Backend');
  if (value === undefined) {
    warnings.push('Backend is not set: using vxlan (upstream flanneld would pick udp)');
    return { type: 'vxlan', options: {} };
  }
  if (value !== null && (typeof value !== 'object' || Array.isArray(value))) {
    issues.add('Backend', value, 'must be a JSON object such as {"Type":"vxlan"}');
    return undefined;
  }
  const options = (value ?? {}) as Obj;
  const type = jsonField(options, 'Type');
  if (typeof type === 'string' && type !== '') return { type: type.toLowerCase(), options };
  if (type === undefined || type === null || type === '') {
    issues.add('Backend.Type', '', NO_BACKEND_TYPE_RULE);
  } else issues.add('Backend.Type', type, 'must be a string such as "vxlan"');
  return undefined;
}
