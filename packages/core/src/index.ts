export { addressBits, formatIp, ipEquals, parseIp, parseIpv4 } from './ip';
export type { IpAddress, IpFamily } from './ip';
export {
  cidrContains,
  cidrContainsIp,
  cidrEquals,
  cidrIp,
  cidrLast,
  cidrNth,
  cidrSize,
  cidrsOverlap,
  formatCidr,
  makeCidr,
  parseCidr,
} from './cidr';
export type { Cidr } from './cidr';
export { formatSubnetKey, parseSubnetKey } from './subnet-key';
export type { SubnetPair } from './subnet-key';
export { jsonField } from './json-field';
export {
  NO_IPV4_SUBNET,
  decodeLeaseAttrs,
  encodeLeaseAttrs,
  isIpv6Only,
  isReservation,
  leaseHolder,
  sameSubnets,
} from './lease';
export type { DecodeResult, Lease, LeaseAttrs } from './lease';
export { FlannelError, dispositionOf, errorMessage } from './errors';
export type { Disposition } from './errors';
export { noopLogger } from './logger';
export type { LogFields, Logger } from './logger';
export { Backoff, isAbort, systemClock, Wakeup } from './clock';
export type { Clock } from './clock';
