import { FlannelError } from '@flannel-ts/core';
import { ModuleLoadError, loadHealthParts, loadStatusCommand } from '../../src/on-demand';

describe('parts of flanneld loaded on demand', () => {
  it('loads the status command when asked', () => {
    expect(loadStatusCommand()).toEqual(expect.any(Function));
  });

  it('loads the health server and the metrics registry when asked', () => {
    const health = loadHealthParts();
    expect(health.startHealthTask).toEqual(expect.any(Function));
    const metrics = health.createAgentMetrics({ peers: () => undefined, leaseExpiry: () => 5 });
    expect(metrics.registry.contentType).toContain('text/plain');
  });

  it('names the part that cannot be loaded and why, as a fatal error', () => {
    const err = new ModuleLoadError('the status command', new Error("Cannot find module 'x'"));
    expect(err).toBeInstanceOf(FlannelError);
    expect(err.code).toBe('MODULE_LOAD_FAILED');
    expect(err.disposition).toBe('fatal');
    expect(err.message).toBe("cannot load the status command: Cannot find module 'x'");
  });
});
