import type { Cidr, Logger } from '@flannel-ts/core';
import {
  FlannelError,
  addressBits,
  cidrContainsIp,
  formatCidr,
  formatIp,
  parseIp,
} from '@flannel-ts/core';
import { IpCommandError } from '../ip-runner';
import type { IpRunner } from '../ip-runner';
import type { WgTools } from '../kernel/wg-tools';
import { WgCommandError } from '../kernel/wg-tools';
import { linkAddresses, readLink } from '../links';

/** How the devices are made: the kernel module, or wireguard-go on a TUN device. */
export type WgImplementation = 'kernel' | 'userspace';

/** One device as it must be. */
export interface WgDeviceSpec {
  readonly name: string;
  readonly listenPort: number;
  readonly mtu: number;
  /** The private key file (`wg set … private-key <file>`) and the key in it. */
  readonly keyFile: string;
  readonly privateKey: string;
}

/** Our subnet and the flannel network of one family the device carries. */
export interface WgDeviceAddress {
  readonly subnet: Cidr;
  readonly network: Cidr;
}

const NO_MODULE = /Unknown device type|not supported|Operation not supported|No such file/i;
/** wireguard-go refuses to start while the previous one (just deleted) still holds the socket. */
const STILL_IN_USE = /in use|already exists|busy/i;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Makes WireGuard devices: with the kernel module where `ip link add … type wireguard` works, else
 * with wireguard-go. Decided on the first device, said once in the log, kept for the agent's life.
 * Neither possible is a fatal error that says what to install.
 */
export class WgDeviceMaker {
  private implementation: WgImplementation | undefined;

  constructor(
    private readonly ip: IpRunner,
    private readonly tools: WgTools,
    private readonly logger: Logger,
  ) {}

  /** The implementation chosen (after the first device). */
  get chosen(): WgImplementation | undefined {
    return this.implementation;
  }

  /** Creates `name` (absent now), configured with our key and port, with its MTU, up. */
  async create(spec: WgDeviceSpec, signal?: AbortSignal): Promise<void> {
    if (this.implementation !== 'userspace') {
      try {
        await this.ip.run(['link', 'add', 'name', spec.name, 'type', 'wireguard'], signal);
        this.choose('kernel');
      } catch (err) {
        if (!(err instanceof IpCommandError) || !NO_MODULE.test(err.stderr)) throw err;
        if (this.implementation === 'kernel') throw err;
        this.choose('userspace', err.stderr.trim());
      }
    }
    if (this.implementation === 'userspace') await this.startUserspace(spec.name, signal);
    await this.configure(spec, signal);
    // Through the batch child on purpose: after a rebuild it may hold the old device's index, and
    // a batch that finds the device missing starts a fresh child (the peers' routes go that way).
    await this.ip.batch([`link set dev ${spec.name} mtu ${spec.mtu} up`], signal);
  }

  /** `wg set <dev> private-key <file> listen-port <port>`. */
  async configure(spec: WgDeviceSpec, signal?: AbortSignal): Promise<void> {
    await this.tools.wg(
      ['set', spec.name, 'private-key', spec.keyFile, 'listen-port', String(spec.listenPort)],
      { signal },
    );
  }

  /** Takes the implementation of a device kept from an earlier run. */
  adopt(impl: WgImplementation): void {
    this.choose(
      impl,
      impl === 'userspace' ? 'a wireguard-go device is kept from an earlier run' : undefined,
    );
  }

  private choose(impl: WgImplementation, why?: string): void {
    if (this.implementation === impl) return;
    this.implementation = impl;
    if (impl === 'kernel') this.logger.info('WireGuard devices use the kernel module', {});
    else
      this.logger.info(
        'no WireGuard kernel module; WireGuard devices use wireguard-go (userspace)',
        {
          why,
        },
      );
  }

  private async startUserspace(name: string, signal?: AbortSignal): Promise<void> {
    // A wireguard-go whose device was just deleted takes up to a second or so to go.
    for (let attempt = 0; ; attempt += 1) {
      const r = await this.tools.startUserspace(name, signal);
      if (r.ok) return;
      if (attempt < 50 && STILL_IN_USE.test(r.message)) {
        await sleep(100);
        continue;
      }
      throw new FlannelError(
        'WIREGUARD_UNAVAILABLE',
        `cannot create WireGuard device ${name}: the kernel has no wireguard module and wireguard-go failed: ${r.message}`,
        { disposition: 'fatal' },
      );
    }
  }
}

/**
 * Deletes `name` if it exists (upstream deletes and re-creates an existing device at start), and
 * waits until a wireguard-go serving it has let the name go.
 */
export async function deleteWgDevice(
  ip: IpRunner,
  name: string,
  signal?: AbortSignal,
): Promise<boolean> {
  const link = await readLink(ip, name, signal);
  if (!link) return false;
  await ip.run(['link', 'del', 'dev', name], signal);
  return true;
}

/**
 * Gives the device our subnet's address (/32, /128) and a route for the whole flannel network of
 * each family (upstream device.go Configure / ConfigureV6: `<network> dev <device> scope link`),
 * removing any other address of the network. One `ip` process per change, not the long-lived
 * batch child: after a rebuild the child may still hold the old device's index.
 */
export async function addressWgDevice(
  ip: IpRunner,
  name: string,
  addresses: readonly WgDeviceAddress[],
  signal?: AbortSignal,
): Promise<void> {
  const link = await readLink(ip, name, signal);
  if (!link) {
    throw new FlannelError('WIREGUARD_DEVICE', `WireGuard device ${name} vanished`, {
      disposition: 'retry',
    });
  }
  for (const a of addresses) {
    const want = formatIp({ family: a.subnet.family, value: a.subnet.address });
    const hostLen = addressBits(a.subnet.family);
    let present = false;
    for (const have of linkAddresses(link, a.subnet.family)) {
      const addr = parseIp(have.local);
      if (have.local === want && have.prefixlen === hostLen) present = true;
      else if (addr && cidrContainsIp(a.network, addr)) {
        await ip.run(['addr', 'del', `${have.local}/${have.prefixlen}`, 'dev', name], signal);
      }
    }
    if (!present) await ip.run(['addr', 'add', `${want}/${hostLen}`, 'dev', name], signal);
    await ip.run(['route', 'replace', formatCidr(a.network), 'dev', name, 'scope', 'link'], signal);
  }
}

/** The device's own line of `wg show <dev> dump`: private key and listen port, or undefined. */
export async function readWgInterface(
  tools: WgTools,
  name: string,
  signal?: AbortSignal,
): Promise<{ privateKey: string; listenPort: number } | undefined> {
  try {
    const out = await tools.wg(['show', name, 'dump'], { signal });
    const [privateKey = '', , port = '0'] = (out.split('\n')[0] ?? '').split('\t');
    return { privateKey, listenPort: Number(port) };
  } catch (err) {
    if (err instanceof WgCommandError) return undefined;
    throw err;
  }
}
