import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeLeaseAttrs, noopLogger } from '@flannel-ts/core';
import { IpCommandError, wireguardBackendFactory } from '@flannel-ts/backend';
import type { WgTools } from '@flannel-ts/backend';
import { FakeIpRunner } from '@flannel-ts/backend/testing';

// RFC 7748 section 6.1 (Alice): a private key and the public key `wg pubkey` gives for it.
const PRIVATE = Buffer.from(
  '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
  'hex',
).toString('base64');
const PUBLIC = Buffer.from(
  '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
  'hex',
).toString('base64');

/** An `ip` with no flannel-wg devices yet, where `ip link add … type wireguard` works. */
function kernelWithModule(): FakeIpRunner {
  const missing = (args: readonly string[]): string => {
    throw new IpCommandError({
      binary: 'ip',
      args,
      exitCode: 1,
      stderr: `Device "${args[args.length - 1]}" does not exist.`,
    });
  };
  return new FakeIpRunner({
    answers: {
      '-json -d addr show dev flannel-wg': missing,
      '-json -d addr show dev flannel-wg-v6': missing,
      'link add name flannel-wg type wireguard': '',
      'link add name flannel-wg-v6 type wireguard': '',
    },
  });
}

/** `wg` that accepts every command and records them. */
function recordingWg(): WgTools & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    wg: (args) => {
      calls.push([...args]);
      return Promise.resolve('');
    },
    startUserspace: () => Promise.reject(new Error('not expected: the module works')),
  };
}

let dir: string;
let keyFile: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ftwg-lease-'));
  keyFile = join(dir, 'wgkey');
  writeFileSync(keyFile, PRIVATE, { mode: 0o400 });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const v4 = { address: '192.0.2.1', publicIp: '192.0.2.1' };
const v6 = { address: '2001:db8::1', publicIp: '2001:db8::1' };

describe('the wireguard lease data', () => {
  it('is byte for byte what upstream writes (IPv4): {"PublicKey":…,"Port":51820}', async () => {
    const ip = kernelWithModule();
    const tools = recordingWg();
    const backend = wireguardBackendFactory({ tools })({
      iface: { name: 'eth0', index: 2, mtu: 1500, ipv4: v4 },
      options: { Type: 'wireguard' },
      logger: noopLogger,
      runners: { ip, bridge: new FakeIpRunner() },
      wireguardKeyFile: keyFile,
    });
    const data = await backend.register(new AbortController().signal);
    expect(encodeLeaseAttrs({ publicIp: '192.0.2.1', publicIpv6: null, ...data })).toBe(
      `{"PublicIP":"192.0.2.1","PublicIPv6":null,"BackendType":"wireguard","BackendData":{"PublicKey":"${PUBLIC}","Port":51820}}`,
    );
    expect(backend.mtu).toBe(1420);
    expect(tools.calls).toEqual([
      ['set', 'flannel-wg', 'private-key', keyFile, 'listen-port', '51820'],
    ]);
    expect(ip.batchLines).toEqual(['link set dev flannel-wg mtu 1420 up']);
  });

  it('dual stack, separate mode: BackendV6Data with ListenPortV6 on flannel-wg-v6, same key', async () => {
    const tools = recordingWg();
    const backend = wireguardBackendFactory({ tools })({
      iface: { name: 'eth0', index: 2, mtu: 1500, ipv4: v4, ipv6: v6 },
      options: { Type: 'wireguard', ListenPort: 40000, ListenPortV6: 40001, MTU: 1400 },
      logger: noopLogger,
      runners: { ip: kernelWithModule(), bridge: new FakeIpRunner() },
      wireguardKeyFile: keyFile,
    });
    const data = await backend.register(new AbortController().signal);
    expect(encodeLeaseAttrs({ publicIp: '192.0.2.1', publicIpv6: '2001:db8::1', ...data })).toBe(
      `{"PublicIP":"192.0.2.1","PublicIPv6":"2001:db8::1","BackendType":"wireguard","BackendData":{"PublicKey":"${PUBLIC}","Port":40000},"BackendV6Data":{"PublicKey":"${PUBLIC}","Port":40001}}`,
    );
    expect(backend.mtu).toBe(1320);
    expect(tools.calls.map((c) => c.slice(0, 2).concat(c.slice(-1)))).toEqual([
      ['set', 'flannel-wg', '40000'],
      ['set', 'flannel-wg-v6', '40001'],
    ]);
  });

  it.each(['auto', 'ipv4', 'ipv6'])(
    'dual stack, mode %s: one device, and BackendV6Data has the port it listens on (upstream says ListenPortV6)',
    async (mode) => {
      const tools = recordingWg();
      const backend = wireguardBackendFactory({ tools })({
        iface: { name: 'eth0', index: 2, mtu: 1500, ipv4: v4, ipv6: v6 },
        options: { Type: 'wireguard', Mode: mode, ListenPort: 40000, ListenPortV6: 40001 },
        logger: noopLogger,
        runners: { ip: kernelWithModule(), bridge: new FakeIpRunner() },
        wireguardKeyFile: keyFile,
      });
      const data = await backend.register(new AbortController().signal);
      expect(encodeLeaseAttrs({ publicIp: '192.0.2.1', publicIpv6: '2001:db8::1', ...data })).toBe(
        `{"PublicIP":"192.0.2.1","PublicIPv6":"2001:db8::1","BackendType":"wireguard","BackendData":{"PublicKey":"${PUBLIC}","Port":40000},"BackendV6Data":{"PublicKey":"${PUBLIC}","Port":40000}}`,
      );
      expect(tools.calls.map((c) => c.slice(0, 2).concat(c.slice(-1)))).toEqual([
        ['set', 'flannel-wg', '40000'],
      ]);
    },
  );

  it('fails clearly when there is neither the kernel module nor a working wireguard-go', async () => {
    const ip = kernelWithModule().answer('link add name flannel-wg type wireguard', (args) => {
      throw new IpCommandError({
        binary: 'ip',
        args,
        exitCode: 2,
        stderr: 'Error: Unknown device type.',
      });
    });
    const tools: WgTools = {
      wg: () => Promise.resolve(''),
      startUserspace: () =>
        Promise.resolve({
          ok: false,
          message: 'ERROR: (flannel-wg) Failed to create TUN device: no such file or directory',
        }),
    };
    const backend = wireguardBackendFactory({ tools })({
      iface: { name: 'eth0', index: 2, mtu: 1500, ipv4: v4 },
      options: { Type: 'wireguard' },
      logger: noopLogger,
      runners: { ip, bridge: new FakeIpRunner() },
      wireguardKeyFile: keyFile,
    });
    await expect(backend.register(new AbortController().signal)).rejects.toThrow(
      'cannot create WireGuard device flannel-wg: the kernel has no wireguard module and wireguard-go failed: ERROR: (flannel-wg) Failed to create TUN device: no such file or directory',
    );
  });
});
