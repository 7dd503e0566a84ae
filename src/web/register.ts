// Plugs the web console into `run` (loaded by `run` only): the metrics observe the session's LDAP
// and Graph traffic through the session hooks, and the console, /metrics and /healthz start beside
// the service on --listen / web.listen.
import { serviceExtras, sessionHooks } from '../cli/run.js';
import type { Config } from '../config/load.js';
import { logger } from '../log.js';
import { WritebackMetrics } from './metrics.js';
import { assertListenAllowed } from './security.js';
import { startConsole } from './server.js';

const metrics = new WritebackMetrics();
sessionHooks.ldapObserver = metrics.ldapObserver;
sessionHooks.entra = { ...sessionHooks.entra, observer: metrics.entraObserver };

serviceExtras.push(async ({ service, listen }) => {
  service.onCycle(metrics.onCycle);
  const web = await startConsole({ service, listen, metrics });
  logger().info(
    { url: web.url },
    `web console at ${web.url} (metrics at ${web.url}/metrics, health at ${web.url}/healthz)`,
  );
  return { close: () => web.close() };
});

/** Refuses a non-loopback listen address without web.token before anything connects. */
export function preflight(config: Config, listen: string): void {
  assertListenAllowed(listen, config.web.token?.reveal());
}
