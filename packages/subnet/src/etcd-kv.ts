import type { IKeyValue } from 'etcd3';
import { decodeLeaseAttrs, parseSubnetKey } from '@flannel-ts/core';
import type { StoredLease } from './lease-store';

/** Result of reading one key-value under the subnets prefix. @internal */
export type KvRead =
  | { readonly ok: true; readonly lease: StoredLease }
  | { readonly ok: false; readonly key: string; readonly reason: string };

/** Decodes an etcd key-value into a lease; undecodable ones are reported, never thrown. @internal */
export function toStoredLease(kv: IKeyValue): KvRead {
  const key = kv.key.toString();
  const subnets = parseSubnetKey(key);
  if (!subnets) return { ok: false, key, reason: 'key is not a subnet key such as 10.5.34.0-24' };
  const decoded = decodeLeaseAttrs(kv.value.toString());
  if (!decoded.ok) return { ok: false, key, reason: `value is not a lease: ${decoded.reason}` };
  return {
    ok: true,
    lease: {
      subnets,
      attrs: decoded.attrs,
      ttlLeaseId: String(kv.lease),
      modRevision: String(kv.mod_revision),
    },
  };
}
