/** Liveness (/healthz: the process answers) and readiness (/readyz: the store answers too). */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { BindingStore } from '../model/store.ts';

const Health = Type.Object({
  status: Type.String(),
  version: Type.Optional(Type.String({ description: "bindery's version (package.json)" })),
  schema: Type.Optional(
    Type.Object(
      { sqlite: Type.Integer(), postgres: Type.Integer() },
      { description: 'the schema version this build migrates each store to' },
    ),
  ),
  store: Type.Optional(Type.String()),
  region: Type.Optional(Type.String()),
  detail: Type.Optional(Type.String()),
});

export async function healthRoutes(
  app: FastifyInstance,
  options: {
    store: BindingStore;
    region: string;
    build: { version: string; schema: { sqlite: number; postgres: number } };
  },
): Promise<void> {
  const { version, schema } = options.build;
  app.get('/healthz', { schema: { tags: ['operations'], response: { 200: Health } } }, async () => ({
    status: 'ok',
    version,
    schema,
  }));
  app.get(
    '/readyz',
    { schema: { tags: ['operations'], response: { 200: Health, 503: Health } } },
    async (request, reply) => {
      try {
        await options.store.ping();
        return { status: 'ready', store: options.store.kind, region: options.region };
      } catch (error) {
        request.log.debug({ err: error }, 'readiness check failed');
        // The reason, as the store gives it (never a credential): what an operator looks at first.
        const detail = error instanceof Error ? error.message : 'the store does not answer';
        return reply
          .status(503)
          .send({ status: 'not ready', store: options.store.kind, region: options.region, detail });
      }
    },
  );
}
