/**
 * Write positions on the wire (read replicas): every write answer carries the position of the
 * commit in `x-bindery-lsn`; a read that sends one back is served only by a database that has
 * replayed it, so a client reads its own writes whichever instance answers.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { apiError } from '../errors.ts';
import { type BindingStore, WRITE_POSITION } from '../model/store.ts';

export const POSITION_HEADER = 'x-bindery-lsn';

/** What a read passes on to the store: its deadline and the position it must see. */
export interface ReadContext {
  deadline?: number;
  after?: string;
}

export function readContext(request: FastifyRequest): ReadContext {
  const value = request.headers[POSITION_HEADER];
  if (value === undefined) return { deadline: request.deadline };
  if (typeof value !== 'string' || !WRITE_POSITION.test(value)) {
    const shown = JSON.stringify(String(value).slice(0, 40));
    throw apiError.invalid(
      `${POSITION_HEADER} header: must be a write position as a write answer gave it (like 0/16B3748), got ${shown}`,
    );
  }
  return { deadline: request.deadline, after: value };
}

/** Puts the app's last write position on a write's answer, where the store has one. */
export function answerPosition(reply: FastifyReply, store: BindingStore, appId: number): void {
  const position = store.writePosition(appId);
  if (position !== undefined) reply.header(POSITION_HEADER, position);
}
