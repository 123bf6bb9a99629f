/**
 * GET /api/v1/export and POST /api/v1/import: all of an app's bindings as NDJSON, in constant memory.
 * An export is one snapshot of the store, read a page at a time as the client takes it (the
 * socket's backpressure), with the event loop free for other requests between two pages; exports
 * at once are bounded per instance, and a client that stops reading is cut off. An import is
 * spooled to a temp file first (so it can be authenticated by signature and checked against an
 * Idempotency-Key), then run by the domain (run-import.ts).
 */
import { rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { setImmediate } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { bindingLine } from '../../domain/binding-lines.ts';
import { IMPORT_BATCH, IMPORT_ERRORS_SHOWN, runImport } from '../../domain/run-import.ts';
import { checkToken } from '../../domain/validate-fields.ts';
import { ApiError, apiError, RetCode, StoreError } from '../../errors.ts';
import { idempotencyKeyOf } from '../idempotency-key.ts';
import { answerPosition, readContext } from '../position.ts';
import { type TenantOptions, tenantOf } from '../tenant.ts';
import { errorResponses, status } from '../tpns/schemas.ts';
import { valid } from './bindings-view.ts';
import { fileLines } from './file-lines.ts';
import { spool } from './import-spool.ts';

/**
 * Rows read and formatted between two turns of the event loop: what another request may wait
 * behind one export. 250 against 1,000: the other tenant's queries 2,261 against 848 req/s during
 * 4 exports, the exports 14.0 against 11.6 s per 1,000,000 (BENCHMARKS.md).
 */
const EXPORT_PAGE = 250;
/** What an export formats ahead of the socket: two pages or so. */
const EXPORT_BUFFER_BYTES = 128 * 1024;
const EXPORT_RETRY_AFTER_S = 5;

export interface BulkRouteOptions extends TenantOptions {
  maxTokenBytes: number;
  importMaxBytes: number;
  spoolDir: string;
  exportConcurrency: number;
  exportIdleMs: number;
  exportPerApp: number;
  exportMaxMs: number;
}

const ImportSummary = Type.Object({
  ret_code: Type.Integer(),
  err_msg: Type.String(),
  retCode: Type.Integer(),
  errMsg: Type.String(),
  imported: Type.Integer({ description: 'lines applied' }),
  failed: Type.Integer({ description: 'lines refused' }),
  replaced: Type.Integer({
    description:
      "tpns binding rules: stored bindings removed because a line's account took the token's account_type (as op 2)",
  }),
  superseded: Type.Integer({
    description: 'tpns binding rules: lines not applied because a later line took their token and account_type',
  }),
  errors: Type.Array(Type.Object({ line: Type.Integer(), err_msg: Type.String() }), {
    description: `the first ${IMPORT_ERRORS_SHOWN} refused lines`,
  }),
});

export async function bulkRoutes(app: FastifyInstance, options: BulkRouteOptions): Promise<void> {
  const { store } = options;
  let exporting = 0;
  /** Exports streaming per app: one tenant holds at most exportPerApp of the instance's slots. */
  const exportingFor = new Map<number, number>();
  // Imports can be large: hand the handler the raw stream instead of a buffered body.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

  app.get(
    '/api/v1/export',
    {
      schema: {
        tags: ['bulk'],
        summary: "All of the app's bindings as NDJSON, one per line",
        description:
          'At most BINDERY_EXPORT_PER_APP exports of one app (default 2) and BINDERY_EXPORT_CONCURRENCY of all ' +
          'apps (4) stream at once per instance; one more is answered 429 (1008028) with Retry-After. An export ' +
          'still running after BINDERY_EXPORT_MAX_MS (1 h) ends with the line ' +
          '{"ret_code":1008028,"err_msg":"export ended after …"} instead of a binding, and one the store fails ' +
          'midway with {"ret_code":1008004,"err_msg":"export broke off …"}; one whose client reads ' +
          'nothing for BINDERY_EXPORT_IDLE_MS (30 s) is cut off.',
        querystring: Type.Object({
          from_token: Type.Optional(
            Type.String({
              description:
                "start at this token's bindings, in token order (bytewise): to go on from an export that broke off, " +
                'give the last token received (its bindings come again, whole)',
            }),
          ),
        }),
        produces: ['application/x-ndjson'],
        response: errorResponses,
      },
    },
    async (request, reply) => {
      const tenant = await tenantOf(request, options, Buffer.alloc(0));
      const { after } = readContext(request);
      const given = (request.query as { from_token?: string }).from_token;
      const fromToken = given === undefined ? undefined : valid(checkToken(given, 'from_token', options.maxTokenBytes));
      const mine = exportingFor.get(tenant.id) ?? 0;
      if (mine >= options.exportPerApp) throw apiError.appExportsBusy(mine, EXPORT_RETRY_AFTER_S);
      if (exporting >= options.exportConcurrency) throw apiError.exportsBusy(exporting, EXPORT_RETRY_AFTER_S);
      exporting++;
      exportingFor.set(tenant.id, mine + 1);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        exporting--;
        const left = (exportingFor.get(tenant.id) ?? 1) - 1;
        if (left > 0) exportingFor.set(tenant.id, left);
        else exportingFor.delete(tenant.id);
        clearTimeout(deadline);
      };
      // A client that reads just often enough never goes idle: past exportMaxMs the export ends,
      // at the next page it is asked for, with a last line that says why (not a binding).
      let overdue = false;
      const deadline = setTimeout(() => void (overdue = true), options.exportMaxMs);
      let sent = 0;
      async function* lines() {
        try {
          for await (const page of store.exportBindings(tenant.id, EXPORT_PAGE, after, fromToken)) {
            if (overdue) {
              request.log.warn({ accessId: tenant.accessId, sent }, 'export ended: it ran past BINDERY_EXPORT_MAX_MS');
              yield `${JSON.stringify(
                status(
                  RetCode.RATE_LIMITED,
                  `export ended after ${options.exportMaxMs} ms (BINDERY_EXPORT_MAX_MS) with ${sent} bindings sent; ` +
                    'it is incomplete: read faster, or go on from the last token received (from_token=)',
                ),
              )}\n`;
              return;
            }
            sent += page.length;
            yield page.map((b) => `${JSON.stringify(bindingLine(b))}\n`).join('');
            await setImmediate(); // every other request gets its turn between two pages
          }
        } catch (error) {
          // The answer began as a success: its last line says that it is incomplete, and why.
          request.log.error({ err: error, accessId: tenant.accessId, sent }, 'export broke off');
          const why = error instanceof StoreError ? 'the store became unavailable' : 'an internal error';
          yield `${JSON.stringify(
            status(
              RetCode.INTERNAL,
              `export broke off with ${sent} bindings sent: ${why} (the server's log says more); it is ` +
                'incomplete: export again, or go on from the last token received (from_token=)',
            ),
          )}\n`;
        } finally {
          // The slot is free once the store's snapshot is, not once the client has read the rest.
          release();
        }
      }
      // Not object mode: the buffer is counted in bytes, so a slow client holds back the reads.
      const body = Readable.from(lines(), { objectMode: false, highWaterMark: EXPORT_BUFFER_BYTES });
      body.once('close', release);
      reply.raw.setTimeout(options.exportIdleMs, () => {
        request.log.warn(
          { accessId: tenant.accessId, sent },
          `export cut off: the client read nothing for ${options.exportIdleMs} ms`,
        );
        reply.raw.destroy();
      });
      reply.type('application/x-ndjson; charset=utf-8');
      return reply.send(body);
    },
  );

  app.post(
    '/api/v1/import',
    {
      schema: {
        tags: ['bulk'],
        summary: 'Add bindings from NDJSON (the export format); caps are not applied',
        description: `Lines are applied in transactions of ${IMPORT_BATCH}. Send Idempotency-Key to make a retry safe.`,
        consumes: ['application/x-ndjson'],
        response: { 200: ImportSummary, ...errorResponses },
      },
    },
    async (request, reply) => {
      const body = await spool(request, options.spoolDir, options.importMaxBytes);
      try {
        const tenant = await tenantOf(request, options, body);
        const key = idempotencyKeyOf(request, () => body.sha256, 'import:');
        if (key) {
          const seen = await store.recallIdempotent(tenant.id, key.key);
          if (seen && seen.bodyHash !== key.bodyHash)
            throw apiError.invalid(
              'Idempotency-Key header: used with another body in the last 24 hours; use a new key for a new request',
            );
          if (seen) return JSON.parse(seen.result) as unknown;
        }
        const report = await runImport(store, tenant.id, fileLines(body.path), {
          maxTokenBytes: options.maxTokenBytes,
          slots: tenant.policy.bindingRules === 'tpns',
          storeFailed: (error, done) => {
            request.log.error({ err: error, imported: done }, 'import stopped by a store failure');
            return new ApiError(
              RetCode.INTERNAL,
              503,
              `store failure: ${done} lines were imported before it; importing the same lines again is safe`,
            );
          },
        });
        const { imported, failed, errors, replaced, superseded } = report;
        if (imported + failed + superseded === 0)
          throw apiError.missing('body: no lines; send NDJSON, one binding per line');
        const code = failed === 0 ? RetCode.OK : imported === 0 ? RetCode.ALL_FAILED : RetCode.SOME_FAILED;
        const message =
          failed === 0
            ? 'ok'
            : `${failed} of ${imported + failed} lines failed${imported > 0 ? ', the others were imported' : ''}: ` +
              `${errors[0]?.err_msg ?? ''}`;
        const summary = { ...status(code, message), imported, failed, replaced, superseded, errors };
        if (key) await store.rememberIdempotent(tenant.id, key, JSON.stringify(summary));
        answerPosition(reply, store, tenant.id);
        return summary;
      } finally {
        await rm(body.path, { force: true });
      }
    },
  );
}
