import { existsSync } from 'node:fs';
import { createRecordingLogger } from '@flannel-ts/core/testing';
import { warnWithoutBrNetfilter } from '../../src/sysctl';

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
