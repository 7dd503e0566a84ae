// `device-writeback run`: the service. Delta every writeback.intervalSeconds, full every
// writeback.fullEverySeconds, the web console with /metrics and /healthz; SIGINT/SIGTERM stop it
// cleanly after the current batch.
import type { Command } from 'commander';
import { logger } from '../log.js';
import { WritebackService } from '../sync/service.js';
import { openStateStore } from '../state/open.js';
import { connectSession, requireEntra } from '../sync/session.js';
import { action, readConfig, withCommonOptions, type GlobalOptions } from './context.js';

interface RunFlags extends GlobalOptions {
  listen?: string;
}

export function register(program: Command): void {
  const command = program
    .command('run')
    .description(
      'run the writeback service: delta every writeback.intervalSeconds, full reconcile every writeback.fullEverySeconds, web console, /metrics, /healthz',
    )
    .option('--listen <host:port>', 'where the web console listens (default web.listen, 127.0.0.1:8080)');
  withCommonOptions(command);
  command.action(
    action<RunFlags>(async (opts) => {
      const config = readConfig(opts);
      const listen = opts.listen ?? config.web.listen;
      // The console, /metrics and /healthz (loaded by `run` only).
      const plugin = (await import('../web/register.js')).consolePlugin(config);
      plugin.preflight?.(listen);
      requireEntra(config);
      // The state store first (a store in use, damaged or too new stops here); the DC and Graph
      // are reached by the service itself, which stays up and retries while they do not answer.
      // A store shared by a group (PostgreSQL) is joined as a standby while another instance leads.
      const store = await openStateStore(config, { writer: true, command: 'run', standby: true });
      const hooks = { ...plugin.hooks, command: 'run' };
      const service = new WritebackService({
        config,
        store,
        connect: () => connectSession(config, store, hooks),
      });
      let web: { close(): Promise<void> };
      try {
        web = await plugin.start(service, listen);
      } catch (err) {
        await store.close();
        throw err;
      }
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals): void => {
        signals++;
        if (signals > 1) {
          logger().warn({ signal }, 'second signal: exiting now');
          process.exit(130);
        }
        logger().info({ signal }, 'stopping: finishing the current batch, then exiting');
        void service.stop();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      logger().info(
        {
          intervalSeconds: config.writeback.intervalSeconds,
          fullEverySeconds: config.writeback.fullEverySeconds,
        },
        'writeback service started',
      );
      try {
        await service.start();
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await web.close().catch(() => undefined);
        await service.close();
        logger().info('writeback service stopped');
      }
      return 0;
    }),
  );
}
