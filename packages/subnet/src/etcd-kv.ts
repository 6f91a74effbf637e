import type { IKeyValue } from 'etcd3';
import { readLeaseKeyValue } from './lease-validation';
import type { SkippedKey, StoredLease } from './lease-store';

/** Result of reading one key-value under the subnets prefix. @internal */
export type KvRead =
  { readonly ok: true; readonly lease: StoredLease } | ({ readonly ok: false } & SkippedKey);

/**
 * Decodes an etcd key-value into a lease; a key or value that cannot be a lease (malformed or
 * non-canonical key, oversized or undecodable value) is reported, never thrown. @internal
 */
export function toStoredLease(kv: IKeyValue): KvRead {
  const key = kv.key.toString();
  const r = readLeaseKeyValue(key, kv.value);
  if (!r.ok) return { ok: false, key, field: r.field, rule: r.rule, detail: r.detail };
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

/** The skipped key of a failed read (without the `ok` tag). @internal */
export function skippedKey({ key, field, rule, detail }: SkippedKey): SkippedKey {
  return { key, field, rule, detail };
}
