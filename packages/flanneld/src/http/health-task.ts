import type { Logger } from '@flannel-ts/core';
import type { AgentFacts } from '../agent-facts';
import type { Supervisor } from '../supervisor';
import { agentReadiness, agentStatus } from './agent-status';
import { listenHealthServer } from './health-server';
import type { HealthServer, Routes } from './health-server';

const text = (status: number, body: string) => ({ status, contentType: 'text/plain', body });

/** The endpoints: upstream's `/healthz` and `/readyz` texts, plus `/metrics` and `/status`. */
export function healthRoutes(facts: AgentFacts): Routes {
  return {
    '/healthz': () => text(200, 'flanneld is running'),
    '/readyz': () => {
      const r = agentReadiness(facts);
      return r.ready
        ? text(200, 'flanneld is ready')
        : text(503, `flanneld is not ready yet: ${r.reason}`);
    },
    '/metrics': async () => {
      const registry = facts.metrics?.registry;
      if (!registry) return text(503, 'metrics are not set up yet');
      return { status: 200, contentType: registry.contentType, body: await registry.metrics() };
    },
    '/status': async () => ({
      status: 200,
      contentType: 'application/json',
      body: `${JSON.stringify(await agentStatus(facts), null, 2)}\n`,
    }),
  };
}

/**
 * Listens on `--healthz-ip`:`--healthz-port` now (a port in use is a fatal error, thrown here,
 * before the agent does anything else) and hands the server to the supervisor as the
 * `health server` task: stopped with the agent, listened again if it ever closes by itself.
 */
export async function startHealthTask(
  supervisor: Supervisor,
  facts: AgentFacts,
  logger: Logger,
): Promise<void> {
  const options = { ...facts.config.healthz, routes: healthRoutes(facts), logger };
  let current: HealthServer | undefined = await listenHealthServer(options);
  supervisor.start({
    name: 'health server',
    run: async (signal) => {
      const server = current ?? (await listenHealthServer(options));
      current = undefined;
      const stopped = new Promise<void>((resolve) =>
        signal.addEventListener('abort', () => resolve(), { once: true }),
      );
      await Promise.race([server.closed, stopped]);
      await server.close();
    },
  });
}
