/**
 * buildApp(config, store): the whole HTTP service as a Fastify instance that never listens by itself
 * (tests drive it with app.inject; server.ts makes it listen).
 */

import { randomUUID } from 'node:crypto';
import { maxHeaderSize } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyServerOptions,
  LogController,
} from 'fastify';
import type { LoggerOptions } from 'pino';
import type { Config } from './config.ts';
import { AppService } from './domain/app-service.ts';
import {
  ApiError,
  AppNotFoundError,
  apiError,
  fromRequestError,
  IdempotencyMismatchError,
  RequestError,
  RetCode,
  StoreError,
} from './errors.ts';
import { adminRoutes } from './http/admin/routes.ts';
import { bulkRoutes } from './http/api/bulk-routes.ts';
import { ensureSpoolDir } from './http/api/import-spool.ts';
import { lifecycleRoutes } from './http/api/lifecycle-routes.ts';
import { apiRoutes } from './http/api/routes.ts';
import { FailedAuthThrottle } from './http/bearer-guard.ts';
import { consoleRoutes } from './http/console.ts';
import { healthRoutes } from './http/health.ts';
import { Metrics } from './http/metrics.ts';
import { registerOpenApi } from './http/openapi.ts';
import { RateLimiter } from './http/rate-limiter.ts';
import { requestLogger } from './http/request-logger.ts';
import { TPNS_PATHS, tpnsRoutes } from './http/tpns/routes.ts';
import { status } from './http/tpns/schemas.ts';
import type { BindingStore } from './model/store.ts';
import { SCHEMA_VERSIONS } from './store/schema-versions.ts';
import { VERSION } from './version.ts';

/** SPEC §2: body limit 1 MiB. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

export interface BuildAppOptions {
  logger?: FastifyServerOptions['logger'];
  /** A logger made beforehand (the server's, shared with the store); wins over `logger`. */
  loggerInstance?: FastifyBaseLogger;
  /** Shared with the background workers; made here if not given. */
  metrics?: Metrics;
  /**
   * What this listener serves: everything (the default), or, with BINDERY_ADMIN_LISTEN, the tenants'
   * APIs on one listener and the admin API with the console on another. Both answer health and metrics.
   */
  serves?: 'everything' | 'tenants' | 'admin';
}

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    // Secrets never reach the log, whatever a later serializer adds.
    redact: {
      paths: ['req.headers.authorization', 'req.headers.sign', '*.secretKey', '*.secret_key'],
      censor: '[redacted]',
    },
  };
}

/**
 * What Node refuses before a request reaches Fastify (malformed HTTP, headers too large, a request
 * too slow to arrive) is answered TPNS-shaped, INVALID_PARAMETER with the HTTP status kept, where the socket
 * can still take an answer; then the connection is closed.
 */
function clientErrorHandler(requestTimeoutMs: number) {
  return (error: Error & { code?: string }, socket: Socket): void => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const [httpStatus, reason, message] =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', `request: not received within ${requestTimeoutMs} ms; send it whole and faster`]
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'Request Header Fields Too Large', `request headers: larger than ${maxHeaderSize} bytes`]
          : [400, 'Bad Request', `request: malformed HTTP (${error.code ?? error.message})`];
    if (!socket.writable) return void socket.destroy();
    const body = JSON.stringify(status(RetCode.INVALID_PARAMETER, message));
    socket.end(
      `HTTP/1.1 ${httpStatus} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ` +
        `${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      () => socket.destroy(),
    );
  };
}

function toApiError(error: unknown, log: FastifyInstance['log']): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof RequestError) return fromRequestError(error);
  if (error instanceof AppNotFoundError) return apiError.auth('AccessID or SecretKey is wrong');
  if (error instanceof IdempotencyMismatchError)
    return apiError.invalid(`Idempotency-Key header: ${error.message}; use a new key for a new request`);
  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return apiError.bodyTooLarge(BODY_LIMIT_BYTES);
  if (fastifyError.statusCode !== undefined && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    // Any other client-side protocol problem Fastify found before our handler ran.
    return new ApiError(
      RetCode.INVALID_PARAMETER,
      fastifyError.statusCode,
      `request: ${fastifyError.message ?? 'malformed'}`,
    );
  }
  if (error instanceof StoreError && error.unavailable) {
    // The store says once when its database goes away and comes back; a line per refused request would drown that.
    log.debug({ err: error }, 'store unavailable');
    return error.outcomeUnknown ? apiError.outcomeUnknown() : apiError.unavailable();
  }
  log.error({ err: error }, 'request failed inside the server');
  return apiError.internal();
}

export async function buildApp(
  config: Config,
  store: BindingStore,
  options: BuildAppOptions = {},
): Promise<FastifyInstance> {
  const serves = options.serves ?? 'everything';
  const app = Fastify({
    ...(options.loggerInstance ? { loggerInstance: options.loggerInstance } : { logger: options.logger ?? false }),
    bodyLimit: BODY_LIMIT_BYTES,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // Slow or never-ending request bodies are cut off (checked every second, not Node's default 30 s).
    requestTimeout: config.requestTimeoutMs,
    http: {
      connectionsCheckingInterval: Math.min(1000, config.requestTimeoutMs),
      headersTimeout: Math.min(60_000, config.requestTimeoutMs),
    },
    return503OnClosing: true,
    // Only the proxies named may say who the client is (X-Forwarded-For); else anyone could.
    trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
    clientErrorHandler: clientErrorHandler(config.requestTimeoutMs),
    // A misspelt field is refused, not silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
    // Fastify's two lines per request ("incoming request", "request completed") only when asked for:
    // they cost a third of a query's throughput (BENCHMARKS.md); failures are logged either way.
    logController: new LogController({ disableRequestLogging: !config.logRequests }),
    childLoggerFactory: requestLogger,
  });

  // SPEC §2: the body is JSON whatever the Content-Type says, and auth needs the raw bytes. JSON is named
  // besides the catch-all: Fastify keeps the parser it found for a named type by header value, where for
  // the catch-all alone it parsed the Content-Type header of every request again (BENCHMARKS.md).
  app.removeAllContentTypeParsers();
  const keepBytes = (_request: unknown, body: Buffer, done: (error: null, body: Buffer) => void) => done(null, body);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, keepBytes);
  app.addContentTypeParser('*', { parseAs: 'buffer' }, keepBytes);

  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    done(null, payload);
  });

  app.setErrorHandler((error, request, reply) => {
    const failure = toApiError(error, request.log);
    return reply.status(failure.httpStatus).headers(failure.headers).send(status(failure.retCode, failure.message));
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? request.url;
    const failure =
      (TPNS_PATHS as readonly string[]).includes(path) && serves !== 'admin'
        ? apiError.methodNotAllowed(request.method, path, 'POST')
        : apiError.notFound(request.method, path);
    if (failure.httpStatus === 405) reply.header('allow', 'POST');
    return reply.status(failure.httpStatus).send(status(failure.retCode, failure.message));
  });

  await ensureSpoolDir(config.spoolDir);
  const metrics = options.metrics ?? new Metrics(store, { perApp: config.metricsPerApp, dataDir: config.dataDir });
  const timed = metrics.instrument(store);
  app.decorateRequest('deadline', 0);
  const tenants = {
    store: timed,
    limiter: new RateLimiter(),
    signMaxSkewSeconds: config.signMaxSkewSeconds,
    storeTimeoutMs: config.storeTimeoutMs,
  };
  // OpenAPI first: it documents the routes registered after it.
  await registerOpenApi(app, VERSION);
  const throttle = new FailedAuthThrottle();
  metrics.register(app, { token: config.metricsToken, throttle });
  await app.register(healthRoutes, {
    store: timed,
    region: config.region,
    build: { version: VERSION, schema: SCHEMA_VERSIONS },
  });
  if (serves !== 'admin') {
    await app.register(tpnsRoutes, { ...tenants, maxTokenBytes: config.maxTokenBytes });
    await app.register(apiRoutes, { ...tenants, maxTokenBytes: config.maxTokenBytes });
    await app.register(lifecycleRoutes, { ...tenants, maxTokenBytes: config.maxTokenBytes, metrics });
    const { importMaxBytes, spoolDir, exportConcurrency, exportIdleMs, exportPerApp, exportMaxMs } = config;
    await app.register(bulkRoutes, {
      ...tenants,
      maxTokenBytes: config.maxTokenBytes,
      importMaxBytes,
      spoolDir,
      exportConcurrency,
      exportIdleMs,
      exportPerApp,
      exportMaxMs,
    });
  }
  if (serves === 'tenants') return app;
  await app.register(consoleRoutes);
  if (config.adminToken) {
    await app.register(adminRoutes, {
      service: new AppService(timed, config.secretGraceSeconds, config.webhookAllowPrivate),
      adminToken: config.adminToken,
      throttle,
      store: timed,
      maxTokenBytes: config.maxTokenBytes,
    });
  }
  return app;
}
