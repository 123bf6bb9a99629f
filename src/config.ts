/**
 * Every setting bindery reads, once: its environment variable, default (with unit) and validation.
 * A bad value stops the process with a message that says how to fix it.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';

export interface Config {
  host: string;
  port: number;
  databaseUrl: string;
  bootstrapApp: boolean;
  /** Upper bound of a token's UTF-8 length. TPNS: 1..64 bytes; raw FCM tokens need more. */
  maxTokenBytes: number;
  signMaxSkewSeconds: number;
  /** How long a rotated-out SecretKey keeps working. */
  secretGraceSeconds: number;
  logLevel: string;
  /** A log line as each request comes in and as it is answered (Fastify's), at info. */
  logRequests: boolean;
  region: string;
  /** How long SIGTERM waits for in-flight requests before closing anyway. */
  shutdownTimeoutMs: number;
  /** Request bodies that take longer than this to arrive are cut off. */
  requestTimeoutMs: number;
  /** PostgreSQL: how long to wait for a connection or a statement before answering 503. */
  storeTimeoutMs: number;
  /** PostgreSQL: connections per instance. */
  pgPoolSize: number;
  /** PostgreSQL read replicas (BINDERY_DATABASE_READ_URLS, comma-separated); empty: the primary reads too. */
  databaseReadUrls: string[];
  /** How long a read waits for a replica to replay what it must see before the primary serves it. */
  replicaWaitMs: number;
  /** A replica further behind than this serves no read. */
  replicaMaxLagMs: number;
  /** Turns the admin API on; unset = off. */
  adminToken: string | null;
  /** Where the admin API and the console listen, apart from the tenants; null: on the one listener. */
  adminListen: { host: string; port: number } | null;
  /**
   * The proxies in front (addresses or CIDR ranges) whose X-Forwarded-For names the client: what
   * the client address is for throttles and the log. Empty: the connection's address.
   */
  trustProxy: string[];
  /** Seals the apps' secrets in the database (AES-256-GCM); null: they are stored in clear text. */
  secretsKey: Buffer | null;
  /** Only opens secrets sealed under it, while `bindery secrets rotate-key` moves them to secretsKey. */
  secretsPreviousKey: Buffer | null;
  historyRetentionDays: number;
  /** How often the webhook deliverer looks for due events. */
  webhookPollMs: number;
  /** First retry delay of a failed delivery; it doubles each attempt (capped at an hour). */
  webhookRetryBaseMs: number;
  /** A delivery is retried for this long, then marked failed. */
  webhookGiveUpHours: number;
  webhookTimeoutMs: number;
  /** How often history, idempotency keys and old deliveries are swept. */
  sweepIntervalMs: number;
  /** Largest body of one POST /api/v1/import. */
  importMaxBytes: number;
  /** bindery's own folder (mode 0700): the SQLite file's, or ./data beside a PostgreSQL store. */
  dataDir: string;
  /** Where import bodies are spooled (mode 0700, files 0600; emptied at start). */
  spoolDir: string;
  /** Exports streaming at once per instance; one more is answered RATE_LIMITED (HTTP 429). */
  exportConcurrency: number;
  /** An export whose client reads nothing for this long is cut off. */
  exportIdleMs: number;
  /** Exports streaming at once for one app, so that one tenant cannot take every slot. */
  exportPerApp: number;
  /** An export still running after this long is ended, its last line saying so. */
  exportMaxMs: number;
  /** Bearer token /metrics asks for; unset = open (bind it to a private address then). */
  metricsToken: string | null;
  /** Per-app series (AccessIDs and their binding counts) on /metrics. */
  metricsPerApp: boolean;
  /** Webhook URLs may point at loopback, link-local and private addresses (on-premises receivers). */
  webhookAllowPrivate: boolean;
  /**
   * SQLite's synchronous setting for commits: FULL (the default: a commit is on disk before it is
   * answered) or NORMAL (faster; a power cut loses the last commits, as RELIABILITY.md shows).
   */
  sqliteSynchronous: 'FULL' | 'NORMAL';
  /** Scheduled backups of the SQLite store go here (BINDERY_BACKUP_DIR); null: none. */
  backupDir: string | null;
  /** How often a scheduled backup is taken. */
  backupIntervalMs: number;
  /** Scheduled backups kept; older ones are deleted after each new one. */
  backupKeep: number;
}

/** The SQLite file's folder, or ./data for PostgreSQL: bindery's own directory, never the shared temp dir. */
function dataDirOf(databaseUrl: string): string {
  return databaseUrl.startsWith('sqlite:') ? dirname(databaseUrl.slice('sqlite:'.length)) : 'data';
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number, unit = ''): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw.trim());
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(
      `${name}=${JSON.stringify(raw)} is invalid: set it to a whole number from ${min} to ${max}` +
        `${unit ? ` (${unit})` : ''}, or unset it for the default ${fallback}.`,
    );
  }
  return value;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${name}=${JSON.stringify(env[name])} is invalid: set it to true or false.`);
}

function token(env: Env, name: string, unsetMeans: string): string | null {
  const raw = env[name];
  if (raw === undefined || raw === '') return null;
  if (raw.length < 16 || /\s/.test(raw)) {
    throw new ConfigError(
      `${name} is too weak: use at least 16 characters without spaces (e.g. \`openssl rand -hex 24\`), ` +
        `or unset it ${unsetMeans}.`,
    );
  }
  return raw;
}

/** BINDERY_TRUST_PROXY: addresses and CIDR ranges, comma-separated. */
function proxies(env: Env): string[] {
  const raw = env.BINDERY_TRUST_PROXY?.trim();
  if (!raw) return [];
  return raw.split(',').map((entry) => {
    const item = entry.trim();
    const [address = '', bits, ...rest] = item.split('/');
    const family = isIP(address);
    const max = family === 4 ? 32 : 128;
    if (family === 0 || rest.length > 0 || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))) {
      throw new ConfigError(
        `BINDERY_TRUST_PROXY: ${JSON.stringify(item)} is not an address or a CIDR range; give your proxies' ` +
          'addresses, comma-separated, e.g. 10.0.0.5,10.1.0.0/16 (only they may say who the client is)',
      );
    }
    return item;
  });
}

/** A 32-byte key in base64 (`openssl rand -base64 32`), given as NAME or in the file NAME_FILE. */
function secretsKey(env: Env, name: string): Buffer | null {
  const file = env[`${name}_FILE`]?.trim();
  if (env[name]?.trim() && file) {
    throw new ConfigError(`both ${name} and ${name}_FILE are set: give the key one way, and unset the other.`);
  }
  let raw = env[name]?.trim();
  if (file) {
    try {
      raw = readFileSync(file, 'utf8').trim();
    } catch (error) {
      throw new ConfigError(
        `${name}_FILE=${file} cannot be read (${(error as Error).message}): check the path and its permissions.`,
      );
    }
  }
  if (!raw) return null;
  const key = Buffer.from(raw, 'base64');
  if (key.length !== 32 || !/^[A-Za-z0-9+/]+={0,2}$/.test(raw)) {
    throw new ConfigError(
      `${name}${file ? `_FILE (${file})` : ''} is not a key: give 32 random bytes in base64, as \`openssl rand -base64 32\` ` +
        `prints (44 characters), or unset it to store the apps' secrets in clear text.`,
    );
  }
  return key;
}

/** BINDERY_ADMIN_LISTEN: host:port ([v6]:port), not the tenants' own. */
function adminListen(env: Env, host: string, port: number): { host: string; port: number } | null {
  const raw = env.BINDERY_ADMIN_LISTEN?.trim();
  if (!raw) return null;
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(raw);
  const listen = match && { host: match[1] ?? match[2] ?? '', port: Number(match[3]) };
  if (!listen || listen.port > 65535 || (match[1] !== undefined && isIP(listen.host) !== 6)) {
    throw new ConfigError(
      `BINDERY_ADMIN_LISTEN=${JSON.stringify(raw)} is invalid: give host:port, e.g. 127.0.0.1:8081 or [::1]:8081 ` +
        '(loopback or a private address), or unset it to serve the admin API beside the tenants.',
    );
  }
  if (listen.port === port && listen.port !== 0 && listen.host === host) {
    throw new ConfigError(
      `BINDERY_ADMIN_LISTEN=${raw} is where the tenants' API listens (BINDERY_HOST:BINDERY_PORT): give it a port ` +
        'of its own, or unset it to serve both on one listener.',
    );
  }
  return listen;
}

function readUrls(env: Env, databaseUrl: string): string[] {
  const raw = env.BINDERY_DATABASE_READ_URLS?.trim();
  if (!raw) return [];
  const urls = raw
    .split(',')
    .map((url) => url.trim())
    .filter(Boolean);
  const bad = urls.find((url) => !/^postgres(ql)?:\/\/.+/.test(url));
  if (bad !== undefined || !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError(
      bad === undefined
        ? 'BINDERY_DATABASE_READ_URLS is set but BINDERY_DATABASE_URL is not PostgreSQL: read replicas are ' +
            'PostgreSQL replicas of the database bindery writes to; unset it for SQLite.'
        : `BINDERY_DATABASE_READ_URLS has ${JSON.stringify(bad.replace(/:[^:@/]*@/, ':***@'))}: give ` +
            'comma-separated postgres://user:password@host:5432/dbname URLs of replicas.',
    );
  }
  return urls;
}

const UNITS_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration as `90s`, `30m`, `6h`, `1d` or a number of seconds; from 1 s to 30 days. */
function duration(env: Env, name: string, fallback: string): number {
  const raw = env[name]?.trim() || fallback;
  const match = /^(\d+)\s*([smhd]?)$/.exec(raw);
  const ms = match ? Number(match[1]) * UNITS_MS[match[2] || 's']! : Number.NaN;
  if (!(ms >= 1000 && ms <= 30 * 86_400_000)) {
    throw new ConfigError(
      `${name}=${JSON.stringify(raw)} is invalid: give a duration from 1s to 30d such as 900s, 30m, 6h or 1d ` +
        `(a bare number is seconds), or unset it for the default ${fallback}.`,
    );
  }
  return ms;
}

function backupDir(env: Env, databaseUrl: string): string | null {
  const dir = env.BINDERY_BACKUP_DIR?.trim();
  if (!dir) return null;
  if (!databaseUrl.startsWith('sqlite:'))
    throw new ConfigError(
      'BINDERY_BACKUP_DIR is set but BINDERY_DATABASE_URL is PostgreSQL: scheduled backups are for the SQLite ' +
        'store; back PostgreSQL up with pgBackRest (docs/deploy.md), and unset BINDERY_BACKUP_DIR.',
    );
  return dir;
}

function synchronous(env: Env): 'FULL' | 'NORMAL' {
  const raw = env.BINDERY_SQLITE_SYNCHRONOUS?.trim().toUpperCase() || 'FULL';
  if (raw !== 'FULL' && raw !== 'NORMAL')
    throw new ConfigError(
      `BINDERY_SQLITE_SYNCHRONOUS=${JSON.stringify(env.BINDERY_SQLITE_SYNCHRONOUS)} is invalid: use FULL (the ` +
        'default: nothing answered is lost at a power cut) or NORMAL (faster; loses the last commits at a power cut).',
    );
  return raw;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function loadConfig(env: Env = process.env): Config {
  const databaseUrl = env.BINDERY_DATABASE_URL?.trim() || 'sqlite:./data/bindery.db';
  if (!/^(sqlite:.+|postgres(ql)?:\/\/.+)$/.test(databaseUrl)) {
    throw new ConfigError(
      `BINDERY_DATABASE_URL=${JSON.stringify(databaseUrl)} is invalid: use sqlite:PATH (e.g. ` +
        `sqlite:./data/bindery.db) or postgres://user:password@host:5432/dbname.`,
    );
  }
  const logLevel = env.BINDERY_LOG_LEVEL?.trim() || 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(
      `BINDERY_LOG_LEVEL=${JSON.stringify(logLevel)} is invalid: use one of ${LOG_LEVELS.join(', ')}.`,
    );
  }
  const host = env.BINDERY_HOST?.trim() || '127.0.0.1';
  const port = integer(env, 'BINDERY_PORT', 8080, 0, 65535);
  return {
    host,
    port,
    databaseUrl,
    bootstrapApp: boolean(env, 'BINDERY_BOOTSTRAP_APP', true),
    maxTokenBytes: integer(env, 'BINDERY_MAX_TOKEN_BYTES', 64, 1, 4096, 'bytes'),
    signMaxSkewSeconds: integer(env, 'BINDERY_SIGN_MAX_SKEW_SECONDS', 300, 1, 86_400, 'seconds'),
    secretGraceSeconds: integer(env, 'BINDERY_SECRET_GRACE_SECONDS', 86_400, 0, 30 * 86_400, 'seconds'),
    logLevel,
    logRequests: boolean(env, 'BINDERY_LOG_REQUESTS', false),
    region: env.BINDERY_REGION?.trim() || 'default',
    shutdownTimeoutMs: integer(env, 'BINDERY_SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000, 'milliseconds'),
    requestTimeoutMs: integer(env, 'BINDERY_REQUEST_TIMEOUT_MS', 10_000, 100, 600_000, 'milliseconds'),
    storeTimeoutMs: integer(env, 'BINDERY_STORE_TIMEOUT_MS', 2_000, 100, 600_000, 'milliseconds'),
    pgPoolSize: integer(env, 'BINDERY_PG_POOL_SIZE', 10, 1, 1_000, 'connections'),
    databaseReadUrls: readUrls(env, databaseUrl),
    replicaWaitMs: integer(env, 'BINDERY_REPLICA_WAIT_MS', 100, 0, 60_000, 'milliseconds'),
    replicaMaxLagMs: integer(env, 'BINDERY_REPLICA_MAX_LAG_MS', 5_000, 10, 3_600_000, 'milliseconds'),
    adminToken: token(env, 'BINDERY_ADMIN_TOKEN', 'to turn the admin API off'),
    adminListen: adminListen(env, host, port),
    trustProxy: proxies(env),
    secretsKey: secretsKey(env, 'BINDERY_SECRETS_KEY'),
    secretsPreviousKey: secretsKey(env, 'BINDERY_SECRETS_PREVIOUS_KEY'),
    historyRetentionDays: integer(env, 'BINDERY_HISTORY_RETENTION_DAYS', 30, 1, 3650, 'days'),
    webhookPollMs: integer(env, 'BINDERY_WEBHOOK_POLL_MS', 500, 10, 60_000, 'milliseconds'),
    webhookRetryBaseMs: integer(env, 'BINDERY_WEBHOOK_RETRY_BASE_MS', 1000, 10, 3_600_000, 'milliseconds'),
    webhookGiveUpHours: integer(env, 'BINDERY_WEBHOOK_GIVE_UP_HOURS', 24, 1, 24 * 30, 'hours'),
    webhookTimeoutMs: integer(env, 'BINDERY_WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000, 'milliseconds'),
    sweepIntervalMs: integer(env, 'BINDERY_SWEEP_INTERVAL_MS', 600_000, 1000, 86_400_000, 'milliseconds'),
    importMaxBytes: integer(env, 'BINDERY_IMPORT_MAX_BYTES', 256 * 1024 * 1024, 1024, 16 * 1024 ** 3, 'bytes'),
    dataDir: dataDirOf(databaseUrl),
    spoolDir: env.BINDERY_SPOOL_DIR?.trim() || join(dataDirOf(databaseUrl), 'spool'),
    exportConcurrency: integer(env, 'BINDERY_EXPORT_CONCURRENCY', 4, 1, 1000, 'exports'),
    exportIdleMs: integer(env, 'BINDERY_EXPORT_IDLE_MS', 30_000, 100, 3_600_000, 'milliseconds'),
    exportPerApp: integer(env, 'BINDERY_EXPORT_PER_APP', 2, 1, 1000, 'exports'),
    exportMaxMs: integer(env, 'BINDERY_EXPORT_MAX_MS', 3_600_000, 1000, 86_400_000, 'milliseconds'),
    metricsToken: token(env, 'BINDERY_METRICS_TOKEN', 'to leave /metrics open'),
    metricsPerApp: boolean(env, 'BINDERY_METRICS_PER_APP', false),
    webhookAllowPrivate: boolean(env, 'BINDERY_WEBHOOK_ALLOW_PRIVATE', false),
    sqliteSynchronous: synchronous(env),
    backupDir: backupDir(env, databaseUrl),
    backupIntervalMs: duration(env, 'BINDERY_BACKUP_INTERVAL', '1h'),
    backupKeep: integer(env, 'BINDERY_BACKUP_KEEP', 24, 1, 10_000, 'backups'),
  };
}
