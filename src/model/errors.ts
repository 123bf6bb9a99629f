/**
 * The errors the rules and the stores raise, and the TPNS codes they carry. They know nothing of
 * HTTP: the edge (src/errors.ts) gives each its status and answer.
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

/**
 * A whole request refused by the rules (a missing or malformed parameter): nothing was applied.
 * The edge answers it with HTTP 400.
 */
export class RequestError extends Error {
  override name = 'RequestError';
  constructor(
    readonly retCode: typeof RetCode.MISSING_PARAMETER | typeof RetCode.INVALID_PARAMETER,
    message: string,
  ) {
    super(message);
  }
}

export const requestError = {
  /** A required parameter is absent or empty (1008002). */
  missing: (detail: string) => new RequestError(RetCode.MISSING_PARAMETER, detail),
  /** A parameter has the wrong type or value (1008007). */
  invalid: (detail: string) => new RequestError(RetCode.INVALID_PARAMETER, detail),
};

/**
 * Raised by a store. `unavailable` means the store could not be reached (HTTP 503) rather than
 * failed (500). `outcomeUnknown`: the connection was lost after COMMIT was sent, so the write may
 * have been applied in full (or not at all; never in part).
 */
export class StoreError extends Error {
  override name = 'StoreError';
  readonly outcomeUnknown: boolean;
  constructor(
    message: string,
    readonly unavailable = false,
    options?: { cause?: unknown; outcomeUnknown?: boolean },
  ) {
    super(message, options);
    this.outcomeUnknown = options?.outcomeUnknown ?? false;
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

/** A rewind the history cannot answer (trimmed, an import since, too many changes): nothing was applied. */
export class RewindRefusedError extends Error {
  override name = 'RewindRefusedError';
}
