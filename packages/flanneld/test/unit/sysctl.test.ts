import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRecordingLogger } from '@flannel-ts/core/testing';
import { warnWithoutBrNetfilter, warnWithoutIpv6Forwarding } from '../../src/sysctl';

describe('warnWithoutBrNetfilter', () => {
  it('checks nothing in nftables mode, as upstream', () => {
    const logger = createRecordingLogger();
    warnWithoutBrNetfilter(logger, { nftables: true });
    expect(logger.lines).toEqual([]);
  });

  it('warns in iptables mode exactly when the br_netfilter sysctl is missing', () => {
    const logger = createRecordingLogger();
    warnWithoutBrNetfilter(logger);
    const loaded = existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables');
    expect(logger.lines.map((l) => l.level)).toEqual(loaded ? [] : ['warn']);
  });
});

describe('warnWithoutIpv6Forwarding', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ft-sysctl-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('says nothing when forwarding is on, and names the sysctl when it is off or unreadable', async () => {
    const on = join(dir, 'on');
    const off = join(dir, 'off');
    await writeFile(on, '1\n');
    await writeFile(off, '0\n');
    const logger = createRecordingLogger();
    await warnWithoutIpv6Forwarding(logger, on);
    expect(logger.lines).toEqual([]);
    await warnWithoutIpv6Forwarding(logger, off);
    await warnWithoutIpv6Forwarding(logger, join(dir, 'missing'));
    expect(logger.lines.map((l) => l.level)).toEqual(['warn', 'warn']);
    expect(logger.lines[0]?.message).toMatch(/set net\.ipv6\.conf\.all\.forwarding=1/);
    expect(logger.fields.map((f) => f?.value)).toEqual(['0', 'unreadable']);
  });
});
