/** /openapi.json, generated from the route schemas, and a docs page at /docs served from the package (no CDN). */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'bindery',
        version,
        description:
          'Account <-> push token bindings, wire-compatible with the TPNS Account API v3. Every error answers ' +
          '`ret_code`/`err_msg` and `retCode`/`errMsg`.',
      },
      components: {
        securitySchemes: {
          basic: { type: 'http', scheme: 'basic', description: 'AccessID:SecretKey' },
          admin: { type: 'http', scheme: 'bearer', description: 'BINDERY_ADMIN_TOKEN' },
        },
      },
      tags: [
        { name: 'TPNS', description: 'The TPNS Account API v3 endpoints' },
        { name: 'bindings', description: 'Bindings with their metadata' },
        { name: 'history', description: 'Every change, with its cause' },
        {
          name: 'lifecycle',
          description: "Dead tokens from providers' answers, activity and expiry, quarantine and restore",
        },
        { name: 'bulk', description: 'Export and import of all bindings, NDJSON' },
        {
          name: 'admin',
          description:
            'Apps, policies, secrets and webhooks (Bearer BINDERY_ADMIN_TOKEN), on the BINDERY_ADMIN_LISTEN ' +
            "listener when that is set (else beside the tenants' API). A wrong token slows down only the " +
            'client that sent it (BINDERY_TRUST_PROXY names the proxies whose X-Forwarded-For says who that is); the right token is never refused.',
        },
        { name: 'operations', description: 'Health, readiness and metrics' },
      ],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: true } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
