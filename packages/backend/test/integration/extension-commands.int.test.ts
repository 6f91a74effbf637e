import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noopLogger, parseCidr } from '@flannel-ts/core';
import type { Lease } from '@flannel-ts/core';
import { ManualClock } from '@flannel-ts/core/testing';
import { createShellCommandRunner, extensionBackendFactory } from '@flannel-ts/backend';
import type { Backend, DataPlane, ExtensionBackendDeps } from '@flannel-ts/backend';
import { FakeIpRunner } from '@flannel-ts/backend/testing';
import { HOST_GW_EXAMPLE, VXLAN_EXAMPLE } from './extension-examples';

// The extension backend running real commands through `sh -c`, in a temporary directory: the two
// examples of upstream's documentation with `ip` and `bridge` replaced by scripts that write down
// their arguments (the kernel is not touched), a command that fails until it succeeds, and one
// that never ends.

const signal = new AbortController().signal;
const network = parseCidr('10.50.0.0/16')!;
let dir = '';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ft-ext-'));
  mkdirSync(join(dir, 'bin'));
  // Each fake writes `ip [arg] [arg] …`: the brackets show how the shell split the words.
  for (const tool of ['ip', 'bridge']) {
    const script = `#!/bin/sh\n{ printf '%s' ${tool}; for a in "$@"; do printf ' [%s]' "$a"; done; echo; } >> "${dir}/log"\n`;
    writeFileSync(join(dir, 'bin', tool), script);
    chmodSync(join(dir, 'bin', tool), 0o755);
  }
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The commands as run: our fake tools first on PATH, /sys moved into the directory. */
function adapted(backend: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(backend).map(([k, v]) => [
      k,
      k === 'Type'
        ? v
        : `PATH="${dir}/bin:$PATH"; ${v.replace('/sys/class/net/', `${dir}/sys/class/net/`)}`,
    ]),
  );
}

function backendOf(options: Record<string, unknown>, deps: ExtensionBackendDeps = {}): Backend {
  return extensionBackendFactory(deps)({
    iface: {
      name: 'eth0',
      index: 2,
      mtu: 1500,
      ipv4: { address: '192.0.2.1', publicIp: '192.0.2.1' },
    },
    options,
    logger: noopLogger,
    runners: { ip: new FakeIpRunner(), bridge: new FakeIpRunner() },
  });
}

function leaseOf(subnet: string, publicIp: string, backendData?: unknown): Lease {
  return {
    subnets: { ipv4: parseCidr(subnet)! },
    attrs: { publicIp, publicIpv6: null, backendType: 'extension', backendData },
    ttlLeaseId: '5',
  };
}

const log = (): string[] => readFileSync(join(dir, 'log'), 'utf8').trimEnd().split('\n');

describe('upstream’s examples, with fake ip and bridge', () => {
  it('host-gw: a route per peer added, and deleted when the peer leaves', async () => {
    const backend = backendOf(adapted(HOST_GW_EXAMPLE));
    await backend.register(signal);
    const dp = (await backend.start(
      leaseOf('10.50.1.0/24', '192.0.2.1'),
      { ipv4: network },
      signal,
    ))!;
    dp.update([['10.50.2.0-24', leaseOf('10.50.2.0/24', '192.0.2.2')]]);
    await dp.apply(signal);
    dp.update([['10.50.2.0-24', undefined]]);
    await dp.apply(signal);
    expect(log()).toEqual([
      'ip [route] [add] [10.50.2.0/24] [via] [192.0.2.2]',
      'ip [route] [del] [10.50.2.0/24] [via] [192.0.2.2]',
    ]);
  });

  it('vxlan: the device’s MAC goes into our lease and reaches a peer’s add command on stdin', async () => {
    mkdirSync(join(dir, 'sys/class/net/flannel-vxlan'), { recursive: true });
    writeFileSync(join(dir, 'sys/class/net/flannel-vxlan/address'), '6e:c3:90:34:97:c7\n');
    const hostA = backendOf(adapted(VXLAN_EXAMPLE));
    const hostB = backendOf(adapted(VXLAN_EXAMPLE));
    const dataA = await hostA.register(signal);
    expect(dataA).toEqual({ backendType: 'extension', backendData: '6e:c3:90:34:97:c7' });

    await hostB.register(signal);
    const dp = (await hostB.start(
      leaseOf('10.50.34.0/24', '192.0.2.1'),
      { ipv4: network },
      signal,
    ))!;
    dp.update([['10.50.2.0-24', leaseOf('10.50.2.0/24', '192.0.2.2', dataA.backendData)]]);
    await dp.apply(signal);
    const link = [
      'ip [link] [del] [flannel-vxlan]',
      'ip [link] [add] [flannel-vxlan] [type] [vxlan] [id] [1] [dstport] [8472]',
    ];
    expect(log()).toEqual([
      ...link, // host A
      ...link, // host B
      'ip [addr] [add] [10.50.34.0/32] [dev] [flannel-vxlan]',
      'ip [link] [set] [flannel-vxlan] [up]',
      'ip [route] [add] [10.50.2.0/24] [nexthop] [via] [10.50.2.0] [dev] [flannel-vxlan] [onlink]',
      'ip [neigh] [replace] [10.50.2.0] [dev] [flannel-vxlan] [lladdr] [6e:c3:90:34:97:c7]',
      'bridge [fdb] [add] [6e:c3:90:34:97:c7] [dev] [flannel-vxlan] [self] [dst] [192.0.2.2]',
    ]);
  });
});

describe('commands that misbehave', () => {
  it('retries a failing add command with back-off until it succeeds', async () => {
    const clock = new ManualClock();
    const tries = join(dir, 'tries');
    const add = `n=$(cat "${tries}" 2>/dev/null || echo 0); echo $((n + 1)) > "${tries}"; if [ "$n" -lt 2 ]; then echo "not yet ($n)" >&2; exit 4; fi; echo "added $SUBNET" >> "${dir}/log"`;
    const backend = backendOf({ SubnetAddCommand: add }, { clock });
    const dp = (await backend.start(
      leaseOf('10.50.1.0/24', '192.0.2.1'),
      { ipv4: network },
      signal,
    )) as DataPlane;
    dp.update([['10.50.2.0-24', leaseOf('10.50.2.0/24', '192.0.2.2')]]);

    const pendingWith = (reason: string) => [{ key: '10.50.2.0-24', state: 'pending', reason }];
    await dp.apply(signal);
    expect(dp.peerStates()).toEqual(pendingWith('exit status 4: not yet (0)'));
    clock.advance(1000);
    await dp.resync(signal);
    expect(dp.peerStates()).toEqual(pendingWith('exit status 4: not yet (1)'));
    clock.advance(2000);
    await expect(dp.resync(signal)).resolves.toMatchObject({ changes: 1, programmedPeers: 1 });
    expect(log()).toEqual(['added 10.50.2.0/24']);
    expect(readFileSync(tries, 'utf8')).toBe('3\n');
  });

  it('kills a command that never ends, with what it started, and keeps the peer pending', async () => {
    const pidFile = join(dir, 'sleep.pid');
    const runner = createShellCommandRunner({ timeoutMs: 300 });
    const backend = backendOf(
      { SubnetAddCommand: `sleep 30 & echo $! > "${pidFile}"; wait` },
      { runner },
    );
    const dp = (await backend.start(
      leaseOf('10.50.1.0/24', '192.0.2.1'),
      { ipv4: network },
      signal,
    )) as DataPlane;
    dp.update([['10.50.2.0-24', leaseOf('10.50.2.0/24', '192.0.2.2')]]);

    const reason = 'timed out after 0.3 s and was killed, with every process it started';
    await dp.apply(signal);
    expect(dp.peerStates()).toEqual([{ key: '10.50.2.0-24', state: 'pending', reason }]);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    expect(isRunning(pid)).toBe(false);
  });
});

/** True while `pid` is a live process (a zombie waiting to be reaped counts as gone). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
