/** How a background round that failed is logged. */
import type { FastifyBaseLogger } from 'fastify';
import { StoreError } from '../errors.ts';

/**
 * A store that is away is said once by the store itself (when it goes and when it comes back);
 * a round refused meanwhile is a debug line, not a warning every poll.
 */
export function logRoundFailure(log: FastifyBaseLogger, error: unknown, message: string): void {
  if (error instanceof StoreError && error.unavailable) log.debug({ err: error }, message);
  else log.warn({ err: error }, message);
}
