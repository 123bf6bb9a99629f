/** POST /admin/v1/apps/{accessId}/rewind: an app's bindings made what they were at a time, as one write. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { AppInputError, type AppService, AppStateError } from '../../domain/app-service.ts';
import { apiError } from '../../errors.ts';
import { errorResponses } from '../tpns/schemas.ts';

const RewindBody = Type.Object(
  {
    to: Type.Union([Type.String({ maxLength: 64 }), Type.Integer({ minimum: 0 })], {
      description: 'the time to rewind to: ISO 8601 with its zone (2026-12-07T09:30:00Z) or Unix milliseconds',
    }),
    dry_run: Type.Optional(
      Type.Boolean({ default: false, description: 'count what would be bound and unbound; change nothing' }),
    ),
  },
  { additionalProperties: false },
);

const RewindAnswer = Type.Object({
  access_id: Type.String(),
  to: Type.String({ description: 'the time rewound to, ISO 8601' }),
  dry_run: Type.Boolean(),
  bind: Type.Integer({ description: 'bindings brought back (cause `rewind` in the history)' }),
  unbind: Type.Integer({ description: 'bindings removed (cause `rewind`)' }),
  revision: Type.Integer({ description: "the app's write revision of the rewind; 0 for a dry run" }),
});

export function registerRewind(fastify: FastifyInstance, service: AppService, security: { admin: never[] }[]): void {
  fastify.withTypeProvider<TypeBoxTypeProvider>().post(
    '/admin/v1/apps/:accessId/rewind',
    {
      schema: {
        tags: ['admin'],
        security,
        summary: "Make the app's bindings what they were at a time (undo what came after), as one write",
        description:
          'Every change whose write began after `to` is undone from the history, in one transaction: bindings ' +
          'made since are removed, bindings removed since come back (active, bound now), each in the history ' +
          'and as a webhook event with cause `rewind`. Refused with 409 when the history cannot answer: it is ' +
          'trimmed before `to` (BINDERY_HISTORY_RETENTION_DAYS) or an import (which writes no history) came after.',
        params: Type.Object({ accessId: Type.String({ maxLength: 20 }) }),
        body: RewindBody,
        response: { 200: RewindAnswer, ...errorResponses },
      },
    },
    async (request) => {
      const { accessId } = request.params;
      let done: Awaited<ReturnType<AppService['rewind']>>;
      try {
        done = await service.rewind(accessId, request.body.to, request.body.dry_run ?? false, request.id);
      } catch (error) {
        if (error instanceof AppInputError) throw apiError.invalid(error.message);
        if (error instanceof AppStateError) throw apiError.conflict(error.message);
        throw error;
      }
      if (!done) throw apiError.noSuch(`no app with AccessID ${accessId}`);
      return {
        access_id: accessId,
        to: new Date(done.to).toISOString(),
        dry_run: done.dryRun,
        bind: done.bind,
        unbind: done.unbind,
        revision: done.revision,
      };
    },
  );
}
