import { FlannelError, errorMessage } from '@flannel-ts/core';
import type * as HealthTaskModule from './http/health-task';
import type * as MetricsModule from './http/metrics';
import type * as StatusCliModule from './status/status-cli';

// The parts of flanneld that only some runs need, loaded when a run needs them rather than at
// start: `flanneld status` and the health server with its metrics (prom-client and the
// @opentelemetry/api it pulls in: 88 of the bundle's ~500 modules). The `require` calls sit inside
// functions on purpose: esbuild (scripts/bundle.mjs) turns each into a call of the module's lazy
// `__commonJS` wrapper, so the module is evaluated on that call, in the bundle as in the plain
// build. The type-only imports above are erased: they load nothing.

/**
 * A part of flanneld loaded on demand could not be loaded (a broken or partial install, such as a
 * missing node_modules package in the plain build). Fatal: retrying cannot help.
 */
export class ModuleLoadError extends FlannelError {
  constructor(what: string, cause: unknown) {
    super('MODULE_LOAD_FAILED', `cannot load ${what}: ${errorMessage(cause)}`, { cause });
  }
}

function load<T>(what: string, loadModule: () => T): T {
  try {
    return loadModule();
  } catch (cause) {
    throw new ModuleLoadError(what, cause);
  }
}

/** What the agent needs to serve `/healthz`, `/readyz`, `/metrics` and `/status`. */
export interface HealthParts {
  readonly createAgentMetrics: typeof MetricsModule.createAgentMetrics;
  readonly startHealthTask: typeof HealthTaskModule.startHealthTask;
}

/**
 * Loads the health server and the metrics registry (prom-client): only a run with a health port
 * has a reader of the metrics.
 * @throws ModuleLoadError when either module cannot be loaded.
 */
export function loadHealthParts(): HealthParts {
  return load('the health server and its metrics (prom-client)', () => {
    /* eslint-disable @typescript-eslint/no-require-imports -- loaded on demand (start time) */
    const { createAgentMetrics } = require('./http/metrics') as typeof MetricsModule;
    const { startHealthTask } = require('./http/health-task') as typeof HealthTaskModule;
    /* eslint-enable @typescript-eslint/no-require-imports */
    return { createAgentMetrics, startHealthTask };
  });
}

/**
 * Loads the `flanneld status` command.
 * @throws ModuleLoadError when it cannot be loaded.
 */
export function loadStatusCommand(): typeof StatusCliModule.runStatus {
  return load('the status command', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on demand (start time)
    return (require('./status/status-cli') as typeof StatusCliModule).runStatus;
  });
}
