/** Serves the admin console (built into dist/console by `npm run build`) at /console/. */

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { PACKAGE_ROOT } from '../paths.ts';

const BUILT = `${join(PACKAGE_ROOT, 'dist', 'console')}/`;

export async function consoleRoutes(app: FastifyInstance): Promise<void> {
  // A person who opens the server's address in a browser lands in the console (the API has no page of its own).
  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/console/'));
  app.get('/console', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/console/'));
  if (!existsSync(`${BUILT}index.html`)) {
    app.get('/console/*', { schema: { hide: true } }, async (_request, reply) =>
      reply
        .status(503)
        .type('text/plain')
        .send('The console is not built: run `npm run build` (npm install does it), then restart bindery.\n'),
    );
    return;
  }
  await app.register(fastifyStatic, { root: BUILT, prefix: '/console/', decorateReply: false, index: 'index.html' });
  // The page talks only to this server, and nothing may frame it.
  app.addHook('onSend', async (request, reply) => {
    if (request.url.startsWith('/console/')) {
      reply.header('content-security-policy', "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
      reply.header('x-frame-options', 'DENY');
    }
  });
}
