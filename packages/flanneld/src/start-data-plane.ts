import { FlannelError } from '@flannel-ts/core';
import type { Lease } from '@flannel-ts/core';
import type { Backend, BackendLeaseData, BackendNetworks, DataPlane } from '@flannel-ts/backend';
import { retryStartupStep } from './startup-retry';
import type { StartupRetryOptions } from './startup-retry';

/**
 * Starts the backend's data plane as a start-up step: a transient failure (another agent
 * starting at the same moment changed the device's addresses between our read and our write) is
 * retried. `start()` decides from what `register()` read, so every retry registers again first,
 * which re-reads the device; if what we advertise in the lease (`advertised`, e.g. the VTEP MAC)
 * changed meanwhile, the agent must restart to advertise the new value, and exits saying so.
 */
export function startDataPlane(
  backend: Backend,
  own: Lease,
  networks: BackendNetworks,
  advertised: BackendLeaseData,
  options: StartupRetryOptions,
): Promise<DataPlane | undefined> {
  let attempts = 0;
  return retryStartupStep(
    'starting the data plane',
    async (signal) => {
      if (attempts++ > 0) {
        const now = await backend.register(signal);
        if (JSON.stringify(now) !== JSON.stringify(advertised)) {
          throw new FlannelError(
            'BACKEND_CHANGED',
            `the ${backend.type} device changed while the data plane was starting (it now needs ${JSON.stringify(now.backendData)}, our lease advertises ${JSON.stringify(advertised.backendData)}); restart flanneld to advertise the new value`,
          );
        }
      }
      return backend.start(own, networks, signal);
    },
    options,
  );
}
