/** Entry point: loadConfig -> openStore -> bootstrap app -> buildApp -> listen; graceful close on SIGTERM. */

import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApp, loggerOptions } from './app.ts';
import { BackupScheduler } from './background/backup-scheduler.ts';
import { Sweeper } from './background/sweeper.ts';
import { WebhookDeliverer } from './background/webhook-deliverer.ts';
import { type Config, ConfigError, loadConfig } from './config.ts';
import { AppService } from './domain/app-service.ts';
import { StoreError } from './errors.ts';
import { announceFirstApp, consoleNotice } from './first-app-notice.ts';
import { prepareSpoolDir } from './http/api/import-spool.ts';
import { Metrics } from './http/metrics.ts';
import { openStore } from './store/open-store.ts';
import { backupInThread } from './store/sqlite/sqlite-threads.ts';

/** What to do when the listener cannot be opened: said instead of a stack trace. */
const LISTEN_FIXES: Record<string, string | undefined> = {
  EADDRINUSE: 'Another process uses that port: stop it, or set BINDERY_PORT to a free one.',
  EADDRNOTAVAIL: 'This machine has no such address: set BINDERY_HOST to one of its own (127.0.0.1, 0.0.0.0).',
  EACCES: 'Ports below 1024 need privileges: set BINDERY_PORT to 1024 or above (e.g. 8080).',
};

/** The message for a listener that could not be opened, with the fix; undefined for any other failure. */
export function listenFailure(error: unknown): string | undefined {
  const fix = LISTEN_FIXES[(error as NodeJS.ErrnoException).code ?? ''];
  return fix && `${(error as Error).message}. ${fix}`;
}

/** The admin listener; a failure to open it says which setting to change. */
async function listenForAdmin(admin: FastifyInstance, at: { host: string; port: number }): Promise<string> {
  try {
    return await admin.listen(at);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const fix = code && LISTEN_FIXES[code]?.replace(/BINDERY_PORT|BINDERY_HOST/, 'BINDERY_ADMIN_LISTEN');
    throw new ConfigError(
      `BINDERY_ADMIN_LISTEN ${at.host}:${at.port}: ${(error as Error).message}${fix ? `. ${fix}` : ''}`,
    );
  }
}

export async function serve(config: Config): Promise<void> {
  const log = pino(loggerOptions(config.logLevel));
  // A database that is away at start is waited for in the background: the server listens and answers 503 meanwhile.
  const store = await openStore(config, {
    waitForDatabase: false,
    log: { info: (m) => log.info(m), warn: (m) => log.warn(m) },
  });
  if (config.bootstrapApp) {
    const bootstrap = async () => {
      const created = await new AppService(store, config.secretGraceSeconds).bootstrap();
      if (!created) return;
      announceFirstApp(created, config, {
        isTTY: process.stdout.isTTY === true,
        write: (text) => process.stdout.write(text),
        info: (file) =>
          log.info(
            { file },
            `created the first app on this empty store; its AccessID and SecretKey are in ${file} (mode 0600)`,
          ),
      });
    };
    // At once when the store is there (the banner comes before "listening"), else once it is.
    await bootstrap().catch((error: unknown) => {
      if (!(error instanceof StoreError && error.unavailable)) throw error;
      store
        .whenStarted()
        .then(bootstrap)
        .catch((late: unknown) => log.error({ err: late }, 'could not create the first app'));
    });
  }
  const leftovers = await prepareSpoolDir(config.spoolDir);
  if (leftovers > 0)
    log.info({ spoolDir: config.spoolDir, removed: leftovers }, 'removed import spool files left by an earlier run');
  const metrics = new Metrics(store, { processMetrics: true, perApp: config.metricsPerApp, dataDir: config.dataDir });
  const app = await buildApp(config, store, {
    loggerInstance: log,
    metrics,
    serves: config.adminListen ? 'tenants' : 'everything',
  });
  const admin =
    config.adminListen && (await buildApp(config, store, { loggerInstance: log, metrics, serves: 'admin' }));
  const deliverer = new WebhookDeliverer(
    store,
    {
      pollMs: config.webhookPollMs,
      retryBaseMs: config.webhookRetryBaseMs,
      giveUpMs: config.webhookGiveUpHours * 3600_000,
      timeoutMs: config.webhookTimeoutMs,
      allowPrivate: config.webhookAllowPrivate,
      onAttempt: (result) => metrics.webhookDeliveries.inc({ result }),
    },
    app.log,
  );
  const sweeper = new Sweeper(
    store,
    { intervalMs: config.sweepIntervalMs, retentionDays: config.historyRetentionDays },
    app.log,
  );
  const backups =
    config.backupDir === null
      ? null
      : new BackupScheduler(
          { dir: config.backupDir, intervalMs: config.backupIntervalMs, keep: config.backupKeep },
          (dest) => backupInThread(resolve(config.databaseUrl.slice('sqlite:'.length)), dest),
          metrics.scheduledBackups(),
          app.log,
        );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down: no new connections; finishing requests in flight');
    const timer = setTimeout(() => {
      app.log.error(`requests still running after ${config.shutdownTimeoutMs} ms; closing anyway`);
      app.server.closeAllConnections();
    }, config.shutdownTimeoutMs);
    timer.unref();
    try {
      sweeper.stop();
      await backups?.stop();
      await Promise.all([app.close(), admin?.close()]);
      await deliverer.stop();
      await store.close();
      app.log.info('shut down cleanly');
      process.exitCode = 0;
    } catch (error) {
      app.log.error({ err: error }, 'error while shutting down');
      process.exitCode = 1;
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));

  try {
    const address = await app.listen({ host: config.host, port: config.port });
    const adminAddress = admin ? await listenForAdmin(admin, config.adminListen!) : address;
    deliverer.start();
    sweeper.start();
    backups?.start();
    // Said plainly whatever the log level, for people and for scripts waiting for the port.
    process.stdout.write(`bindery: listening on ${address} (store: ${store.kind}, region: ${config.region})\n`);
    if (admin)
      process.stdout.write(`bindery: admin API on ${adminAddress} (BINDERY_ADMIN_LISTEN), not on ${address}\n`);
    process.stdout.write(`${consoleNotice(adminAddress, config.adminToken)}\n`);
  } catch (error) {
    await Promise.all([app.close(), admin?.close()]);
    await store.close();
    throw error;
  }
}

const isMain = import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/src/server.ts');
if (isMain) {
  try {
    await serve(loadConfig());
  } catch (error) {
    const listen = listenFailure(error);
    if (error instanceof ConfigError) process.stderr.write(`bindery: cannot start: ${error.message}\n`);
    else if (listen) process.stderr.write(`bindery: cannot start: ${listen}\n`);
    else process.stderr.write(`bindery: cannot start: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  }
}
