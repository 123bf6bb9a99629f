// `npm run docs`: writes docs/api.md from the route schemas (through the OpenAPI document the app
// serves at /openapi.json). test/http/api-doc.test.ts checks that the file is current.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { type OpenApiDocument, renderApiReference } from '../src/http/api-reference.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';

export const API_DOC = new URL('../docs/api.md', import.meta.url);

/** docs/api.md as the routes of this tree describe it (every surface on: admin API included). */
export async function currentApiReference(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'bindery-docs-'));
  const store = await SqliteStore.open(join(dir, 'docs.db'));
  try {
    const config = { ...loadConfig({}), adminToken: 'docs-only-admin-token-000', spoolDir: join(dir, 'spool') };
    const app = await buildApp(config, store);
    await app.ready();
    const spec = app.swagger() as unknown as OpenApiDocument;
    await app.close();
    return renderApiReference(spec);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(API_DOC, await currentApiReference());
  process.stderr.write(`wrote ${API_DOC.pathname}\n`);
}
