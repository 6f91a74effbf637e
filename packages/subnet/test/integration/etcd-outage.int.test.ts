import { randomBytes } from 'node:crypto';
import { parseCidr } from '@flannel-ts/core';
import { createRecordingLogger, waitUntil } from '@flannel-ts/core/testing';
import type { RecordingLogger } from '@flannel-ts/core/testing';
import { createEtcdLeaseStore } from '@flannel-ts/subnet';
import type { LeaseBatch, LeaseStore } from '@flannel-ts/subnet';
import type { EtcdServer, TcpProxy } from '@flannel-ts/subnet/testing';
import { startEtcd, startTcpProxy } from '@flannel-ts/subnet/testing';

// The outage is the thing under test, so its length is fixed (FLANNEL_OUTAGE_MS to try others).
const OUTAGE_MS = Number(process.env['FLANNEL_OUTAGE_MS'] ?? 8000);
jest.setTimeout(OUTAGE_MS + 60_000);

let etcd: EtcdServer | undefined;
let proxy: TcpProxy | undefined;
let store: LeaseStore | undefined;
const ctl = new AbortController();

afterEach(async () => {
  ctl.abort();
  await store?.close();
  await proxy?.close();
  await etcd?.stop();
});

/** Collects what a watch yields, in the background, until the test's signal aborts. */
function collect(watch: AsyncIterable<LeaseBatch>): LeaseBatch[] {
  const seen: LeaseBatch[] = [];
  void (async () => {
    for await (const b of watch) seen.push(b);
  })().catch(() => undefined);
  return seen;
}

/** The public IPs the events of a watch carried, in order. */
function ips(seen: readonly LeaseBatch[]): string[] {
  return seen.flatMap((b) =>
    b.kind === 'events'
      ? b.events.flatMap((e) => (e.type === 'added' ? [e.lease.attrs.publicIp] : []))
      : [],
  );
}

/** Log lines at info and above, debug detail excluded. */
function visible(logger: RecordingLogger) {
  return logger.lines.filter((l) => l.level !== 'debug');
}

describe('an etcd outage under a store with two watches', () => {
  it('is logged in two lines, and both watches deliver what is written after it', async () => {
    etcd = await startEtcd();
    proxy = await startTcpProxy(etcd.endpoint);
    const logger = createRecordingLogger();
    const prefix = `/t-${randomBytes(4).toString('hex')}/network`;
    store = await createEtcdLeaseStore({ endpoints: [proxy.endpoint], prefix, logger });
    const own = { ipv4: parseCidr('10.5.1.0/24')! };
    const key = `${prefix}/subnets/10.5.1.0-24`;
    // The agent's two watches: all leases (peers) and our own key.
    const peers = collect(store.watch('1', ctl.signal));
    const mine = collect(store.watch('1', ctl.signal, own));
    await etcd.etcdctl(['put', key, '{"PublicIP":"192.0.2.1"}']);
    await waitUntil(() => ips(peers).length + ips(mine).length === 2, 'the first put on both');
    const before = visible(logger).length;
    const logged = (re: RegExp) => () =>
      visible(logger).some((l, i) => i >= before && re.test(l.message));

    await proxy.cut();
    await waitUntil(logged(/^etcd is unreachable/), 'the outage line');
    const cpuBefore = process.cpuUsage();
    const cutAt = Date.now();
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    const cpu = process.cpuUsage(cpuBefore);
    const cpuPercent = ((cpu.user + cpu.system) / 1000 / (Date.now() - cutAt)) * 100;
    await proxy.restore();
    await etcd.etcdctl(['put', key, '{"PublicIP":"192.0.2.2"}']);
    const tookMs = await waitUntil(
      () => ips(peers).includes('192.0.2.2') && ips(mine).includes('192.0.2.2'),
      'the put made after etcd returned, on both watches',
      15_000,
    );
    await waitUntil(logged(/^etcd is reachable again/), 'the recovery line');

    const during = visible(logger).slice(before);
    expect(during.map((l) => `${l.level} ${l.message.split(':')[0]}`)).toEqual([
      'warn etcd is unreachable',
      'info etcd is reachable again',
    ]);
    const back =
      logger.fields[logger.lines.findIndex((l) => l.message === 'etcd is reachable again')];
    expect(back?.['endpoints']).toBe(proxy.endpoint);
    expect(back?.['retries']).toBeGreaterThan(0);
    expect(back?.['downForMs']).toBeGreaterThanOrEqual(OUTAGE_MS);
    // Nothing is lost or repeated: the events are the two puts, each once.
    expect(ips(peers)).toEqual(['192.0.2.1', '192.0.2.2']);
    expect(ips(mine)).toEqual(['192.0.2.1', '192.0.2.2']);
    process.stdout.write(
      `etcd outage ${OUTAGE_MS} ms: ${during.length} lines, put seen ${tookMs} ms after etcd ` +
        `returned, ${String(back?.['retries'])} retries, ` +
        `${cpuPercent.toFixed(2)} % CPU of the test process (noisy: jest)\n`,
    );
  });
});
