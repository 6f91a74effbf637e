import { execFileSync } from 'node:child_process';

// These tests need root (they create network namespaces). CI runs as root; elsewhere they skip,
// and say so, because a silent skip would look like a pass.
const isRoot = process.getuid?.() === 0;

/** `describe` as root; elsewhere `describe.skip`, announced on stderr. */
export const describeAsRoot: typeof describe = isRoot
  ? describe
  : (((name: string, fn: () => void) => {
      process.stderr.write(`SKIPPED "${name}": it needs root (ip netns add)\n`);
      describe.skip(name, fn);
    }) as typeof describe);

let created = 0;

/**
 * A fresh network namespace for each test of the enclosing describe, named `<prefix>-<pid>-<n>`
 * (unique per jest worker and test), deleted after the test whether it passed or not.
 */
export function withNetns(prefix: string): { readonly name: string } {
  const ns = { name: '' };
  beforeEach(() => {
    ns.name = `${prefix}-${process.pid}-${++created}`;
    execFileSync('ip', ['netns', 'add', ns.name]);
  });
  afterEach(() => {
    execFileSync('ip', ['netns', 'del', ns.name]);
  });
  return ns;
}

/**
 * The golden `nft list ruleset` of a fresh namespace after nftables-mode setup with N =
 * 10.5.0.0/16 and S = 10.5.3.0/24, as upstream HEAD leaves it (SPEC 6.3; nft 1.0.6 printing):
 * `masq` is the masquerade flavour (undefined: `--ip-masq` off), `forward` the forward chain.
 */
export function nftGolden(opts: {
  readonly masq: 'fully-random' | 'plain' | undefined;
  readonly forward: boolean;
}): string {
  const masquerade = opts.masq === 'fully-random' ? 'masquerade fully-random' : 'masquerade';
  const postrtg = [
    '\tchain postrtg {',
    '\t\tcomment "chain to manage traffic masquerading by flannel"',
    '\t\ttype nat hook postrouting priority srcnat; policy accept;',
    '\t\tmeta mark 0x00004000 return',
    '\t\tip saddr 10.5.3.0/24 ip daddr 10.5.0.0/16 return',
    '\t\tip saddr 10.5.0.0/16 ip daddr 10.5.3.0/24 return',
    '\t\tip saddr != 10.5.3.0/24 ip daddr 10.5.0.0/16 return',
    `\t\tip saddr 10.5.0.0/16 ip daddr != 224.0.0.0/4 ${masquerade}`,
    `\t\tip saddr != 10.5.0.0/16 ip daddr 10.5.0.0/16 ${masquerade}`,
    '\t}',
  ];
  const forward = [
    '\tchain forward {',
    '\t\tcomment "chain to accept flannel traffic"',
    '\t\ttype filter hook forward priority filter; policy accept;',
    '\t\tip saddr 10.5.0.0/16 accept',
    '\t\tip daddr 10.5.0.0/16 accept',
    '\t}',
  ];
  // nft separates chains of one table with an empty line.
  const chains = [
    ...(opts.masq === undefined ? [] : [postrtg]),
    ...(opts.forward ? [forward] : []),
  ].flatMap((chain, i) => (i === 0 ? chain : ['', ...chain]));
  return [
    'table ip flannel-ipv4 {',
    '\tcomment "rules for flannel-ipv4"',
    ...chains,
    '}',
    'table ip6 flannel-ipv6 {',
    '\tcomment "rules for flannel-ipv6"',
    '}',
    '',
  ].join('\n');
}
