/**
 * Parsing of `ip monitor label link route neigh` and `bridge monitor fdb` text (their `-json` is
 * ignored by iproute2 6.1), pure, for both address families. Only what the kernel table needs to
 * tell its own entries from someone else's is kept; lines of no interest give undefined.
 */
import { parseCidr, parseIp } from '@flannel-ts/core';

/** One change the kernel reported. */
export type MonitorEvent =
  | {
      readonly table: 'route';
      readonly deleted: boolean;
      /** `unicast`, or the type the line names (`blackhole`, `local`, …). */
      readonly type: string;
      /** Always with a prefix length (`10.5.2.0/24`, `10.5.2.7/32`, `fd00:5::7/128`). */
      readonly dst: string;
      readonly gateway: string | undefined;
      readonly dev: string | undefined;
      readonly onlink: boolean;
      /**
       * Absent when the line shows none (metric 0). IPv6 routes always show one: the kernel's
       * default for a route added without one is 1024 (the reader of the event judges).
       */
      readonly metric: number | undefined;
      /**
       * In another table than main, or the kernel's own (proto kernel): never ours, whatever its
       * type and metric (which the reader of the event judges).
       */
      readonly foreign: boolean;
    }
  | {
      readonly table: 'neigh';
      readonly deleted: boolean;
      readonly ip: string;
      readonly dev: string | undefined;
      readonly mac: string | undefined;
      readonly permanent: boolean;
      /**
       * `NOARP` among the states: never a neighbour we write (ours are plain `PERMANENT` on a
       * device with ARP). Without a family filter `ip monitor neigh` also prints the FDB entries
       * of VXLAN devices (AF_BRIDGE) this way, their remote shown as the IP:
       * `fc00:77::2 dev flannel-v6.1 lladdr aa:bb:cc:dd:ee:02 NOARP PERMANENT`.
       */
      readonly noarp: boolean;
    }
  | {
      readonly table: 'fdb';
      readonly deleted: boolean;
      readonly mac: string;
      readonly dev: string | undefined;
      readonly dst: string | undefined;
      readonly permanent: boolean;
    }
  | {
      readonly table: 'link';
      readonly deleted: boolean;
      readonly name: string;
      readonly up: boolean;
      readonly mtu: number | undefined;
    };

const ROUTE_TYPES = new Set([
  'unicast',
  'local',
  'broadcast',
  'multicast',
  'anycast',
  'unreachable',
  'blackhole',
  'prohibit',
  'throw',
  'nat',
]);

/** The word after `key` in `words`, if any. */
function after(words: readonly string[], key: string): string | undefined {
  const i = words.indexOf(key);
  return i >= 0 ? words[i + 1] : undefined;
}

/** `10.5.2.0/24`, `10.5.2.7`, `fd00:5::/64`, `fd00:5::7` (not `default`, not a MAC). */
function isAddressOrPrefix(text: string): boolean {
  return text.includes('/') ? parseCidr(text) !== undefined : parseIp(text) !== undefined;
}

function splitDeleted(text: string): { deleted: boolean; words: string[] } {
  const words = text
    .trim()
    .split(/\s+/)
    .filter((w) => w !== '');
  const deleted = words[0] === 'Deleted';
  return { deleted, words: deleted ? words.slice(1) : words };
}

function parseRoute(text: string): MonitorEvent | undefined {
  const { deleted, words } = splitDeleted(text);
  let type = 'unicast';
  if (ROUTE_TYPES.has(words[0] ?? '')) type = words.shift()!;
  const dst = words[0];
  if (dst === undefined || !isAddressOrPrefix(dst)) return undefined;
  let gateway = after(words, 'via');
  if (gateway === 'inet') gateway = after(words.slice(words.indexOf('via') + 1), 'inet');
  const table = after(words, 'table');
  const metric = after(words, 'metric');
  return {
    table: 'route',
    deleted,
    type,
    dst: dst.includes('/') ? dst : `${dst}/${dst.includes(':') ? 128 : 32}`,
    gateway,
    dev: after(words, 'dev'),
    onlink: words.includes('onlink'),
    // Garbage (never printed) gives NaN, which is no metric of ours and not "none" either.
    metric: metric === undefined ? undefined : Number(metric),
    foreign: (table !== undefined && table !== 'main') || after(words, 'proto') === 'kernel',
  };
}

function parseNeigh(text: string): MonitorEvent | undefined {
  const { deleted, words } = splitDeleted(text);
  const ip = words[0];
  // Not an IP: `miss …` notifications, and FDB entries without a remote (`dev … lladdr …`).
  if (ip === undefined || parseIp(ip) === undefined) return undefined;
  return {
    table: 'neigh',
    deleted,
    ip,
    dev: after(words, 'dev'),
    mac: after(words, 'lladdr')?.toLowerCase(),
    permanent: words.includes('PERMANENT'),
    noarp: words.includes('NOARP'),
  };
}

function parseLink(text: string): MonitorEvent | undefined {
  const { deleted, words } = splitDeleted(text);
  // `5: flannel.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 …`; a veth shows `veth0@veth1:`.
  if (!/^\d+:$/.test(words[0] ?? '') || words[1] === undefined) return undefined;
  const name = words[1].replace(/:$/, '').split('@')[0]!;
  const flags = /^<(.*)>$/.exec(words[2] ?? '')?.[1]?.split(',') ?? [];
  const mtu = Number(after(words, 'mtu'));
  return {
    table: 'link',
    deleted,
    name,
    up: flags.includes('UP'),
    mtu: Number.isInteger(mtu) ? mtu : undefined,
  };
}

/** One line of `ip monitor label link route neigh`; continuation lines give undefined. */
export function parseIpMonitorLine(line: string): MonitorEvent | undefined {
  const m = /^\[(LINK|ROUTE|NEIGH)\](.*)$/.exec(line);
  if (!m) return undefined;
  const text = m[2]!;
  if (m[1] === 'ROUTE') return parseRoute(text);
  if (m[1] === 'NEIGH') return parseNeigh(text);
  return parseLink(text);
}

/** One line of `bridge monitor fdb`. */
export function parseFdbMonitorLine(line: string): MonitorEvent | undefined {
  const { deleted, words } = splitDeleted(line);
  const mac = words[0]?.toLowerCase();
  if (mac === undefined || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac)) return undefined;
  return {
    table: 'fdb',
    deleted,
    mac,
    dev: after(words, 'dev'),
    dst: after(words, 'dst'),
    permanent: words.includes('permanent'),
  };
}
