// The web console as a plugin of `run` (loaded by `run` only): the metrics observe the session's
// LDAP and Graph traffic through the session hooks, and the console, /metrics and /healthz start
// beside the service on --listen / web.listen.
import type { Config } from '../config/load.js';
import { logger } from '../log.js';
import type { ServicePlugin } from '../sync/service.js';
import { WritebackMetrics } from './metrics.js';
import { assertListenAllowed } from './security.js';
import { startConsole } from './server.js';

export function consolePlugin(config: Config): ServicePlugin {
  const metrics = new WritebackMetrics();
  return {
    hooks: { ldapObserver: metrics.ldapObserver, entra: { observer: metrics.entraObserver } },
    // A non-loopback listen address without web.token is refused before anything connects.
    preflight: (listen) => void assertListenAllowed(listen, config.web.token?.reveal()),
    async start(service, listen) {
      service.onCycle(metrics.onCycle);
      const web = await startConsole({ service, listen, metrics });
      logger().info(
        { url: web.url },
        `web console at ${web.url} (metrics at ${web.url}/metrics, health at ${web.url}/healthz)`,
      );
      return { close: () => web.close() };
    },
  };
}
