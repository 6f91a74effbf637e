import { createRecordingLogger, ManualClock, waitUntil } from '@flannel-ts/core/testing';
import { FlannelError, formatCidr, parseCidr, systemClock } from '@flannel-ts/core';
import type { Cidr, Clock, Lease, LeaseAttrs, SubnetPair } from '@flannel-ts/core';
import type { DataPlane, PeerState, SyncReport } from '@flannel-ts/backend';
import type { SubnetRange } from '@flannel-ts/subnet';
import { InMemoryLeaseStore } from '@flannel-ts/subnet/testing';
import { DataPlaneSync } from '../../src/data-plane-sync';
import type { DataPlaneMetrics } from '../../src/data-plane-sync';

const subnets = (v4: string): SubnetPair => ({ ipv4: parseCidr(v4) as Cidr });
const vxlan = (publicIp: string, mac: string): LeaseAttrs => ({
  publicIp,
  publicIpv6: null,
  backendType: 'vxlan',
  backendData: { VNI: 1, VtepMAC: mac },
});

const OWN = subnets('10.5.1.0/24');
const retryable = (message: string): Error =>
  new FlannelError('IP_COMMAND_FAILED', message, { disposition: 'retry' });
const A = subnets('10.5.2.0/24');
const B = subnets('10.5.3.0/24');
const C = subnets('10.5.4.0/24');
const HOST_GW = subnets('10.5.9.0/24');
const NETWORK: SubnetRange = {
  network: parseCidr('10.5.0.0/16') as Cidr,
  subnetLen: 24,
  subnetMin: (parseCidr('10.5.1.0/24') as Cidr).address,
  subnetMax: (parseCidr('10.5.255.0/24') as Cidr).address,
};

/** One `sync` call: the peers' subnets (sorted) and whether it was a full pass. */
interface SyncCall {
  readonly peers: string[];
  readonly full: boolean;
}

/**
 * A DataPlane that records every pass (the peer set it holds then, and whether it was a full
 * pass); can fail the next passes or hold one until released, and lets the test play the kernel
 * monitor through `kernelDirty`.
 */
class RecordingDataPlane implements DataPlane {
  readonly calls: SyncCall[] = [];
  readonly failures: Error[] = [];
  gate: Promise<void> | undefined;
  kernelDirty: ((needFullPass: boolean) => void) | undefined;
  private readonly peers = new Map<string, Lease>();
  private dirty = false;

  update(changes: Iterable<readonly [string, Lease | undefined]>): void {
    for (const [key, lease] of changes) {
      if (lease) this.peers.set(key, lease);
      else this.peers.delete(key);
    }
    this.dirty = true;
  }

  get pending(): boolean {
    return this.dirty;
  }

  apply(signal?: AbortSignal): Promise<SyncReport> {
    return this.pass(false, signal);
  }

  resync(signal?: AbortSignal): Promise<SyncReport> {
    return this.pass(true, signal);
  }

  /** Not read by the sync under test. */
  peerStates(): readonly PeerState[] {
    return [];
  }

  watch(onDirty: (needFullPass: boolean) => void, signal: AbortSignal): Promise<void> {
    this.kernelDirty = (full) => {
      this.dirty = true;
      onDirty(full);
    };
    return new Promise((resolve) => signal.addEventListener('abort', () => resolve()));
  }

  private async pass(full: boolean, signal?: AbortSignal): Promise<SyncReport> {
    this.dirty = false;
    const peers = [...this.peers.values()];
    this.calls.push({ peers: peers.map((p) => formatCidr(p.subnets.ipv4)).sort(), full });
    if (this.gate) await this.gate;
    signal?.throwIfAborted();
    const failure = this.failures.shift();
    if (failure) throw failure;
    return { changes: peers.length, repairs: 0, programmedPeers: peers.length, skippedPeers: [] };
  }
}

/** Lets every pending promise callback and timer of this turn run. */
const settle = (): Promise<void> => systemClock.sleep(20);

const running: { abort: AbortController; done: Promise<void> }[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    r.abort.abort();
    await r.done;
  }
});

function start(options: { clock?: Clock; reconcileIntervalMs?: number } = {}) {
  const store = new InMemoryLeaseStore();
  const own = store.put(OWN, vxlan('192.0.2.10', 'aa:bb:cc:dd:ee:10'));
  store.put(A, vxlan('192.0.2.11', 'aa:bb:cc:dd:ee:01'));
  store.put(HOST_GW, { publicIp: '192.0.2.19', publicIpv6: null, backendType: 'host-gw' });
  const dataPlane = new RecordingDataPlane();
  const logger = createRecordingLogger();
  const clock = options.clock ?? new ManualClock();
  const abort = new AbortController();
  const recorded = { changes: 0, repairs: 0, delays: [] as number[], rejected: [] as string[] };
  const metrics: DataPlaneMetrics = {
    kernelChanges: (n) => (recorded.changes += n),
    repairs: (n) => (recorded.repairs += n),
    eventToKernel: (s) => recorded.delays.push(s),
    leaseRejected: (r) => recorded.rejected.push(r),
  };
  const sync = new DataPlaneSync({
    store,
    dataPlane,
    own,
    backendType: 'vxlan',
    network: { ipv4: NETWORK },
    reconcileIntervalMs: options.reconcileIntervalMs ?? 60_000,
    clock,
    logger,
    metrics,
  });
  /** Runs the three tasks as the agent does: the kernel watch after the first pass. */
  const launch = (): Promise<void> => {
    const signal = abort.signal;
    const done = Promise.all([
      sync.watchPeers(signal),
      sync.run(signal),
      Promise.race([
        sync.firstPass,
        new Promise<void>((r) => signal.addEventListener('abort', () => r())),
      ]).then(() => (signal.aborted ? undefined : sync.watchKernel(signal))),
    ]).then(() => undefined);
    running.push({ abort, done });
    return done;
  };
  return { store, dataPlane, logger, abort, launch, calls: dataPlane.calls, sync, recorded, clock };
}

describe('DataPlaneSync', () => {
  it('records kernel changes and the time from lease event to kernel, and reports its state', async () => {
    const t = start();
    void t.launch();
    await waitUntil(() => t.sync.state().inSync, 'the first pass');
    expect(t.sync.state()).toMatchObject({ inSync: true, knownPeers: 1 });
    expect(t.recorded.changes).toBe(1);
    expect(t.recorded.delays).toEqual([0]);
    (t.clock as ManualClock).advance(0);
    t.store.put(B, vxlan('192.0.2.12', 'aa:bb:cc:dd:ee:02'));
    await waitUntil(() => t.recorded.delays.length === 2, 'the lease event to be programmed');
    expect(t.recorded.changes).toBe(3);
    t.store.put(C, vxlan('192.0.2.10', 'aa:bb:cc:dd:ee:03'));
    await waitUntil(() => t.recorded.rejected.length === 2, 'the rejection');
    // The listing's host-gw lease first, then the one that claims our public IP.
    expect(t.recorded.rejected).toEqual([
      'BackendType is not the backend of this network',
      'PublicIP is our own public IP',
    ]);
  });

  it('ends with a permanent error instead of retrying it for ever (the supervisor stops the agent)', async () => {
    const t = start();
    t.dataPlane.failures.push(
      new FlannelError(
        'VTEP_MAC_CHANGED',
        'flannel.1 has MAC aa:aa:aa:aa:aa:aa but our lease advertises …',
      ),
    );
    const signal = t.abort.signal;
    const watch = t.sync.watchPeers(signal);
    await expect(t.sync.run(signal)).rejects.toMatchObject({ code: 'VTEP_MAC_CHANGED' });
    expect(t.calls).toHaveLength(1);
    t.abort.abort();
    await watch;
  });

  it('ends the peer watch with a restart error when the stream ends; run again, it re-lists', async () => {
    const t = start();
    const signal = t.abort.signal;
    const loop = t.sync.run(signal);
    const watch = t.sync.watchPeers(signal);
    await waitUntil(() => t.calls.length >= 1, 'the first pass');
    t.store.endWatches();
    await expect(watch).rejects.toMatchObject({ code: 'TASK_ENDED', disposition: 'restart' });
    // Meanwhile a peer arrives that no watch saw; the restarted watch's listing brings it.
    t.store.put(C, vxlan('192.0.2.13', 'aa:bb:cc:dd:ee:03'));
    const again = t.sync.watchPeers(signal);
    await waitUntil(() => t.calls.some((c) => c.peers.includes('10.5.4.0/24')), 'the re-list');
    t.abort.abort();
    await Promise.all([loop, again]);
  });

  it('starts with a full sync of the listed peers, without our own or other backends’ leases', async () => {
    const t = start();
    void t.launch();

    await waitUntil(() => t.calls.length >= 1, 'the first sync');
    expect(t.calls[0]).toEqual({ peers: ['10.5.2.0/24'], full: true });
  });

  it('applies a kernel repair at once and runs a full pass when the monitor missed events', async () => {
    const t = start();
    void t.launch();
    await waitUntil(() => t.dataPlane.kernelDirty !== undefined && t.calls.length >= 1, 'start');

    t.dataPlane.kernelDirty!(false);
    await waitUntil(() => t.calls.length >= 2, 'the repair pass');
    t.dataPlane.kernelDirty!(true);
    await waitUntil(() => t.calls.length >= 3, 'the full pass after a monitor gap');

    expect(t.calls.map((c) => c.full)).toEqual([true, false, true]);
  });

  it('logs lease events at debug level only: one info line for the first programming', async () => {
    const t = start();
    void t.launch();
    await waitUntil(() => t.calls.length >= 1, 'the first sync');
    t.store.put(B, vxlan('192.0.2.12', 'aa:bb:cc:dd:ee:02'));
    t.store.put(C, vxlan('192.0.2.13', 'aa:bb:cc:dd:ee:03'));
    await waitUntil(() => t.calls.some((c) => c.peers.includes('10.5.4.0/24')), 'C programmed');

    expect(t.logger.lines.filter((l) => l.level === 'info')).toEqual([
      { level: 'info', message: 'data plane in sync' },
    ]);
  });

  it('syncs incrementally when a peer’s lease is put or removed', async () => {
    const t = start();
    void t.launch();
    await waitUntil(() => t.calls.length >= 1, 'the first sync');

    t.store.put(B, vxlan('192.0.2.12', 'aa:bb:cc:dd:ee:02'));
    await waitUntil(() => t.calls.length >= 2, 'a sync after the put');
    t.store.delete(A);
    await waitUntil(() => t.calls.length >= 3, 'a sync after the delete');

    expect(t.calls.slice(1)).toEqual([
      { peers: ['10.5.2.0/24', '10.5.3.0/24'], full: false },
      { peers: ['10.5.3.0/24'], full: false },
    ]);
  });

  it('removes a peer whose lease is overwritten with garbage, and warns once naming the key', async () => {
    const t = start();
    void t.launch();
    await waitUntil(() => t.calls.length >= 1, 'the first sync');

    t.store.putRaw('10.5.2.0-24', '{"PublicIP":"192.0.2.11"');
    await waitUntil(() => t.calls.length >= 2, 'a sync after the overwrite');
    t.store.putRaw('10.5.2.0-24', '{"PublicIP":"192.0.2.11",');
    // Events arrive in order: once B is programmed, the second overwrite has been handled too.
    t.store.put(B, vxlan('192.0.2.12', 'aa:bb:cc:dd:ee:02'));
    await waitUntil(() => t.calls.length >= 3, 'a sync after B');

    expect(t.calls.slice(1)).toEqual([
      { peers: [], full: false },
      { peers: ['10.5.3.0/24'], full: false },
    ]);
    const warnings = t.logger.fields.filter((_, i) => t.logger.lines[i]?.level === 'warn');
    expect(warnings.filter((f) => f?.['key'] === 'subnets/10.5.2.0-24')).toEqual([
      expect.objectContaining({ field: 'value', rule: 'is not JSON' }),
    ]);
  });

  it('never passes our own lease or another backend’s lease to sync, and does not sync for them', async () => {
    const t = start();
    void t.launch();
    await waitUntil(() => t.calls.length >= 1, 'the first sync');

    t.store.put(OWN, vxlan('192.0.2.10', 'aa:bb:cc:dd:ee:10')); // our own renewal
    t.store.put(C, { publicIp: '192.0.2.14', publicIpv6: null, backendType: 'host-gw' });
    t.store.put(A, vxlan('192.0.2.11', 'aa:bb:cc:dd:ee:01')); // a peer's renewal, unchanged
    t.store.put(B, vxlan('192.0.2.12', 'aa:bb:cc:dd:ee:02'));
    await waitUntil(() => t.calls.some((c) => c.peers.includes('10.5.3.0/24')), 'a sync with B');
    await settle();

    // Only B's lease changed the peer set, so it alone caused a sync.
    expect(t.calls).toEqual([
      { peers: ['10.5.2.0/24'], full: true },
      { peers: ['10.5.2.0/24', '10.5.3.0/24'], full: false },
    ]);
  });

  it('folds lease changes that arrive during a sync into one more sync', async () => {
    const t = start();
    let release = (): void => undefined;
    t.dataPlane.gate = new Promise((resolve) => (release = resolve));
    void t.launch();
    await waitUntil(() => t.calls.length >= 1, 'the first sync to begin');

    t.store.put(B, vxlan('192.0.2.12', 'aa:bb:cc:dd:ee:02'));
    t.store.put(C, vxlan('192.0.2.13', 'aa:bb:cc:dd:ee:03'));
    await settle(); // the watch applies both events while the first sync is still running
    t.dataPlane.gate = undefined;
    release();
    await waitUntil(() => t.calls.length >= 2, 'the follow-up sync');
    await settle();

    expect(t.calls).toEqual([
      { peers: ['10.5.2.0/24'], full: true },
      { peers: ['10.5.2.0/24', '10.5.3.0/24', '10.5.4.0/24'], full: false },
    ]);
  });

  it('retries a failed sync as a full sync within a second, long before the next periodic pass', async () => {
    const clock = new ManualClock();
    const t = start({ clock, reconcileIntervalMs: 60_000 });
    void t.launch();
    await waitUntil(() => t.calls.length >= 1, 'the first sync');

    t.dataPlane.failures.push(retryable('ip -force -batch - failed (exit 1): no such device'));
    t.store.put(B, vxlan('192.0.2.12', 'aa:bb:cc:dd:ee:02'));
    await waitUntil(
      () => t.logger.lines.some((l) => l.message === 'data plane sync failed; retrying'),
      'the failure to be handled',
    );
    clock.advance(1000);
    await waitUntil(() => t.calls.length >= 3, 'the retry');

    expect(t.calls.slice(1)).toEqual([
      { peers: ['10.5.2.0/24', '10.5.3.0/24'], full: false },
      { peers: ['10.5.2.0/24', '10.5.3.0/24'], full: true },
    ]);
  });

  it('logs a repeated failure once, and logs when the data plane is back in sync', async () => {
    const clock = new ManualClock();
    const t = start({ clock });
    const boom = (): Error => retryable('bridge -force -batch - failed (exit 1)');
    t.dataPlane.failures.push(boom(), boom());
    void t.launch();
    await waitUntil(() => t.calls.length >= 1, 'the first sync');
    await waitUntil(() => t.logger.lines.some((l) => l.level === 'error'), 'the first failure');
    clock.advance(1000);
    await waitUntil(() => t.calls.length >= 2, 'the first retry');
    await settle();
    clock.advance(1000);
    await waitUntil(() => t.calls.length >= 3, 'the second retry');
    await waitUntil(() => t.logger.lines.some((l) => l.level === 'info'), 'the recovery');

    expect(t.calls.map((c) => c.full)).toEqual([true, true, true]);
    // (The host-gw lease of the fixture is warned about once, as a lease of another backend.)
    expect(t.logger.lines.filter((l) => l.level === 'error' || l.level === 'info')).toEqual([
      { level: 'error', message: 'data plane sync failed; retrying' },
      { level: 'info', message: 'data plane in sync' },
    ]);
  });

  it('runs a full sync again once the reconcile interval has passed', async () => {
    const clock = new ManualClock();
    const t = start({ clock, reconcileIntervalMs: 10_000 });
    void t.launch();
    await waitUntil(() => t.calls.length >= 1, 'the first sync');
    await settle();

    clock.advance(10_000);
    await waitUntil(() => t.calls.length >= 2, 'the periodic sync');

    expect(t.calls[1]).toEqual({ peers: ['10.5.2.0/24'], full: true });
  });

  it('keeps running periodic full syncs on the real clock with a short interval', async () => {
    const t = start({ clock: systemClock, reconcileIntervalMs: 20 });
    void t.launch();

    await waitUntil(() => t.calls.filter((c) => c.full).length >= 3, 'three full syncs');
    expect(t.calls.every((c) => c.peers.join() === '10.5.2.0/24')).toBe(true);
  });

  it('ends when the signal aborts while it waits', async () => {
    const t = start();
    const done = t.launch();
    await waitUntil(() => t.calls.length >= 1, 'the first sync');
    await settle();

    t.abort.abort();

    await expect(done).resolves.toBeUndefined();
  });

  it('ends when the signal aborts during a sync, without logging an error', async () => {
    const t = start();
    t.dataPlane.gate = new Promise((resolve) =>
      t.abort.signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    const done = t.launch();
    await waitUntil(() => t.calls.length >= 1, 'the first sync to begin');

    t.abort.abort();

    await expect(done).resolves.toBeUndefined();
    expect(t.calls).toHaveLength(1);
    expect(t.logger.lines.filter((l) => l.level === 'error')).toEqual([]);
  });
});
