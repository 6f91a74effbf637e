import type { IpFamily, Lease } from '@flannel-ts/core';
import { formatCidr, formatIp, jsonField } from '@flannel-ts/core';
import type { RouteEntry, WgPeerEntry } from '../kernel-state';
import { joinAllowedIps } from '../kernel/wg-peer-runner';
import { joinFamilies, peerSide } from '../peer-entries';
import type { PeerEntries, PeerSide } from '../peer-entries';
import type { WireguardMode } from './wireguard-options';
import { isWgKey } from './wireguard-options';

/** One of our WireGuard devices: its name, listen port and the families it carries. */
export interface WgDeviceTopology {
  readonly name: string;
  readonly port: number;
  readonly families: readonly IpFamily[];
}

/** Where and how the wireguard backend programs peers. */
export interface WireguardTopology {
  readonly mode: WireguardMode;
  /** `separate`: one device per family; the other modes: one device for both. */
  readonly devices: readonly WgDeviceTopology[];
  readonly keepaliveSeconds: number;
  /** {@link pskFingerprint} of the `PSK` option ('' for none). */
  readonly psk: string;
  /** Our own public addresses (for `auto`'s choice of a peer's endpoint). */
  readonly ownPublicIp?: string | undefined;
  readonly ownPublicIpv6?: string | undefined;
}

/** The peer's `{PublicKey, Port}` of one family, or why it has none usable. */
function wgData(side: PeerSide): { publicKey: string; port: number } | { skip: string } {
  const data = side.backendData;
  if (typeof data !== 'object' || data === null)
    return { skip: `its lease has no ${side.dataField}` };
  const key = jsonField(data as Record<string, unknown>, 'PublicKey');
  if (typeof key !== 'string' || !isWgKey(key)) {
    return { skip: `its ${side.dataField}.PublicKey is not a WireGuard key` };
  }
  const port = jsonField(data as Record<string, unknown>, 'Port');
  return { publicKey: key, port: typeof port === 'number' && Number.isInteger(port) ? port : 0 };
}

const endpointOf = (family: IpFamily, ip: string, port: number): string =>
  family === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;

/** The route to a peer's subnet through our device (its subnet address as an onlink gateway). */
function routeTo(side: PeerSide, dev: string): RouteEntry {
  const gateway = formatIp({ family: side.family, value: side.subnet.address });
  return { dst: formatCidr(side.subnet), gateway, dev, onlink: true };
}

/** Go's `IsPrivate` (RFC 1918, RFC 4193). */
export function isPrivateIp(ip: string): boolean {
  if (ip.includes(':')) return /^f[cd]/i.test(ip);
  const [a, b] = ip.split('.').map(Number) as [number, number];
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
}

/**
 * `auto`'s endpoint family for a peer (port of upstream wireguard_network.go selectMode): IPv4
 * unless the peer has no public IPv4 worth using (a private one) while its IPv6 and ours are
 * public; a peer without IPv6 always gets IPv4.
 */
export function autoFamily(peer: Lease, topo: WireguardTopology): IpFamily {
  const v6 = peer.attrs.publicIpv6;
  if (!v6) return 4;
  if (!isPrivateIp(peer.attrs.publicIp) && topo.ownPublicIp !== undefined) return 4;
  const own6 = topo.ownPublicIpv6;
  return !isPrivateIp(v6) && own6 !== undefined && !isPrivateIp(own6) ? 6 : 4;
}

/** One family on its own device (`separate`). */
function separateEntries(p: Lease, dev: WgDeviceTopology, topo: WireguardTopology): PeerEntries {
  const family = dev.families[0] ?? 4;
  const side = peerSide(p, family);
  if ('skip' in side) return side;
  const data = wgData(side);
  if ('skip' in data) return data;
  const peer: WgPeerEntry = {
    dev: dev.name,
    publicKey: data.publicKey,
    // A lease without a port (older flannel) means our own listen port, as upstream does.
    endpoint: endpointOf(family, side.publicIp, data.port || dev.port),
    allowedIps: formatCidr(side.subnet),
    keepalive: topo.keepaliveSeconds,
    psk: topo.psk,
  };
  return { wgPeers: [peer], routes: [routeTo(side, dev.name)] };
}

/** Both families on one device (`auto`, `ipv4`, `ipv6`). */
function sharedEntries(p: Lease, dev: WgDeviceTopology, topo: WireguardTopology): PeerEntries {
  const sides: PeerSide[] = [];
  const left: string[] = [];
  for (const f of dev.families) {
    const side = peerSide(p, f);
    if ('skip' in side) left.push(`IPv${f}: ${side.skip}`);
    else sides.push(side);
  }
  if (sides.length === 0) return { skip: left.join('; ') };
  // Upstream takes the key of the last family it decodes (IPv6's when both).
  const keyed = [...sides].reverse().map(wgData);
  const data = keyed.find((d) => !('skip' in d));
  if (!data || 'skip' in data) return keyed[0] as { skip: string };
  const family: IpFamily =
    topo.mode === 'ipv6' ? 6 : topo.mode === 'ipv4' ? 4 : autoFamily(p, topo);
  const endpointSide = peerSide(p, family);
  if ('skip' in endpointSide) return { skip: `Mode ${topo.mode}: ${endpointSide.skip}` };
  const portData = wgData(endpointSide);
  const port = ('skip' in portData ? 0 : portData.port) || dev.port;
  const peer: WgPeerEntry = {
    dev: dev.name,
    publicKey: data.publicKey,
    endpoint: endpointOf(family, endpointSide.publicIp, port),
    allowedIps: joinAllowedIps(sides.map((s) => formatCidr(s.subnet))),
    keepalive: topo.keepaliveSeconds,
    psk: topo.psk,
  };
  const routes = sides.map((s) => routeTo(s, dev.name));
  return left.length > 0
    ? { wgPeers: [peer], routes, partial: left.join('; ') }
    : { wgPeers: [peer], routes };
}

/**
 * What one peer needs (pure): per device, a WireGuard peer (its public key, the endpoint of its
 * public address and port, its subnet(s) as allowed IPs, our keepalive and preshared key) and a
 * route to each of its subnets through the device. A peer whose lease lacks what a family needs
 * is left out of that family, with the reason.
 */
export function wireguardPeerEntries(p: Lease, topo: WireguardTopology): PeerEntries {
  if (topo.mode !== 'separate') return sharedEntries(p, topo.devices[0]!, topo);
  return joinFamilies(
    topo.devices.map((d) => [d.families[0] ?? 4, separateEntries(p, d, topo)] as const),
  );
}
