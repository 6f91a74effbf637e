import { createRecordingLogger } from '@flannel-ts/core/testing';
import { createAgentMetrics } from '../../src/http/metrics';
import type { MetricSources } from '../../src/http/metrics';
import { warnUnknownBackendOptions } from '../../src/backends';

const series = (text: string, name: string): string[] =>
  text.split('\n').filter((l) => l.startsWith(name));

describe('createAgentMetrics', () => {
  it('serves the recorded facts and the sources read at scrape time, in Prometheus text', async () => {
    let expiry: ReturnType<MetricSources['leaseExpiry']> = undefined;
    const m = createAgentMetrics({
      peers: () => ({ known: 5, programmed: 3, skipped: 1 }),
      leaseExpiry: () => expiry,
    });
    m.dataPlane.kernelChanges(6);
    m.dataPlane.kernelChanges(2);
    m.dataPlane.repairs(1);
    m.dataPlane.eventToKernel(0.004);
    m.dataPlane.leaseRejected('PublicIP is missing or 0.0.0.0');
    m.etcdReconnected();
    m.trafficRulesRepaired(2);
    let text = await m.registry.metrics();
    expect(series(text, 'flannel_peers{')).toEqual([
      'flannel_peers{state="known"} 5',
      'flannel_peers{state="programmed"} 3',
      'flannel_peers{state="skipped"} 1',
    ]);
    expect(series(text, 'flannel_kernel_changes_total ')).toEqual([
      'flannel_kernel_changes_total 8',
    ]);
    expect(series(text, 'flannel_data_plane_repairs_total ')).toEqual([
      'flannel_data_plane_repairs_total 1',
    ]);
    expect(series(text, 'flannel_event_to_kernel_seconds_bucket{le="0.005"}')).toEqual([
      'flannel_event_to_kernel_seconds_bucket{le="0.005"} 1',
    ]);
    expect(series(text, 'flannel_leases_rejected_total{')).toEqual([
      'flannel_leases_rejected_total{reason="PublicIP is missing or 0.0.0.0"} 1',
    ]);
    expect(series(text, 'flannel_etcd_reconnects_total ')).toEqual([
      'flannel_etcd_reconnects_total 1',
    ]);
    expect(series(text, 'flannel_traffic_rule_repairs_total ')).toEqual([
      'flannel_traffic_rule_repairs_total 2',
    ]);
    expect(series(text, 'flannel_lease_expiry_seconds{')).toEqual([]);
    expect(text).toMatch(/^process_cpu_seconds_total /m);

    expiry = 86_123.5;
    text = await m.registry.metrics();
    expect(series(text, 'flannel_lease_expiry_seconds{')).toEqual([
      'flannel_lease_expiry_seconds{kind="lease"} 86123.5',
    ]);
    expiry = 'reservation';
    text = await m.registry.metrics();
    expect(series(text, 'flannel_lease_expiry_seconds{')).toEqual([
      'flannel_lease_expiry_seconds{kind="reservation"} +Inf',
    ]);
  });
});

describe('warnUnknownBackendOptions', () => {
  it('names every option the backend does not use, and says why for upstream options', () => {
    const logger = createRecordingLogger();
    warnUnknownBackendOptions(
      { type: 'vxlan', options: { Type: 'vxlan', vni: 4, Port: 4789, MacPrefix: '0E:6A', VNl: 2 } },
      logger,
    );
    warnUnknownBackendOptions({ type: 'host-gw', options: { Type: 'host-gw', VNI: 1 } }, logger);
    expect(logger.lines).toEqual([
      {
        level: 'warn',
        message: 'Backend option MacPrefix is ignored: upstream reads it on Windows only',
      },
      {
        level: 'warn',
        message:
          'Backend option VNl is not an option of the vxlan backend; it is ignored (check its spelling)',
      },
      {
        level: 'warn',
        message:
          'Backend option VNI is not an option of the host-gw backend; it is ignored (check its spelling)',
      },
    ]);
  });
});
