/**
 * Telling the operator the first app's credentials, once. On a terminal they are printed; anywhere
 * else (systemd's journal, a container's log, a CI log) stdout is kept for good and read by many,
 * so they go to a file only bindery's user can read, and the log says where.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from './config.ts';
import type { App } from './model/types.ts';

export const CREDENTIALS_FILE = 'first-app-credentials.txt';

/** The server's address as a client on this machine reaches it (a wildcard listener answers on loopback). */
export function baseUrl(config: Pick<Config, 'host' | 'port'>): string {
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host === '::' ? '::1' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`;
}

/** Where the console is and what it needs, said at every start (`address`: where the server listens). */
export function consoleNotice(address: string, adminToken: string | null): string {
  const url = `${address.replace('://0.0.0.0:', '://127.0.0.1:').replace('://[::]:', '://[::1]:')}/console/`;
  return adminToken
    ? `bindery: admin console at ${url} (sign in with BINDERY_ADMIN_TOKEN)`
    : `bindery: admin console at ${url}: off until BINDERY_ADMIN_TOKEN is given (see README, "The admin console")`;
}

function credentials(app: App, config: Config): string {
  return [
    `AccessID:  ${app.accessId}`,
    `SecretKey: ${app.secretKey}`,
    'Try it:',
    `  curl -s -u ${app.accessId}:${app.secretKey} ${baseUrl(config)}/v3/device/account/query -d ` +
      `'{"operator_type":1,"account_list":[{"account":"alice"}]}'`,
  ].join('\n');
}

export interface NoticeOutput {
  isTTY: boolean;
  write(text: string): void;
  /** Where the credentials went when not on a terminal (a log line). */
  info(file: string): void;
}

/** Prints the first app's credentials on a terminal, or writes them to a 0600 file in the data directory. */
export function announceFirstApp(app: App, config: Config, out: NoticeOutput): void {
  if (out.isTTY) {
    const body = credentials(app, config).replace(/^/gm, '    ');
    out.write(
      `\n  bindery: created the first app on this empty store. Its SecretKey is shown only this once:\n${body}\n\n`,
    );
    return;
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const file = resolve(join(config.dataDir, CREDENTIALS_FILE));
  writeFileSync(
    file,
    `# bindery: the first app of this store (delete this file once the SecretKey is kept elsewhere)\n${credentials(app, config)}\n`,
    { mode: 0o600 },
  );
  chmodSync(file, 0o600);
  out.info(file);
}
