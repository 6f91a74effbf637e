import { formatCidr, makeCidr } from './cidr';
import type { Cidr } from './cidr';
import { formatIp, parseIp } from './ip';

/**
 * The subnets a lease key names: always an IPv4 subnet, plus an IPv6 one on dual-stack hosts. An
 * IPv6-only host's IPv4 part is `0.0.0.0/0` (NO_IPV4_SUBNET), as upstream writes it.
 */
export interface SubnetPair {
  readonly ipv4: Cidr;
  readonly ipv6?: Cidr | undefined;
}

// Port of flannel pkg/subnet/subnet.go subnetRegex: a suffix match, so a key read with any leading
// path still parses; the dots after the second octet match any character, as upstream's do.
const SUBNET_KEY = /(\d+\.\d+.\d+.\d+)-(\d+)(?:&([a-f\d:]+)-(\d+))?$/;

/**
 * Formats the key of a lease under `<prefix>/subnets/`: `10.5.34.0-24`, or
 * `10.12.13.0-24&fd00:12:13::-56` for dual stack (IPv6 in canonical compressed text).
 */
export function formatSubnetKey(subnets: SubnetPair): string {
  const v4 = `${formatIp({ family: 4, value: subnets.ipv4.address })}-${subnets.ipv4.prefixLength}`;
  if (!subnets.ipv6) return v4;
  const v6 = formatCidr(subnets.ipv6).replace('/', '-');
  return `${v4}&${v6}`;
}

/**
 * Parses a lease key (or any string ending in one). Returns undefined for keys upstream rejects:
 * a bad address, an IPv4 prefix over 31 or an IPv6 prefix over 127.
 */
export function parseSubnetKey(key: string): SubnetPair | undefined {
  const m = SUBNET_KEY.exec(key);
  if (!m) return undefined;
  const [, v4Text = '', v4Len = '', v6Text, v6Len] = m;
  const v4 = parseIp(v4Text);
  const len4 = Number(v4Len);
  if (v4?.family !== 4 || !(len4 <= 31)) return undefined;
  const ipv4 = makeCidr(4, v4.value, len4);
  if (v6Text === undefined || v6Text === '') return { ipv4 };
  const v6 = parseIp(v6Text);
  const len6 = Number(v6Len);
  if (v6?.family !== 6 || !(len6 <= 127)) return undefined;
  return { ipv4, ipv6: makeCidr(6, v6.value, len6) };
}
