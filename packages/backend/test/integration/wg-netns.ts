/**
 * Two "hosts" for the wireguard integration tests: network namespaces `ftwg-<pid>-h1`/`-h2` joined
 * by a veth underlay (192.0.2.1 and 192.0.2.2; see {@link WgLabOptions} for a named lab, another
 * IPv4 underlay and an IPv6 one), each with a mount namespace of its own whose
 * /run/wireguard is a private tmpfs (wireguard-go's control sockets would collide otherwise), and
 * the `wg`/`wireguard-go` tools run inside both. `destroy()` kills every wireguard-go in our
 * namespaces by pid, deletes the namespaces and unmounts; it is safe to call after any failure.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noopLogger } from '@flannel-ts/core';
import type { Logger } from '@flannel-ts/core';
import {
  createIproute2Monitor,
  createIproute2Runner,
  createWgTools,
  wireguardBackendFactory,
} from '@flannel-ts/backend';
import type { Backend, DataPlaneRunners, WgTools } from '@flannel-ts/backend';

export interface WgHost {
  readonly ns: string;
  readonly address: string;
  /** The host's IPv6 underlay address, when the lab has one ({@link WgLabOptions.underlay6}). */
  readonly address6: string | undefined;
  readonly underlay: string;
  readonly keyFile: string;
  readonly runners: DataPlaneRunners;
  readonly tools: WgTools;
  /** Runs a command inside the host's namespaces (`wg show …`, `ping …`). */
  exec(...args: string[]): string;
}

const run = (cmd: string, ...args: string[]): string =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const quiet = (cmd: string, ...args: string[]): void => {
  try {
    run(cmd, ...args);
  } catch {
    // cleanup: already gone
  }
};

/**
 * Host `h`'s wireguard backend with `options` (the config's `Backend` object): on its underlay, with
 * its IPv6 address too when the lab has one, its runners, tools and key file.
 */
export function wireguardBackendOn(
  h: WgHost,
  options: Record<string, unknown>,
  logger: Logger = noopLogger,
): Backend {
  return wireguardBackendFactory({ tools: h.tools })({
    iface: {
      name: h.underlay,
      index: 0,
      mtu: 1500,
      ipv4: { address: h.address, publicIp: h.address },
      ...(h.address6 === undefined ? {} : { ipv6: { address: h.address6, publicIp: h.address6 } }),
    },
    options: { Type: 'wireguard', ...options },
    logger,
    runners: h.runners,
    wireguardKeyFile: h.keyFile,
  });
}

/** Whether one ping from `h` to `dst` is answered within 2 s (ping exits 1 when nothing came back). */
export function pingAnswered(h: WgHost, dst: string): boolean {
  try {
    h.exec('ping', dst.includes(':') ? '-6' : '-4', '-c', '1', '-w', '2', dst);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a ping from `h` to `dst` is answered within `withinMs`, pinging until one is. The bound
 * covers one WireGuard recovery: when both hosts start a handshake at the same moment, wireguard-go
 * (0.0.20220316) can leave one direction silent, with both handshakes complete, until WireGuard
 * starts a new one because its data got no answer, KEEPALIVE_TIMEOUT + REKEY_TIMEOUT = 15 s on.
 * Seen in about 1 of 40 runs of the Mode test: 13 s without an answer, then a new handshake, then
 * answers.
 */
export function pingAnsweredWithin(h: WgHost, dst: string, withinMs = 20_000): boolean {
  const until = Date.now() + withinMs;
  do {
    if (pingAnswered(h, dst)) return true;
  } while (Date.now() < until);
  return false;
}

/** The inode of a named network namespace (what /proc/<pid>/ns/net names), if it exists. */
export function netnsInode(ns: string): number | undefined {
  const path = `/run/netns/${ns}`;
  return existsSync(path) ? statSync(path).ino : undefined;
}

/** The pids of wireguard-go processes in the network namespace `ns` (a name, or its inode). */
export function wireguardGoPids(ns: string | number): number[] {
  const ino = typeof ns === 'number' ? ns : netnsInode(ns);
  if (ino === undefined) return [];
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readlinkSync(`/proc/${d}/ns/net`) !== `net:[${ino}]`) continue;
      const comm = readlinkSync(`/proc/${d}/exe`);
      if (comm.endsWith('/wireguard-go')) pids.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** How a {@link WgLab} is built; the defaults give the original lab. */
export interface WgLabOptions {
  /**
   * Put in the names (`ftwg-<name>-<pid>-h1`, `/run/ftwg-<name>-<pid>`) so that labs of several
   * test files run in one jest process (`--runInBand`) never share a namespace; without it the
   * names are `ftwg-<pid>-…`.
   */
  readonly name?: string;
  /** The first three octets of the IPv4 underlay: hosts are `.1` and `.2` (default `192.0.2`). */
  readonly underlay4?: string;
  /** An IPv6 /64 prefix without `::` (e.g. `2001:db8:77`): hosts also get `<prefix>::1`/`::2`. */
  readonly underlay6?: string;
}

export class WgLab {
  readonly tag: string;
  readonly mntDir: string;
  readonly tmp: string;
  readonly hosts: WgHost[] = [];
  private madeRunWireguard = false;
  private readonly underlay4: string;
  private readonly underlay6: string | undefined;

  constructor(options: WgLabOptions = {}) {
    this.tag = options.name ? `ftwg-${options.name}-${process.pid}` : `ftwg-${process.pid}`;
    this.mntDir = `/run/${this.tag}`;
    this.tmp = mkdtempSync(join(tmpdir(), `${this.tag}-`));
    this.underlay4 = options.underlay4 ?? '192.0.2';
    this.underlay6 = options.underlay6;
  }

  /** Builds both hosts (throws after leaving whatever it made for destroy()). */
  setup(): void {
    if (!existsSync('/run/wireguard')) {
      mkdirSync('/run/wireguard');
      this.madeRunWireguard = true;
    }
    mkdirSync(this.mntDir);
    run('mount', '--bind', this.mntDir, this.mntDir);
    run('mount', '--make-private', this.mntDir);
    const names = [`${this.tag}-h1`, `${this.tag}-h2`];
    for (const ns of names) run('ip', 'netns', 'add', ns);
    run(
      'ip',
      'link',
      'add',
      'u1',
      'netns',
      names[0]!,
      'type',
      'veth',
      'peer',
      'name',
      'u2',
      'netns',
      names[1]!,
    );
    names.forEach((ns, i) => {
      const n = i + 1;
      const mnt = join(this.mntDir, `h${n}`);
      writeFileSync(mnt, '');
      run(
        'unshare',
        `--mount=${mnt}`,
        '--propagation',
        'private',
        'mount',
        '-t',
        'tmpfs',
        'tmpfs',
        '/run/wireguard',
      );
      run('ip', '-n', ns, 'addr', 'add', `${this.underlay4}.${n}/24`, 'dev', `u${n}`);
      const address6 = this.underlay6 === undefined ? undefined : `${this.underlay6}::${n}`;
      // No duplicate address detection: the address is usable at once.
      if (address6) run('ip', '-n', ns, 'addr', 'add', `${address6}/64`, 'dev', `u${n}`, 'nodad');
      run('ip', '-n', ns, 'link', 'set', `u${n}`, 'up');
      run('ip', '-n', ns, 'link', 'set', 'lo', 'up');
      const prefix = ['nsenter', `--net=/run/netns/${ns}`, `--mount=${mnt}`, '--'];
      this.hosts.push({
        ns,
        address: `${this.underlay4}.${n}`,
        address6,
        underlay: `u${n}`,
        keyFile: join(this.tmp, `h${n}`, 'wgkey'),
        runners: {
          ip: createIproute2Runner({ netns: ns }),
          bridge: createIproute2Runner({ netns: ns, binary: 'bridge' }),
          monitor: createIproute2Monitor({ netns: ns }),
        },
        tools: createWgTools({ prefix }),
        exec: (...args: string[]) => run(prefix[0]!, ...prefix.slice(1), ...args),
      });
    });
  }

  /** Everything setup() made, gone; returns the wireguard-go pids it had to kill. */
  destroy(): number[] {
    const killed: number[] = [];
    for (const h of this.hosts) {
      h.runners.ip.close();
      h.runners.bridge.close();
    }
    for (const n of [1, 2]) {
      const ns = `${this.tag}-h${n}`;
      for (const pid of wireguardGoPids(ns)) {
        try {
          process.kill(pid, 'SIGKILL');
          killed.push(pid);
        } catch {
          // gone
        }
      }
      quiet('ip', 'netns', 'del', ns);
      const mnt = join(this.mntDir, `h${n}`);
      quiet('umount', mnt);
    }
    quiet('umount', this.mntDir);
    rmSync(this.mntDir, { recursive: true, force: true });
    rmSync(this.tmp, { recursive: true, force: true });
    if (this.madeRunWireguard) quiet('rmdir', '/run/wireguard');
    return killed;
  }
}
