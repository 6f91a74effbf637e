import { cidrEquals, makeCidr } from './cidr';
import type { Cidr } from './cidr';
import { formatIp, parseIp } from './ip';
import { jsonField } from './json-field';
import type { SubnetPair } from './subnet-key';

/**
 * What a host publishes about itself in its lease value (flannel `LeaseAttrs`). Backend data is kept
 * as parsed JSON; `undefined` means "absent" (omitted from the value, as Go's omitempty does).
 */
export interface LeaseAttrs {
  /** Dotted IPv4 public address; `0.0.0.0` when unset. */
  readonly publicIp: string;
  /** IPv6 public address, or null (serialised as `"PublicIPv6":null`, always present). */
  readonly publicIpv6: string | null;
  readonly backendType?: string | undefined;
  readonly backendData?: unknown;
  readonly backendV6Data?: unknown;
}

/**
 * A lease as read from or written to the store. `etcdLeaseId` 0 means the key carries no TTL:
 * a reservation (SPEC D3), which is honoured and never renewed.
 */
export interface Lease {
  readonly subnets: SubnetPair;
  readonly attrs: LeaseAttrs;
  /** The store's lease id holding the key's TTL, as a decimal string; '0' for a reservation. */
  readonly ttlLeaseId: string;
}

/** True when the lease key has no TTL, i.e. an administrator's reservation. */
export function isReservation(lease: Lease): boolean {
  return lease.ttlLeaseId === '0';
}

/** True when two leases name the same subnets. */
export function sameSubnets(a: SubnetPair, b: SubnetPair): boolean {
  const v6Same =
    a.ipv6 === undefined || b.ipv6 === undefined ? a.ipv6 === b.ipv6 : cidrEquals(a.ipv6, b.ipv6);
  return cidrEquals(a.ipv4, b.ipv4) && v6Same;
}

/**
 * The IPv4 half of an IPv6-only lease key, `0.0.0.0-0`: upstream etcd mode always writes an IPv4
 * part, and with `EnableIPv4: false` its IPv4 range is all zero (flannel
 * pkg/subnet/etcd/local_manager.go allocateSubnet), so its key is `0.0.0.0-0&<ipv6>-<len>`.
 */
export const NO_IPV4_SUBNET: Cidr = makeCidr(4, 0n, 0);

/** True when a lease key names no IPv4 subnet (an IPv6-only lease, {@link NO_IPV4_SUBNET}). */
export function isIpv6Only(subnets: SubnetPair): boolean {
  return subnets.ipv4.prefixLength === 0 && subnets.ipv4.address === 0n && !!subnets.ipv6;
}

/**
 * The address that tells whose lease this is: `PublicIP`, except on an IPv6-only host, whose
 * `PublicIP` is `0.0.0.0` like every other IPv6-only host's (upstream writes the zero IPv4
 * address there), so its `PublicIPv6` is used instead. Upstream matches `PublicIP` alone, which is
 * why only one IPv6-only upstream host can find its own lease again.
 */
export function leaseHolder(attrs: Pick<LeaseAttrs, 'publicIp' | 'publicIpv6'>): string {
  return attrs.publicIp === '0.0.0.0' && attrs.publicIpv6 !== null
    ? attrs.publicIpv6
    : attrs.publicIp;
}

/**
 * Go omits a `json.RawMessage` field with `omitempty` only when it holds no bytes, i.e. when the
 * field was absent: `""` and `null` are values (two and four bytes) and are written back.
 */
function isEmptyBackendData(value: unknown): boolean {
  return value === undefined;
}

/**
 * `JSON.stringify` as Go's encoding/json writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped as
 * `\u003c`… (Go escapes them for HTML safety; they only ever occur inside strings).
 */
function goJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * Serialises attributes exactly as upstream flanneld does: compact JSON, keys in the order
 * PublicIP, PublicIPv6 (null when unset, never omitted), BackendType, BackendData, BackendV6Data,
 * the last three omitted when empty. Port of flannel pkg/lease LeaseAttrs JSON tags.
 */
export function encodeLeaseAttrs(attrs: LeaseAttrs): string {
  const out: Record<string, unknown> = { PublicIP: attrs.publicIp, PublicIPv6: attrs.publicIpv6 };
  if (attrs.backendType) out['BackendType'] = attrs.backendType;
  if (!isEmptyBackendData(attrs.backendData)) out['BackendData'] = attrs.backendData;
  if (!isEmptyBackendData(attrs.backendV6Data)) out['BackendV6Data'] = attrs.backendV6Data;
  return goJson(out);
}

/**
 * A decoded lease value, or why it could not be decoded: the field at fault (`value` for the whole
 * value), the rule it breaks (a fixed text) and the specifics; `reason` is all three in one line.
 */
export type DecodeResult =
  | { ok: true; attrs: LeaseAttrs }
  | { ok: false; field: string; rule: string; detail?: string; reason: string };

class FieldError extends Error {
  constructor(
    readonly field: string,
    readonly rule: string,
    readonly detail?: string,
    message = `${field} ${rule}`,
  ) {
    super(message);
  }
}

/** A value as a short JSON text for messages (a hostile value cannot flood the log). */
function shown(value: unknown): string {
  const json = JSON.stringify(value) ?? typeof value;
  return json.length > 60 ? `${json.slice(0, 59)}…` : json;
}

function optionalIp(value: unknown, family: 4 | 6, name: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new FieldError(name, 'is not a string', shown(value));
  const ip = parseIp(value);
  if (ip?.family !== family) {
    const rule = `is not an IPv${family} address`;
    throw new FieldError(name, rule, shown(value), `${name} ${shown(value)} ${rule}`);
  }
  return formatIp(ip);
}

function failure(e: FieldError): DecodeResult {
  const out = { ok: false as const, field: e.field, rule: e.rule, reason: e.message };
  return e.detail === undefined ? out : { ...out, detail: e.detail };
}

/**
 * Decodes a lease value. Unknown fields are ignored; a value that is not a JSON object or has a
 * malformed address is reported so the caller can skip the lease with a warning.
 */
export function decodeLeaseAttrs(text: string): DecodeResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    const detail = (err as Error).message;
    return failure(new FieldError('value', 'is not JSON', detail, `not JSON (${detail})`));
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    const e = new FieldError('value', 'is not a JSON object', shown(parsed), 'not a JSON object');
    return failure(e);
  }
  const obj = parsed as Record<string, unknown>;
  try {
    const backendType = jsonField(obj, 'BackendType');
    if (backendType !== undefined && backendType !== null && typeof backendType !== 'string') {
      throw new FieldError('BackendType', 'is not a string', shown(backendType));
    }
    return {
      ok: true,
      attrs: {
        publicIp: optionalIp(jsonField(obj, 'PublicIP'), 4, 'PublicIP') ?? '0.0.0.0',
        publicIpv6: optionalIp(jsonField(obj, 'PublicIPv6'), 6, 'PublicIPv6'),
        backendType: backendType ?? undefined,
        backendData: jsonField(obj, 'BackendData') ?? undefined,
        backendV6Data: jsonField(obj, 'BackendV6Data') ?? undefined,
      },
    };
  } catch (err) {
    if (err instanceof FieldError) return failure(err);
    throw err;
  }
}
