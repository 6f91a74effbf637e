import type { IKeyValue } from 'etcd3';
import { describeRejection, readLeaseKeyValue } from './lease-validation';
import type { StoredLease } from './lease-store';

/**
 * Result of reading one key-value under the subnets prefix. `reason` is
 * `<field> <rule> (<detail>)` (see describeRejection), which the consumer reads back. @internal
 */
export type KvRead =
  | { readonly ok: true; readonly lease: StoredLease }
  | { readonly ok: false; readonly key: string; readonly reason: string };

/**
 * Decodes an etcd key-value into a lease; a key or value that cannot be a lease (malformed or
 * non-canonical key, oversized or undecodable value) is reported, never thrown. @internal
 */
export function toStoredLease(kv: IKeyValue): KvRead {
  const key = kv.key.toString();
  const r = readLeaseKeyValue(key, kv.value);
  if (!r.ok) return { ok: false, key, reason: describeRejection(r) };
  return {
    ok: true,
    lease: {
      subnets: r.subnets,
      attrs: r.attrs,
      ttlLeaseId: String(kv.lease),
      modRevision: String(kv.mod_revision),
    },
  };
}
