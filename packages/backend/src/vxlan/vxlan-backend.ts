import type { Cidr, IpFamily, Lease } from '@flannel-ts/core';
import { FlannelError } from '@flannel-ts/core';
import { ipv4Of } from '../backend';
import type {
  Backend,
  BackendContext,
  BackendFactory,
  BackendNetworks,
  DataPlane,
} from '../backend';
import { boolOption, intOption } from '../backend-options';
import { blackholeOf, createPeerDataPlane } from '../engine/peer-data-plane';
import type { ManagedDevice } from '../engine/peer-data-plane';
import { ensureSubnetAddress } from '../links';
import type { LinkInfo } from '../links';
import { joinFamilies } from '../peer-entries';
import { connectedTo } from '../peers';
import { ensureVxlanDevice } from './vxlan-device';
import type { EnsureOptions, EnsuredDevice, VxlanDeviceSpec } from './vxlan-device';
import { deviceSettings } from './device-settings';
import type { SettleDevice } from './device-settings';
import { vxlanPeerEntries } from './vxlan-desired';
import type { VxlanTopology } from './vxlan-desired';

/** Kernel default VXLAN port, used by flannel when `Port` is 0 or unset. */
export const DEFAULT_VXLAN_PORT = 8472;
/** VXLAN encapsulation overhead on an IPv4 underlay (outer IP 20 + UDP 8 + VXLAN 8 + Ethernet 14). */
export const VXLAN_OVERHEAD = 50;
/**
 * VXLAN encapsulation overhead on an IPv6 underlay (outer IPv6 40 + UDP 8 + VXLAN 8 + Ethernet
 * 14): `flannel-v6.N` gets the underlay MTU − 70. That is what upstream v0.20.2's device has: it
 * sets no MTU, and the kernel gives a VXLAN device with an IPv6 local address its underlay's MTU −
 * 70 (seen: 1430 on a 1500 veth). Upstream HEAD sets MTU − 50 on both devices, which makes a
 * full-size inner packet 20 bytes too big for an IPv6 underlay. The device MTU is local (peers
 * never see it), so either choice interoperates. `FLANNEL_MTU` stays IPv4's − 50 when IPv4 runs.
 */
export const VXLAN_OVERHEAD_V6 = 70;

/** One family's VXLAN device: its spec, and the device as register() left it. */
interface FamilyDevice {
  readonly family: IpFamily;
  readonly spec: VxlanDeviceSpec;
  registered?: EnsuredDevice;
}

/** The lease data of one device: upstream's `{"VNI":…,"VtepMAC":"…"}`, in that key order. */
const leaseData = (vni: number, link: LinkInfo): { VNI: number; VtepMAC: string } => ({
  VNI: vni,
  VtepMAC: link.mac,
});

/**
 * The vxlan backend (SPEC 4.1): `flannel.<VNI>` for IPv4 and `flannel-v6.<VNI>` for IPv6, one per
 * family the external interface carries (flanneld fills `iface.ipv4` / `iface.ipv6` for the enabled
 * families), both fed by the one kernel table. Options: VNI (1), Port (8472), GBP, Learning, MTU
 * (the underlay MTU; `flannel.N` gets MTU − 50, `flannel-v6.N` MTU − 70), DirectRouting.
 */
export const createVxlanBackend: BackendFactory = (ctx): Backend => {
  const { iface, options, logger, runners } = ctx;
  const vni = intOption(options, 'VNI', 0, 16_777_215) ?? 1;
  const port = intOption(options, 'Port', 0, 65_535) || DEFAULT_VXLAN_PORT;
  const underlayMtu = intOption(options, 'MTU', 68 + VXLAN_OVERHEAD, 65_535) ?? iface.mtu;
  const directRouting = boolOption(options, 'DirectRouting');
  const common = {
    vni,
    underlay: iface.name,
    port,
    gbp: boolOption(options, 'GBP'),
    learning: boolOption(options, 'Learning'),
  };
  const devices: FamilyDevice[] = [];
  const settle = deviceSettings(ctx);
  // Without either family the IPv4 error is the one to give (as before IPv6 existed).
  if (iface.ipv4 || !iface.ipv6) {
    const localIp = ipv4Of(iface, 'vxlan').address;
    const mtu = underlayMtu - VXLAN_OVERHEAD;
    devices.push({ family: 4, spec: { ...common, name: `flannel.${vni}`, localIp, mtu } });
  }
  if (iface.ipv6) {
    const localIp = iface.ipv6.address;
    const mtu = underlayMtu - VXLAN_OVERHEAD_V6;
    devices.push({ family: 6, spec: { ...common, name: `flannel-v6.${vni}`, localIp, mtu } });
  }
  return {
    type: 'vxlan',
    // FLANNEL_MTU: flannel.N's whenever IPv4 runs (as upstream's), else flannel-v6.N's.
    mtu: devices[0]!.spec.mtu,
    async register(signal) {
      const data: { backendType: string } & Record<string, unknown> = { backendType: 'vxlan' };
      for (const d of devices) {
        d.registered = await ensureDevice(ctx, settle, d.spec, { signal });
        data[d.family === 4 ? 'backendData' : 'backendV6Data'] = leaseData(vni, d.registered.link);
      }
      return data;
    },
    async start(own, networks, signal): Promise<DataPlane> {
      const running: { d: FamilyDevice; network: Cidr; subnet: Cidr }[] = [];
      for (const d of devices) {
        const network = d.family === 4 ? networks.ipv4 : networks.ipv6;
        if (!network) continue;
        const subnet = d.family === 4 ? own.subnets.ipv4 : own.subnets.ipv6;
        if (!subnet) {
          throw new FlannelError(
            'BACKEND_CONFIG',
            `IPv6 is enabled but our lease has no IPv6 subnet; ${d.spec.name} cannot be configured`,
          );
        }
        running.push({ d, network, subnet });
      }
      if (running.length === 0) {
        throw new FlannelError(
          'BACKEND_CONFIG',
          `the vxlan backend has no device for the configured network(s): ${iface.name} has no address of their family`,
        );
      }
      const parts = await Promise.all(
        running.map((r) =>
          startFamily(ctx, settle, r.d, r.subnet, r.network, directRouting, signal),
        ),
      );
      const routeDevices = [...new Set(parts.flatMap((p) => p.routeDevices))];
      return createPeerDataPlane({
        runners,
        scope: {
          routeDevices,
          vxlanDevices: parts.map((p) => p.device.name),
          networks: running.map((r) => r.network),
        },
        entriesFor: (p: Lease) =>
          joinFamilies(parts.map((f) => [f.topo.family ?? 4, vxlanPeerEntries(p, f.topo)])),
        logger,
        devices: parts.map((p) => p.device),
        fresh: parts.every((p) => p.created) && !directRouting,
        blackhole: blackholeOf(ctx, own, onlyRunning(networks, running)),
      });
    },
  };
};

/** `networks` restricted to the families that have a device. */
function onlyRunning(
  networks: BackendNetworks,
  running: readonly { d: FamilyDevice }[],
): BackendNetworks {
  const has = (f: IpFamily): boolean => running.some((r) => r.d.family === f);
  return { ipv4: has(4) ? networks.ipv4 : undefined, ipv6: has(6) ? networks.ipv6 : undefined };
}

/**
 * {@link ensureVxlanDevice}, then the device's other settings ({@link deviceSettings}) when it was
 * created or when the agent starts (a quiet repair of a device that was only down leaves them).
 */
async function ensureDevice(
  ctx: BackendContext,
  settle: SettleDevice,
  spec: VxlanDeviceSpec,
  options: EnsureOptions,
): Promise<EnsuredDevice> {
  const r = await ensureVxlanDevice(ctx.runners.ip, spec, ctx.logger, options);
  if (r.created || !options.quiet) await settle(spec.name, options.signal);
  return r;
}

/** One family's device made ready for our subnet, and how the data plane keeps it. */
async function startFamily(
  ctx: BackendContext,
  settle: SettleDevice,
  d: FamilyDevice,
  subnet: Cidr,
  network: Cidr,
  directRouting: boolean,
  signal: AbortSignal,
): Promise<{
  device: ManagedDevice;
  topo: VxlanTopology;
  routeDevices: string[];
  created: boolean;
}> {
  const { iface, logger, runners } = ctx;
  const { spec } = d;
  const first = d.registered ?? (await ensureDevice(ctx, settle, spec, { signal }));
  const mac = first.link.mac;
  const connected = await connectedTo(runners.ip, iface, signal, d.family);
  await ensureSubnetAddress(runners.ip, first.link, subnet, network, signal);
  const device: ManagedDevice = {
    name: spec.name,
    needsRepair: (e) => e.deleted || !e.up || e.mtu !== spec.mtu,
    async repair(s) {
      const r = await ensureDevice(ctx, settle, spec, { mac, signal: s, quiet: true });
      if (r.link.mac !== mac) {
        throw new FlannelError(
          'VTEP_MAC_CHANGED',
          `${spec.name} has MAC ${r.link.mac} but our lease advertises ${mac}; restart flanneld to advertise the new one`,
        );
      }
      if (r.created || r.wasDown) {
        logger.warn('VXLAN device was missing or down; rebuilt it and re-programming every peer', {
          device: spec.name,
        });
      }
      await ensureSubnetAddress(runners.ip, r.link, subnet, network, s);
      return r.created || r.wasDown;
    },
  };
  return {
    device,
    topo: {
      family: d.family,
      device: spec.name,
      externalDevice: iface.name,
      connected,
      directRouting,
      vni: spec.vni,
    },
    routeDevices: directRouting ? [spec.name, iface.name] : [spec.name],
    created: first.created,
  };
}
