/**
 * The edge's error catalog: every answer bindery refuses a request with, its TPNS code (from
 * src/model/errors.ts, where the codes are written) and its HTTP status, the one place statuses are
 * chosen. The errors of the rules and the stores are re-exported for the edge's convenience.
 */
import { type RequestError, RetCode, type RetCodeValue } from './model/errors.ts';

export {
  AppExistsError,
  AppNotFoundError,
  IdempotencyMismatchError,
  RequestError,
  RetCode,
  type RetCodeValue,
  StoreError,
} from './model/errors.ts';

/** A whole-request failure: nothing was changed. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly retCode: RetCodeValue,
    readonly httpStatus: number,
    message: string,
    /** Extra response headers, e.g. Retry-After. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** A refusal by the rules, as the edge answers it. */
export function fromRequestError(error: RequestError): ApiError {
  return new ApiError(error.retCode, 400, error.message);
}

export const apiError = {
  invalidJson: (detail: string) => new ApiError(RetCode.INVALID_JSON, 400, detail),
  missing: (detail: string) => new ApiError(RetCode.MISSING_PARAMETER, 400, detail),
  invalid: (detail: string) => new ApiError(RetCode.INVALID_PARAMETER, 400, detail),
  auth: (detail: string) => new ApiError(RetCode.AUTH_FAILED, 401, `authentication failed: ${detail}`),
  bodyTooLarge: (limit: number) =>
    new ApiError(RetCode.INVALID_PARAMETER, 413, `body: larger than the limit of ${limit} bytes`),
  notFound: (method: string, path: string) =>
    new ApiError(RetCode.INVALID_PARAMETER, 404, `no such endpoint: ${method} ${path}`),
  noSuch: (what: string) => new ApiError(RetCode.INVALID_PARAMETER, 404, what),
  noBinding: (what: string) => new ApiError(RetCode.NO_BINDING, 404, what),
  conflict: (what: string) => new ApiError(RetCode.INVALID_PARAMETER, 409, what),
  rateLimited: (retryAfterSeconds: number, perSecond: number) =>
    new ApiError(
      RetCode.RATE_LIMITED,
      429,
      `rate limit exceeded: this app may send ${perSecond} requests per second; retry in ${retryAfterSeconds} s`,
      {
        'retry-after': String(retryAfterSeconds),
      },
    ),
  exportsBusy: (running: number, retryAfterSeconds: number) =>
    new ApiError(
      RetCode.RATE_LIMITED,
      429,
      `too many exports: ${running} are streaming from this instance, its limit; retry in ${retryAfterSeconds} s`,
      {
        'retry-after': String(retryAfterSeconds),
      },
    ),
  appExportsBusy: (running: number, retryAfterSeconds: number) =>
    new ApiError(
      RetCode.RATE_LIMITED,
      429,
      `too many exports for this app: ${running} are streaming, its limit (BINDERY_EXPORT_PER_APP); ` +
        `retry in ${retryAfterSeconds} s`,
      { 'retry-after': String(retryAfterSeconds) },
    ),
  authThrottled: (retryAfterSeconds: number) =>
    new ApiError(
      RetCode.RATE_LIMITED,
      429,
      `too many failed authentication attempts from this address; retry in ${retryAfterSeconds} s`,
      {
        'retry-after': String(retryAfterSeconds),
      },
    ),
  metricsAuth: (detail: string) =>
    new ApiError(RetCode.AUTH_FAILED, 401, `metrics authentication failed: ${detail}`, {
      'www-authenticate': 'Bearer',
    }),
  adminAuth: (detail: string) =>
    new ApiError(RetCode.AUTH_FAILED, 401, `admin authentication failed: ${detail}`, { 'www-authenticate': 'Bearer' }),
  methodNotAllowed: (method: string, path: string, allowed: string) =>
    new ApiError(RetCode.INVALID_PARAMETER, 405, `method ${method} is not allowed on ${path}; use ${allowed}`),
  internal: () =>
    new ApiError(RetCode.INTERNAL, 500, 'internal error: nothing was changed; the detail is in the server log'),
  unavailable: () => new ApiError(RetCode.INTERNAL, 503, 'store unavailable: nothing was changed; retry shortly'),
  /** The store went away after the commit was sent: applied in full or not at all, and a retry is safe. */
  outcomeUnknown: () =>
    new ApiError(
      RetCode.INTERNAL,
      503,
      'store unavailable while committing: the outcome is unknown (applied in full or not at all); the write is safe to retry',
    ),
};
