/** Where the first app's credentials go: the terminal when there is one, else a 0600 file (never a log). */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { announceFirstApp, CREDENTIALS_FILE, consoleNotice } from '../src/first-app-notice.ts';
import { tempDir, testConfig } from './support/helpers.ts';

const APP = { accessId: '1500001048', secretKey: '1452fcebae9f3115ba794fb0fff2fd73' } as Parameters<
  typeof announceFirstApp
>[0];

describe('the first app notice', () => {
  it('on a terminal: printed once, with a curl to try; no file', (t) => {
    const dir = join(tempDir(t), 'data');
    const written: string[] = [];
    const files: string[] = [];
    announceFirstApp(APP, testConfig({ dataDir: dir, host: '0.0.0.0', port: 8080 }), {
      isTTY: true,
      write: (text) => written.push(text),
      info: (file) => files.push(file),
    });
    assert.deepEqual(files, []);
    assert.match(written.join(''), /AccessID: {2}1500001048\n {4}SecretKey: 1452fcebae9f3115ba794fb0fff2fd73\n/);
    assert.match(written.join(''), /curl -s -u 1500001048:\S+ http:\/\/127\.0\.0\.1:8080\/v3\/device\/account\/query/);
  });

  it('anywhere else: a 0600 file in the data directory, named in the log; nothing on stdout', (t) => {
    const dir = join(tempDir(t), 'data');
    const written: string[] = [];
    const files: string[] = [];
    announceFirstApp(APP, testConfig({ dataDir: dir }), {
      isTTY: false,
      write: (text) => written.push(text),
      info: (file) => files.push(file),
    });
    assert.deepEqual(written, []);
    assert.deepEqual(files, [join(dir, CREDENTIALS_FILE)]);
    assert.equal((statSync(files[0]!).mode & 0o777).toString(8), '600');
    assert.equal((statSync(dir).mode & 0o777).toString(8), '700');
    assert.match(readFileSync(files[0]!, 'utf8'), /SecretKey: 1452fcebae9f3115ba794fb0fff2fd73/);
  });

  it('names the console where a browser on this machine reaches it, and what it needs', () => {
    assert.equal(
      consoleNotice('http://0.0.0.0:8080', null),
      'bindery: admin console at http://127.0.0.1:8080/console/: off until BINDERY_ADMIN_TOKEN is given (see README, "The admin console")',
    );
    assert.equal(
      consoleNotice('http://127.0.0.1:9', 'x'.repeat(16)),
      'bindery: admin console at http://127.0.0.1:9/console/ (sign in with BINDERY_ADMIN_TOKEN)',
    );
  });
});
