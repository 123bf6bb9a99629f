/** The Idempotency-Key header (batchoperate, import): 1..255 visible ASCII characters, bound to the body's hash. */
import type { FastifyRequest } from 'fastify';
import { apiError } from '../errors.ts';
import type { IdempotencyKey } from '../model/batch-transaction.ts';

const KEY = /^[\x21-\x7e]{1,255}$/;

/** The request's key, or undefined without the header; `scope` keeps keys of different endpoints apart. */
export function idempotencyKeyOf(
  request: FastifyRequest,
  bodyHash: () => string,
  scope = '',
): IdempotencyKey | undefined {
  const header = request.headers['idempotency-key'];
  if (header === undefined) return undefined;
  const key = Array.isArray(header) ? (header[0] ?? '') : header;
  if (!KEY.test(key)) throw apiError.invalid('Idempotency-Key header: must be 1 to 255 visible ASCII characters');
  return { key: `${scope}${key}`, bodyHash: bodyHash() };
}
