import { cidrEquals } from './cidr';
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

function isEmptyBackendData(value: unknown): boolean {
  return value === undefined || value === null || value === '';
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
  return JSON.stringify(out);
}

/** Why a lease value could not be decoded. */
export type DecodeResult = { ok: true; attrs: LeaseAttrs } | { ok: false; reason: string };

function optionalIp(value: unknown, family: 4 | 6, name: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new Error(`${name} is not a string`);
  const ip = parseIp(value);
  if (ip?.family !== family)
    throw new Error(`${name} ${JSON.stringify(value)} is not an IPv${family} address`);
  return formatIp(ip);
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
    return { ok: false, reason: `not JSON (${(err as Error).message})` };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { ok: false, reason: 'not a JSON object' };
  }
  const obj = parsed as Record<string, unknown>;
  try {
    const backendType = jsonField(obj, 'BackendType');
    if (backendType !== undefined && backendType !== null && typeof backendType !== 'string') {
      throw new Error('BackendType is not a string');
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
    return { ok: false, reason: (err as Error).message };
  }
}
