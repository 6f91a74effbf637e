import type { Cidr, IpFamily } from '@flannel-ts/core';
import { FlannelError } from '@flannel-ts/core';
import type { Backend, BackendContext, BackendFactory, DataPlane } from '../backend';
import { blackholeOf, createPeerDataPlane } from '../engine/peer-data-plane';
import type { ManagedDevice } from '../engine/peer-data-plane';
import { createWgPeerRunner, pskFingerprint } from '../kernel/wg-peer-runner';
import { createWgTools } from '../kernel/wg-tools';
import type { WgTools } from '../kernel/wg-tools';
import { readLink } from '../links';
import { DEFAULT_WIREGUARD_KEY_FILE, loadOrCreateKey } from './wg-key-file';
import type { WgKeyPair } from './wg-key-file';
import {
  WgDeviceMaker,
  addressWgDevice,
  deleteWgDevice,
  readWgInterface,
} from './wireguard-device';
import type { WgDeviceAddress, WgDeviceSpec } from './wireguard-device';
import { wireguardPeerEntries } from './wireguard-desired';
import type { WgDeviceTopology, WireguardTopology } from './wireguard-desired';
import { WIREGUARD_OVERHEAD, parseWireguardOptions } from './wireguard-options';
import type { WireguardOptions } from './wireguard-options';

/** Upstream's device names. */
export const WG_DEVICE = 'flannel-wg';
export const WG_DEVICE_V6 = 'flannel-wg-v6';

/** What the wireguard backend is built with besides its context (tests: tools in a namespace). */
export interface WireguardBackendDeps {
  readonly tools?: WgTools | undefined;
}

/** The lease data of one family: upstream's `{"PublicKey":"…","Port":N}`, in that key order. */
const leaseData = (publicKey: string, port: number): { PublicKey: string; Port: number } => ({
  PublicKey: publicKey,
  Port: port,
});

/**
 * The wireguard backend (SPEC 4.5; port of upstream pkg/backend/wireguard): `flannel-wg` (IPv4, or
 * both families outside `separate` mode) and `flannel-wg-v6` (IPv6 in `separate` mode), each with
 * our subnet's address, MTU underlay − 80, and a route for the flannel network; per peer a
 * WireGuard peer and a route to its subnet, both entries of the one kernel table, so a peer or
 * route removed by hand comes back (a peer on the next full pass: nothing reports `wg` changes)
 * and a deleted device is rebuilt with its key and every peer. The private key lives in the key
 * file across restarts. Devices come from the kernel module where it exists, else wireguard-go.
 * At shutdown the devices are left up (and wireguard-go running), as vxlan's devices are, and
 * the next start keeps a device that has our key (upstream deletes its devices at shutdown and
 * re-creates them at start).
 */
export function wireguardBackendFactory(deps: WireguardBackendDeps = {}): BackendFactory {
  return (ctx): Backend => createBackend(ctx, deps.tools ?? createWgTools());
}

/** The devices of a mode for the families we run (`separate`: one per family; else `flannel-wg`). */
export function wireguardDevices(
  opts: WireguardOptions,
  families: readonly IpFamily[],
): WgDeviceTopology[] {
  return opts.mode === 'separate'
    ? families.map((f) => ({
        name: f === 4 ? WG_DEVICE : WG_DEVICE_V6,
        port: f === 4 ? opts.listenPort : opts.listenPortV6,
        families: [f],
      }))
    : [{ name: WG_DEVICE, port: opts.listenPort, families }];
}

/**
 * What `flanneld status` needs to judge a peer as the agent would: the topology for the `Backend`
 * options and the families of the network config (throws on invalid options).
 */
export function wireguardTopologyOf(
  options: Readonly<Record<string, unknown>>,
  families: readonly IpFamily[],
): WireguardTopology {
  const opts = parseWireguardOptions(options);
  return {
    mode: opts.mode,
    devices: wireguardDevices(opts, families),
    keepaliveSeconds: opts.persistentKeepaliveSeconds,
    psk: pskFingerprint(opts.psk),
  };
}

/** {@link wireguardBackendFactory} with the installed `wg` and `wireguard-go`. */
export const createWireguardBackend: BackendFactory = wireguardBackendFactory();

function createBackend(ctx: BackendContext, tools: WgTools): Backend {
  const { iface, logger, runners } = ctx;
  const opts = parseWireguardOptions(ctx.options);
  const mtu = (opts.mtu ?? iface.mtu) - WIREGUARD_OVERHEAD;
  const families: IpFamily[] = [];
  if (iface.ipv4 || !iface.ipv6) families.push(4);
  if (iface.ipv6) families.push(6);
  const devices = wireguardDevices(opts, families);
  const maker = new WgDeviceMaker(runners.ip, tools, logger);
  let key: WgKeyPair | undefined;
  /** Every device was created by register() (none kept): the first pass need not read them. */
  let allCreated = true;
  const specOf = (d: WgDeviceTopology, k: WgKeyPair): WgDeviceSpec => ({
    name: d.name,
    listenPort: d.port,
    mtu,
    keyFile: k.file,
    privateKey: k.privateKey,
  });
  return {
    type: 'wireguard',
    mtu,
    async register(signal) {
      key = await loadOrCreateKey(ctx.wireguardKeyFile ?? DEFAULT_WIREGUARD_KEY_FILE, logger);
      allCreated = true;
      for (const d of devices) {
        const spec = specOf(d, key);
        // A device an earlier run left with our key is kept, with its sessions: peers' traffic
        // goes on across a restart (upstream deletes and re-creates it, and a peer whose session
        // the new device does not know is cut off until it next starts a handshake). Anything
        // else of that name is replaced.
        const link = await readLink(runners.ip, d.name, signal);
        const had = link && (await readWgInterface(tools, d.name, signal));
        const kept = !!had && had.privateKey === key.privateKey;
        if (kept) {
          maker.adopt(link?.kind === 'wireguard' ? 'kernel' : 'userspace');
          await maker.configure(spec, signal);
          await runners.ip.batch([`link set dev ${d.name} mtu ${mtu} up`], signal);
          allCreated = false;
        } else {
          await deleteWgDevice(runners.ip, d.name, signal);
          await maker.create(spec, signal);
        }
        logger.info(kept ? 'WireGuard device kept from an earlier run' : 'WireGuard device ready', {
          device: d.name,
          listenPort: d.port,
          mtu,
          publicKey: key.publicKey,
          implementation: maker.chosen,
        });
      }
      // Each enabled family's data (upstream's newSubnetAttrs), with the port of the device that
      // carries the family. Upstream advertises ListenPortV6 in every mode, also when its one
      // device (auto/ipv4/ipv6) listens on ListenPort only, and peers reached over IPv6 are then
      // aimed at a port nothing listens on (51821 by default): no handshake.
      const portOf = (f: IpFamily): number => devices.find((d) => d.families.includes(f))!.port;
      return {
        backendType: 'wireguard',
        ...(families.includes(4) && { backendData: leaseData(key.publicKey, portOf(4)) }),
        ...(families.includes(6) && { backendV6Data: leaseData(key.publicKey, portOf(6)) }),
      };
    },
    async start(own, networks, signal): Promise<DataPlane> {
      if (!key) throw new FlannelError('BACKEND_STATE', 'the wireguard backend was not registered');
      const k = key;
      const addressesOf = (d: WgDeviceTopology): WgDeviceAddress[] =>
        d.families.flatMap((f) => {
          const network = f === 4 ? networks.ipv4 : networks.ipv6;
          const subnet = f === 4 ? own.subnets.ipv4 : own.subnets.ipv6;
          if (!network) return [];
          if (!subnet) {
            throw new FlannelError(
              'BACKEND_CONFIG',
              `IPv${f} is enabled but our lease has no IPv${f} subnet; ${d.name} cannot be configured`,
            );
          }
          return [{ subnet, network }];
        });
      const running = devices.map((d) => ({ d, addresses: addressesOf(d) }));
      for (const r of running) await addressWgDevice(runners.ip, r.d.name, r.addresses, signal);
      const managed = running.map((r): ManagedDevice => {
        const spec = specOf(r.d, k);
        return {
          name: r.d.name,
          needsRepair: (e) => e.deleted || !e.up || e.mtu !== mtu,
          async repair(s) {
            const link = await readLink(runners.ip, spec.name, s);
            const wg = link && (await readWgInterface(tools, spec.name, s));
            if (!link || !wg) {
              if (link) await deleteWgDevice(runners.ip, spec.name, s);
              await maker.create(spec, s);
              await addressWgDevice(runners.ip, spec.name, r.addresses, s);
              logger.warn(
                'WireGuard device was missing; rebuilt it and re-programming every peer',
                {
                  device: spec.name,
                },
              );
              return true;
            }
            if (wg.privateKey !== spec.privateKey || wg.listenPort !== spec.listenPort) {
              await maker.configure(spec, s);
              logger.warn('WireGuard device had another key or port; set ours again', {
                device: spec.name,
              });
            }
            if (!link.up || link.mtu !== mtu) {
              await runners.ip.run(['link', 'set', 'dev', spec.name, 'mtu', String(mtu), 'up'], s);
            }
            // Down took the routes (and IPv6 addresses) with it.
            await addressWgDevice(runners.ip, spec.name, r.addresses, s);
            return !link.up;
          },
        };
      });
      const networksRun = running.flatMap((r) => r.addresses.map((a) => a.network));
      const names = devices.map((d) => d.name);
      const ownSide = (f: IpFamily): string | undefined =>
        f === 4 ? iface.ipv4?.publicIp : iface.ipv6?.publicIp;
      return createPeerDataPlane({
        runners: { ...runners, wg: createWgPeerRunner(tools, opts.psk) },
        scope: { routeDevices: names, networks: networksRun, wgDevices: names },
        entriesFor: (p) =>
          wireguardPeerEntries(p, {
            mode: opts.mode,
            devices,
            keepaliveSeconds: opts.persistentKeepaliveSeconds,
            psk: pskFingerprint(opts.psk),
            ownPublicIp: ownSide(4),
            ownPublicIpv6: ownSide(6),
          }),
        logger,
        devices: managed,
        fresh: allCreated,
        blackhole: blackholeOf(ctx, own, onlyNetworks(networksRun)),
      });
    },
  };
}

/** The networks as {@link BackendNetworks}. */
function onlyNetworks(networks: readonly Cidr[]): { ipv4?: Cidr; ipv6?: Cidr } {
  return {
    ...(networks.find((n) => n.family === 4) && { ipv4: networks.find((n) => n.family === 4) }),
    ...(networks.find((n) => n.family === 6) && { ipv6: networks.find((n) => n.family === 6) }),
  };
}
