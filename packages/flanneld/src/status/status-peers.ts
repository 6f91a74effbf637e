import { formatCidr, jsonField, sameSubnets } from '@flannel-ts/core';
import type { Lease } from '@flannel-ts/core';
import { hostGwPeerEntries, joinFamilies, vxlanPeerEntries } from '@flannel-ts/backend';
import { wireguardPeerEntries, wireguardTopologyOf } from '@flannel-ts/backend';
import type { PeerEntries, RouteEntry } from '@flannel-ts/backend';
import { validatePeerLease } from '@flannel-ts/subnet';
import type { LeaseRejection, NetworkConfig, SkippedKey, StoredLease } from '@flannel-ts/subnet';
import type { InterfaceChoice } from '../interface-selection';
import type { IpRoute } from '../network-inventory';
import type { PeerStatus } from './status-model';

/** What the peers are judged from, read directly from etcd and the kernel. */
export interface PeerInput {
  readonly leases: readonly StoredLease[];
  /** Keys that could not be read as leases: listed as rejected. */
  readonly skipped: readonly SkippedKey[];
  /** Our lease; without it peers are not validated (validation needs our subnet and IP). */
  readonly own: StoredLease | undefined;
  readonly network: NetworkConfig | undefined;
  readonly iface: InterfaceChoice | undefined;
  /** The kernel's IPv4 routes; undefined when they could not be read. */
  readonly routes: readonly IpRoute[] | undefined;
}

const ALLOC_SKIP = 'the alloc backend programs no data path';
const EXTENSION_UNKNOWN =
  "only the agent knows whether the extension backend's SubnetAddCommand succeeded for it " +
  '(ask the agent: without --healthz-port=0)';

/** `field rule: detail`, the words the agent's rejection warnings use. */
export function describeRejection(r: LeaseRejection): string {
  return `${r.field} ${r.rule}${r.detail === undefined ? '' : `: ${r.detail}`}`;
}

/** The VNI and device the vxlan backend uses with this network config (VNI 1 by default). */
export function vxlanDevice(network: NetworkConfig): { vni: number; device: string } {
  const raw = jsonField(network.backend.options, 'VNI');
  const vni = typeof raw === 'number' ? raw : 1;
  return { vni, device: `flannel.${vni}` };
}

/**
 * What the backend of this network would program for one peer, with the backends' own pure
 * functions, so "skipped" means what it means in the agent (another VNI, not on-link…).
 */
function entriesFor(lease: Lease, network: NetworkConfig, iface: InterfaceChoice): PeerEntries {
  // Each family the network uses, as the backends join them (a peer may be programmed in one).
  const families = [
    network.ipv4 ? (4 as const) : undefined,
    network.ipv6 ? (6 as const) : undefined,
  ].filter((f) => f !== undefined);
  const connected = (f: 4 | 6) => (f === 4 ? iface.ipv4 : iface.ipv6)?.connected ?? [];
  switch (network.backend.type) {
    case 'vxlan': {
      const { vni } = vxlanDevice(network);
      const directRouting = jsonField(network.backend.options, 'DirectRouting') === true;
      return joinFamilies(
        families.map((family) => {
          const device = family === 4 ? `flannel.${vni}` : `flannel-v6.${vni}`;
          const topo = {
            device,
            externalDevice: iface.name,
            family,
            connected: connected(family),
            directRouting,
            vni,
          };
          return [family, vxlanPeerEntries(lease, topo)] as const;
        }),
      );
    }
    case 'host-gw':
      return joinFamilies(
        families.map(
          (family) =>
            [family, hostGwPeerEntries(lease, iface.name, connected(family), family)] as const,
        ),
      );
    case 'wireguard': {
      // Judged by its routes, like vxlan's by IPv4's alone (the routes read here are IPv4's; the
      // WireGuard peer itself needs `wg`, inside the agent's namespaces).
      const families = network.ipv4 ? [4 as const] : [6 as const];
      try {
        return wireguardPeerEntries(lease, wireguardTopologyOf(network.backend.options, families));
      } catch (err) {
        return { skip: err instanceof Error ? err.message : String(err) };
      }
    }
    default:
      return { skip: `backend ${JSON.stringify(network.backend.type)} is not one this agent runs` };
  }
}

function hasRoute(routes: readonly IpRoute[], want: RouteEntry): boolean {
  // ip prints a host route's dst without its /32 (/128).
  const dst = (r: IpRoute): string | undefined =>
    r.dst === undefined || r.dst.includes('/')
      ? r.dst
      : `${r.dst}/${r.dst.includes(':') ? 128 : 32}`;
  return routes.some(
    (r) => dst(r) === want.dst && r.gateway === want.gateway && r.dev === want.dev,
  );
}

function judge(lease: StoredLease, input: PeerInput): Pick<PeerStatus, 'state' | 'reason'> {
  const { network, own, iface, routes } = input;
  if (!network) return { state: 'pending', reason: 'the network config is missing or invalid' };
  // alloc leases carry no BackendType, and the agent neither validates nor programs them.
  if (network.backend.type === 'alloc') return { state: 'skipped', reason: ALLOC_SKIP };
  if (own) {
    const rejection = validatePeerLease(lease, {
      network: { ipv4: network.ipv4, ipv6: network.ipv6 },
      own: { subnets: own.subnets, publicIp: own.attrs.publicIp },
      backendType: network.backend.type,
    });
    if (rejection) return { state: 'rejected', reason: describeRejection(rejection) };
  }
  // Validated like every peer, but an extension command's work cannot be read back.
  if (network.backend.type === 'extension') return { state: 'unknown', reason: EXTENSION_UNKNOWN };
  if (!iface) return { state: 'pending', reason: 'the external interface is unknown' };
  const entries = entriesFor(lease, network, iface);
  if ('skip' in entries) return { state: 'skipped', reason: entries.skip };
  if (!routes) return { state: 'pending', reason: 'the kernel routes could not be read' };
  const missing = entries.routes.filter((r) => !hasRoute(routes, r));
  if (missing.length === 0) return { state: 'programmed' };
  const what = missing.map((r) => `${r.dst} via ${r.gateway} dev ${r.dev}`).join(', ');
  return { state: 'pending', reason: `no route ${what} in the kernel` };
}

/**
 * Every other host's lease and what this host does with it, judged purely from what was read: a
 * lease failing the agent's validation is `rejected`, one its backend leaves out is `skipped`,
 * one whose route is in the kernel (vxlan: via the subnet address on `flannel.<VNI>`; host-gw:
 * via its public IP) is `programmed`, an extension peer `unknown`, anything else `pending` with
 * what is missing. Unreadable keys are `rejected` too. Sorted by subnet.
 */
export function classifyPeers(input: PeerInput): PeerStatus[] {
  const peers = input.leases
    .filter((l) => !input.own || !sameSubnets(l.subnets, input.own.subnets))
    .map((lease): PeerStatus => {
      const { subnets, attrs } = lease;
      return {
        subnet: formatCidr(subnets.ipv4),
        ...(subnets.ipv6 ? { ipv6Subnet: formatCidr(subnets.ipv6) } : {}),
        publicIp: attrs.publicIp,
        ...(attrs.backendType === undefined ? {} : { backendType: attrs.backendType }),
        ...judge(lease, input),
      };
    });
  const unreadable = input.skipped.map((k): PeerStatus => ({
    subnet: k.key.slice(k.key.lastIndexOf('/') + 1),
    publicIp: '',
    state: 'rejected',
    reason: describeRejection(k),
  }));
  // Numerically by subnet, as the agent's /status lists them.
  return [...peers, ...unreadable].sort((a, b) =>
    a.subnet.localeCompare(b.subnet, 'en', { numeric: true }),
  );
}
