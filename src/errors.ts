/**
 * The error catalog: every TPNS return code bindery answers with, its HTTP status, and the
 * errors that carry them. The only place these numbers are written.
 */
export const RetCode = {
  OK: 0,
  INVALID_JSON: 1008001,
  MISSING_PARAMETER: 1008002,
  AUTH_FAILED: 1008003,
  INTERNAL: 1008004,
  INVALID_TOKEN: 1008006,
  INVALID_PARAMETER: 1008007,
  SOME_FAILED: 1008026,
  ALL_FAILED: 1008027,
  RATE_LIMITED: 1008028,
  NO_BINDING: 10110008,
} as const;

export type RetCodeValue = (typeof RetCode)[keyof typeof RetCode];

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
};

/** Raised by a store. `unavailable` means the store could not be reached (HTTP 503) rather than failed (500). */
export class StoreError extends Error {
  override name = 'StoreError';
  constructor(
    message: string,
    readonly unavailable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** An app that a call names does not exist (deleted meanwhile, or never created). */
export class AppNotFoundError extends Error {
  override name = 'AppNotFoundError';
  constructor(readonly accessId: string) {
    super(`no app with AccessID ${accessId}`);
  }
}

/** An app with this AccessID already exists. */
export class AppExistsError extends Error {
  override name = 'AppExistsError';
  constructor(readonly accessId: string) {
    super(`an app with AccessID ${accessId} already exists`);
  }
}

/** The same Idempotency-Key came with another body. Nothing was applied. */
export class IdempotencyMismatchError extends Error {
  override name = 'IdempotencyMismatchError';
  constructor(readonly key: string) {
    super(`Idempotency-Key ${JSON.stringify(key)} was used with another body in the last 24 hours`);
  }
}
