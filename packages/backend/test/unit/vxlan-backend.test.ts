import { createRecordingLogger } from '@flannel-ts/core/testing';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlannelError, formatSubnetKey, noopLogger, parseCidr } from '@flannel-ts/core';
import type { Cidr, Lease } from '@flannel-ts/core';
import {
  HOST_GW_NAT_MESSAGE,
  IpCommandError,
  createHostGwBackend,
  createVxlanBackend,
} from '@flannel-ts/backend';
import type { ExternalInterface } from '@flannel-ts/backend';
import { FakeIpRunner } from '@flannel-ts/backend/testing';

/** Real iproute2 6.1 output; see ../fixtures/README.md. */
function fixture(name: string): string {
  return readFileSync(join(__dirname, '..', 'fixtures', name), 'utf8');
}

// flannel.1 as `ip -json -d addr show` prints it: VNI 1, port 8472, nolearning, on v0, MAC
// 9e:68:27:71:51:f1, holding 10.5.1.0/32; and two incompatible variants (port 4789, VNI 2).
const COMPATIBLE = fixture('addr-show-flannel1.json');
const OTHER_PORT = fixture('addr-show-flannel1-port4789.json');
const OTHER_VNI = fixture('addr-show-flannel1-vni2.json');
const COMPATIBLE_MAC = '9e:68:27:71:51:f1';

/** The compatible device as it looks right after `link add`: no addresses yet. */
function freshDevice(mac: string): string {
  const [link] = JSON.parse(COMPATIBLE) as Record<string, unknown>[];
  return JSON.stringify([{ ...link, address: mac, addr_info: [] }]);
}

const LINK_ADD =
  'link add flannel.1 type vxlan id 1 local 192.0.2.10 dev v0 dstport 8472 nolearning';

const iface: ExternalInterface = {
  name: 'v0',
  index: 3,
  mtu: 1500,
  ipv4: { address: '192.0.2.10', publicIp: '192.0.2.10' },
};

/**
 * A host whose `ip`/`bridge` answers follow what the commands did: `link del` removes flannel.1,
 * the expected `link add` creates it. Any command the test did not plan for fails the test.
 */
function fakeHost(device: string | undefined) {
  const host = { device, routes: '[]', neigh: '[]', fdb: '[]', blackholes: '[]' };
  /** What a batch line does to the host (lines without an effect change nothing). */
  const effects = new Map<string, () => void>([
    ['link del dev flannel.1', () => (host.device = undefined)],
  ]);
  const ip = new FakeIpRunner({
    answers: {
      '-json -d addr show dev v0': fixture('addr-show-v0.json'),
      '-json -d addr show dev flannel.1': (args) => {
        if (host.device !== undefined) return host.device;
        throw new IpCommandError({
          binary: 'ip',
          args,
          exitCode: 1,
          stderr: fixture('addr-show-missing.stderr'),
        });
      },
      '-json route show dev flannel.1': () => host.routes,
      '-json neigh show dev flannel.1': () => host.neigh,
      '-json route show type blackhole': () => host.blackholes,
    },
    onBatch: (lines) => lines.forEach((l) => effects.get(l)?.()),
  });
  const bridge = new FakeIpRunner({
    answers: { '-json fdb show dev flannel.1': () => host.fdb },
  });
  /** Answers `command` (a `link add`) by creating the device as `created`. */
  const creates = (command: string, created: string): void => {
    effects.set(command, () => (host.device = created));
  };
  return { host, ip, bridge, creates };
}

const signal = new AbortController().signal;
const commands = (r: FakeIpRunner): string[] => r.history;

describe('vxlan backend register', () => {
  it('creates a missing flannel.1 and advertises its VNI and MAC', async () => {
    const h = fakeHost(undefined);
    h.creates(LINK_ADD, COMPATIBLE);
    const backend = createVxlanBackend({
      iface,
      options: { Type: 'vxlan' },
      logger: noopLogger,
      runners: h,
    });

    const data = await backend.register(signal);

    expect(data).toEqual({
      backendType: 'vxlan',
      backendData: { VNI: 1, VtepMAC: COMPATIBLE_MAC },
    });
    expect(commands(h.ip)).toEqual([
      '-json -d addr show dev flannel.1',
      LINK_ADD,
      'link set dev flannel.1 mtu 1450 up',
      '-json -d addr show dev flannel.1',
    ]);
  });

  it('reuses a compatible flannel.1 with its existing MAC', async () => {
    const h = fakeHost(COMPATIBLE);
    const logger = createRecordingLogger();
    const backend = createVxlanBackend({ iface, options: {}, logger, runners: h });

    const data = await backend.register(signal);

    expect(data.backendData).toEqual({ VNI: 1, VtepMAC: COMPATIBLE_MAC });
    // It is up with the right MTU already: one read, nothing to change.
    expect(commands(h.ip)).toEqual(['-json -d addr show dev flannel.1']);
    expect(logger.lines).toContainEqual({
      level: 'info',
      message: 'VXLAN device already exists; reusing it and its MAC',
    });
  });

  it.each([
    ['another port', OTHER_PORT],
    ['another VNI', OTHER_VNI],
  ])('deletes a flannel.1 with %s and creates it anew', async (_name, existing) => {
    const h = fakeHost(existing);
    h.creates(LINK_ADD, freshDevice('02:11:22:33:44:55'));
    const logger = createRecordingLogger();
    const backend = createVxlanBackend({ iface, options: {}, logger, runners: h });

    const data = await backend.register(signal);

    expect(data.backendData).toEqual({ VNI: 1, VtepMAC: '02:11:22:33:44:55' });
    expect(commands(h.ip).slice(0, 3)).toEqual([
      '-json -d addr show dev flannel.1',
      'link del dev flannel.1',
      LINK_ADD,
    ]);
    expect(logger.lines).toContainEqual({
      level: 'warn',
      message: 'replacing incompatible device',
    });
  });

  it('reuses a device on the configured Port rather than the default one', async () => {
    const h = fakeHost(OTHER_PORT);
    const backend = createVxlanBackend({
      iface,
      options: { Port: 4789 },
      logger: noopLogger,
      runners: h,
    });

    const data = await backend.register(signal);

    expect(data.backendData).toEqual({ VNI: 1, VtepMAC: '46:2f:7d:75:1f:95' });
    expect(commands(h.ip).some((c) => c.startsWith('link add'))).toBe(false);
  });

  it('passes VNI, Port, Learning and GBP options to link add', async () => {
    const h = fakeHost(undefined);
    const add =
      'link add flannel.7 type vxlan id 7 local 192.0.2.10 dev v0 dstport 4789 learning gbp';
    const created = freshDevice('02:00:00:00:00:07');
    h.ip.answer('-json -d addr show dev flannel.7', (args) => {
      if (commands(h.ip).includes(add)) return created;
      throw new IpCommandError({
        binary: 'ip',
        args,
        exitCode: 1,
        stderr: 'Device "flannel.7" does not exist.\n',
      });
    });
    const backend = createVxlanBackend({
      iface,
      options: { vni: 7, port: 4789, learning: true, gbp: true },
      logger: noopLogger,
      runners: h,
    });

    const data = await backend.register(signal);

    expect(data.backendData).toEqual({ VNI: 7, VtepMAC: '02:00:00:00:00:07' });
    expect(commands(h.ip)).toContain(add);
  });
});

describe('vxlan backend MTU', () => {
  it('is the interface MTU minus 50', () => {
    const backend = createVxlanBackend({
      iface,
      options: {},
      logger: noopLogger,
      runners: fakeHost(undefined),
    });
    expect(backend.mtu).toBe(1450);
  });

  it('honours the MTU option as the underlay MTU and sets the device to it minus 50', async () => {
    const h = fakeHost(COMPATIBLE);
    const backend = createVxlanBackend({
      iface,
      options: { MTU: 9000 },
      logger: noopLogger,
      runners: h,
    });

    expect(backend.mtu).toBe(8950);
    await backend.register(signal);
    expect(commands(h.ip)).toContain('link set dev flannel.1 mtu 8950 up');
  });
});

describe('vxlan backend data plane', () => {
  const network = parseCidr('10.5.0.0/16') as Cidr;
  const lease = (subnet: string, publicIp: string, mac?: string): Lease => ({
    subnets: { ipv4: parseCidr(subnet) as Cidr },
    attrs: {
      publicIp,
      publicIpv6: null,
      backendType: 'vxlan',
      backendData: mac === undefined ? undefined : { VNI: 1, VtepMAC: mac },
    },
    ttlLeaseId: '100',
  });
  const own = lease('10.5.1.0/24', '192.0.2.10', COMPATIBLE_MAC);
  const peers = [
    lease('10.5.2.0/24', '192.0.2.11', 'aa:bb:cc:dd:ee:01'),
    lease('10.5.3.0/24', '198.51.100.7', 'aa:bb:cc:dd:ee:02'),
  ];
  const programAll = {
    bridge: [
      'fdb replace aa:bb:cc:dd:ee:01 dev flannel.1 dst 192.0.2.11 self permanent',
      'fdb replace aa:bb:cc:dd:ee:02 dev flannel.1 dst 198.51.100.7 self permanent',
    ],
    ip: [
      'neigh replace 10.5.2.0 lladdr aa:bb:cc:dd:ee:01 dev flannel.1 nud permanent',
      'neigh replace 10.5.3.0 lladdr aa:bb:cc:dd:ee:02 dev flannel.1 nud permanent',
      'route replace 10.5.2.0/24 via 10.5.2.0 dev flannel.1 onlink',
      'route replace 10.5.3.0/24 via 10.5.3.0 dev flannel.1 onlink',
    ],
  };

  /** What `ip -json`/`bridge -json` print once both peers are programmed. */
  const programmed = (host: { routes: string; neigh: string; fdb: string }): void => {
    host.routes =
      '[{"dst":"10.5.2.0/24","gateway":"10.5.2.0","flags":["onlink"]},{"dst":"10.5.3.0/24","gateway":"10.5.3.0","flags":["onlink"]}]';
    host.neigh =
      '[{"dst":"10.5.2.0","lladdr":"aa:bb:cc:dd:ee:01","state":["PERMANENT"]},{"dst":"10.5.3.0","lladdr":"aa:bb:cc:dd:ee:02","state":["PERMANENT"]}]';
    host.fdb =
      '[{"mac":"aa:bb:cc:dd:ee:01","dst":"192.0.2.11","flags":["self"],"state":"permanent"},{"mac":"aa:bb:cc:dd:ee:02","dst":"198.51.100.7","flags":["self"],"state":"permanent"}]';
  };

  const keyed = (ls: readonly Lease[]) => ls.map((l) => [formatSubnetKey(l.subnets), l] as const);

  it('programs every peer with one bridge batch and one ip batch on the first pass', async () => {
    const h = fakeHost(COMPATIBLE);
    const backend = createVxlanBackend({ iface, options: {}, logger: noopLogger, runners: h });
    await backend.register(signal);
    const dataPlane = (await backend.start(own, { ipv4: network }, signal))!;

    dataPlane.update(keyed(peers));
    const report = await dataPlane.resync(signal);

    expect(report).toEqual({ changes: 6, repairs: 0, programmedPeers: 2, skippedPeers: [] });
    expect(h.bridge.batches).toEqual([programAll.bridge]);
    // The device already holds 10.5.1.0/32, so the only ip batch is the peers'.
    expect(h.ip.batches).toEqual([programAll.ip]);
  });

  it('changes nothing on a full pass when the kernel already holds every peer', async () => {
    const h = fakeHost(COMPATIBLE);
    programmed(h.host);
    const backend = createVxlanBackend({ iface, options: {}, logger: noopLogger, runners: h });
    const dataPlane = (await backend.start(own, { ipv4: network }, signal))!;

    dataPlane.update(keyed(peers));
    const report = await dataPlane.resync(signal);

    expect(report.changes).toBe(0);
    expect(h.ip.batches).toEqual([]);
    expect(h.bridge.batches).toEqual([]);
  });

  it('programs a just-created device without reading the kernel first', async () => {
    const h = fakeHost(undefined);
    h.creates(LINK_ADD, freshDevice(COMPATIBLE_MAC));
    const backend = createVxlanBackend({ iface, options: {}, logger: noopLogger, runners: h });
    await backend.register(signal);
    const dataPlane = (await backend.start(own, { ipv4: network }, signal))!;

    dataPlane.update(keyed(peers));
    await dataPlane.resync(signal);

    expect(commands(h.ip).filter((c) => c.startsWith('-json'))).toEqual([
      '-json -d addr show dev flannel.1',
      '-json -d addr show dev flannel.1',
      '-json -d addr show dev v0',
    ]);
    expect(h.bridge.calls).toEqual([]);
    expect(h.bridge.batches).toEqual([programAll.bridge]);
  });

  it('reads no link for the connected networks when interface selection handed them over', async () => {
    const h = fakeHost(COMPATIBLE);
    const withNetworks = {
      ...iface,
      ipv4: {
        address: '192.0.2.10',
        publicIp: '192.0.2.10',
        connected: [parseCidr('192.0.2.0/24') as Cidr],
      },
    };
    const backend = createVxlanBackend({
      iface: withNetworks,
      options: {},
      logger: noopLogger,
      runners: h,
    });
    await backend.register(signal);
    await backend.start(own, { ipv4: network }, signal);

    expect(commands(h.ip)).not.toContain('-json -d addr show dev v0');
  });

  it('applies only the peer that changed on a lease event, without reading the kernel', async () => {
    const h = fakeHost(COMPATIBLE);
    programmed(h.host);
    const backend = createVxlanBackend({ iface, options: {}, logger: noopLogger, runners: h });
    const dataPlane = (await backend.start(own, { ipv4: network }, signal))!;
    dataPlane.update(keyed(peers));
    await dataPlane.resync(signal);
    const reads = h.ip.calls.length;

    const moved = lease('10.5.3.0/24', '198.51.100.8', 'aa:bb:cc:dd:ee:02');
    dataPlane.update(keyed([moved]));
    expect(dataPlane.pending).toBe(true);
    const report = await dataPlane.apply(signal);

    expect(report.changes).toBe(1);
    expect(h.bridge.batches).toEqual([
      ['fdb replace aa:bb:cc:dd:ee:02 dev flannel.1 dst 198.51.100.8 self permanent'],
    ]);
    expect(h.ip.batches).toEqual([]);
    expect(h.ip.calls.length).toBe(reads);
    expect(dataPlane.pending).toBe(false);
  });

  it('rebuilds a deleted flannel.1 with the advertised MAC and re-programs every peer (D8)', async () => {
    const h = fakeHost(COMPATIBLE);
    programmed(h.host);
    const logger = createRecordingLogger();
    const backend = createVxlanBackend({ iface, options: {}, logger, runners: h });
    await backend.register(signal);
    const dataPlane = (await backend.start(own, { ipv4: network }, signal))!;
    dataPlane.update(keyed(peers));
    await dataPlane.resync(signal);

    // Someone runs `ip link del flannel.1`: the device and every entry on it are gone.
    Object.assign(h.host, { device: undefined, routes: '[]', neigh: '[]', fdb: '[]' });
    const add = `link add flannel.1 address ${COMPATIBLE_MAC} type vxlan id 1 local 192.0.2.10 dev v0 dstport 8472 nolearning`;
    h.creates(add, freshDevice(COMPATIBLE_MAC));
    const report = await dataPlane.resync(signal);

    expect(report.changes).toBe(6);
    expect(h.ip.batches).toEqual([
      [add, 'link set dev flannel.1 mtu 1450 up'],
      ['addr add 10.5.1.0/32 dev flannel.1'],
      programAll.ip,
    ]);
    expect(h.bridge.batches).toEqual([programAll.bridge]);
    expect(logger.lines).toContainEqual({
      level: 'warn',
      message: 'VXLAN device was missing or down; rebuilt it and re-programming every peer',
    });
  });

  it('reports a peer without a VTEP MAC as skipped and programs the rest', async () => {
    const h = fakeHost(COMPATIBLE);
    const backend = createVxlanBackend({ iface, options: {}, logger: noopLogger, runners: h });
    const dataPlane = (await backend.start(own, { ipv4: network }, signal))!;

    dataPlane.update(keyed([...peers, lease('10.5.4.0/24', '192.0.2.14')]));
    const report = await dataPlane.resync(signal);

    expect(report.programmedPeers).toBe(2);
    expect(report.skippedPeers).toEqual(['10.5.4.0/24 (192.0.2.14)']);
  });

  it('fails a pass with the refused lines named, and retries them on the next full pass', async () => {
    const h = fakeHost(COMPATIBLE);
    let refuse = true;
    const bridge = new FakeIpRunner({
      answers: { '-json fdb show dev flannel.1': () => h.host.fdb },
      onBatch: (lines) => {
        if (!refuse) return;
        throw new IpCommandError({
          binary: 'bridge',
          args: ['-force', '-batch', '-'],
          exitCode: undefined,
          stderr: 'RTNETLINK answers: Invalid argument',
          failedLines: [
            { lineNumber: 1, line: lines[0], message: 'RTNETLINK answers: Invalid argument' },
          ],
        });
      },
    });
    const backend = createVxlanBackend({
      iface,
      options: {},
      logger: noopLogger,
      runners: { ip: h.ip, bridge },
    });
    const dataPlane = (await backend.start(own, { ipv4: network }, signal))!;
    dataPlane.update(keyed(peers));

    await expect(dataPlane.resync(signal)).rejects.toThrow(
      /the kernel refused 1 change\(s\): "fdb replace aa:bb:cc:dd:ee:01 dev flannel.1 dst 192.0.2.11 self permanent": RTNETLINK answers: Invalid argument/,
    );
    // The kernel took the second peer's entry and not the first's.
    h.host.fdb =
      '[{"mac":"aa:bb:cc:dd:ee:02","dst":"198.51.100.7","flags":["self"],"state":"permanent"}]';
    refuse = false;
    await dataPlane.resync(signal);
    expect(bridge.batches.at(-1)).toEqual([programAll.bridge[0]]);
  });
});

describe('vxlan device settings: accept_ra and TX checksum offload', () => {
  const network = parseCidr('10.5.0.0/16');
  const own: Lease = {
    subnets: { ipv4: parseCidr('10.5.1.0/24') as Cidr },
    attrs: { publicIp: '192.0.2.10', publicIpv6: null, backendType: 'vxlan' },
    ttlLeaseId: '100',
  };
  const ACCEPT_RA_OFF = 'net/ipv6/conf/flannel.1/accept_ra=0';
  const OFFLOAD_OFF = 'flannel.1 tx-checksum-ip-generic off';

  /** Records each sysctl write as `key=value`; fails each with errno `code` when one is given. */
  function recordingSysctl(code?: string) {
    const writes: string[] = [];
    return {
      writes,
      set: (key: string, value: string): Promise<void> => {
        writes.push(`${key}=${value}`);
        if (!code) return Promise.resolve();
        return Promise.reject(Object.assign(new Error(`${code}: cannot write ${key}`), { code }));
      },
    };
  }

  /** Records each `ethtool -K` as `device feature on|off`; fails them all with `error` if given. */
  function recordingEthtool(error?: Error) {
    const calls: string[] = [];
    return {
      calls,
      set: (device: string, feature: string, on: boolean): Promise<void> => {
        calls.push(`${device} ${feature} ${on ? 'on' : 'off'}`);
        return error ? Promise.reject(error) : Promise.resolve();
      },
    };
  }

  /** A backend on a host that has a compatible flannel.1, with recording sysctl and ethtool. */
  function backendWith(
    setting: { mode: 'auto' | 'on' | 'off'; kernelRelease: string } | undefined,
    runners: {
      sysctl?: ReturnType<typeof recordingSysctl>;
      ethtool?: ReturnType<typeof recordingEthtool>;
    } = {},
  ) {
    const h = fakeHost(COMPATIBLE);
    const sysctl = runners.sysctl ?? recordingSysctl();
    const ethtool = runners.ethtool ?? recordingEthtool();
    const logger = createRecordingLogger();
    const backend = createVxlanBackend({
      iface,
      options: {},
      logger,
      runners: { ...h, sysctl, ethtool },
      vxlanChecksumOffload: setting,
    });
    /** Someone deletes flannel.1; the next pass rebuilds it with our MAC. */
    const deleteDevice = (): void => {
      h.host.device = undefined;
      h.creates(
        `link add flannel.1 address ${COMPATIBLE_MAC} type vxlan id 1 local 192.0.2.10 dev v0 dstport 8472 nolearning`,
        freshDevice(COMPATIBLE_MAC),
      );
    };
    return { backend, sysctl, ethtool, logger, deleteDevice };
  }

  it('sets both at start and again on the device rebuilt after a deletion, not on every pass', async () => {
    const t = backendWith({ mode: 'off', kernelRelease: '6.1.0' });
    await t.backend.register(signal);
    const dataPlane = (await t.backend.start(own, { ipv4: network }, signal))!;
    await dataPlane.resync(signal);
    await dataPlane.resync(signal);
    expect({ sysctl: t.sysctl.writes, ethtool: t.ethtool.calls }).toEqual({
      sysctl: [ACCEPT_RA_OFF],
      ethtool: [OFFLOAD_OFF],
    });

    t.deleteDevice();
    await dataPlane.resync(signal);

    expect({ sysctl: t.sysctl.writes, ethtool: t.ethtool.calls }).toEqual({
      sysctl: [ACCEPT_RA_OFF, ACCEPT_RA_OFF],
      ethtool: [OFFLOAD_OFF, OFFLOAD_OFF],
    });
  });

  it('turns offload off on a kernel with the checksum bug, and says so', async () => {
    const t = backendWith({ mode: 'auto', kernelRelease: '5.4.0-150-generic' });

    await t.backend.register(signal);

    expect(t.ethtool.calls).toEqual([OFFLOAD_OFF]);
    expect(t.logger.lines).toContainEqual({
      level: 'info',
      message: 'TX checksum offload off on the VXLAN device',
    });
  });

  it('leaves offload alone on a fixed kernel or without the setting, and sets it on when told to', async () => {
    for (const [setting, calls] of [
      [{ mode: 'auto', kernelRelease: '6.1.0-27-amd64' }, []],
      [undefined, []],
      [{ mode: 'on', kernelRelease: '6.1.0-27-amd64' }, ['flannel.1 tx-checksum-ip-generic on']],
    ] as const) {
      const t = backendWith(setting);
      await t.backend.register(signal);
      expect({ setting, calls: t.ethtool.calls }).toEqual({ setting, calls });
    }
  });

  it('says nothing on a host without IPv6 (no accept_ra) and warns on any other sysctl failure, going on', async () => {
    for (const [code, warned] of [
      ['ENOENT', false],
      ['EACCES', true],
    ] as const) {
      const t = backendWith(undefined, { sysctl: recordingSysctl(code) });

      await expect(t.backend.register(signal)).resolves.toMatchObject({ backendType: 'vxlan' });
      expect(t.logger.lines.filter((l) => l.level === 'warn')).toEqual(
        warned
          ? [
              {
                level: 'warn',
                message:
                  'could not turn off IPv6 router advertisements on the VXLAN device; it may take addresses or routes from them',
              },
            ]
          : [],
      );
    }
  });

  it('warns, naming what goes wrong, when ethtool fails, and goes on', async () => {
    const t = backendWith(
      { mode: 'off', kernelRelease: '6.1.0' },
      { ethtool: recordingEthtool(new Error('ethtool is not installed')) },
    );

    await expect(t.backend.register(signal)).resolves.toMatchObject({ backendType: 'vxlan' });
    expect(t.logger.lines).toContainEqual({
      level: 'warn',
      message:
        'could not turn TX checksum offload off on the VXLAN device; TCP and UDP between containers may stall where the kernel corrupts VXLAN checksums',
    });
  });
});

describe('host-gw backend register', () => {
  it('rejects a public IP that differs from the interface address, with upstream’s message', async () => {
    const backend = createHostGwBackend({
      iface: { ...iface, ipv4: { address: '192.0.2.10', publicIp: '203.0.113.5' } },
      options: {},
      logger: noopLogger,
      runners: fakeHost(undefined),
    });

    const failure = backend.register(signal);

    await expect(failure).rejects.toBeInstanceOf(FlannelError);
    await expect(failure).rejects.toThrow(HOST_GW_NAT_MESSAGE);
  });

  it('advertises host-gw with no backend data and keeps the interface MTU', async () => {
    const h = fakeHost(undefined);
    const backend = createHostGwBackend({ iface, options: {}, logger: noopLogger, runners: h });

    await expect(backend.register(signal)).resolves.toEqual({ backendType: 'host-gw' });
    expect(backend.mtu).toBe(1500);
    expect(h.ip.calls).toEqual([]);
  });
});
