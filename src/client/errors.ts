/**
 * The SDK's error catalog: the TPNS codes it reads or writes, and the error it throws. The SDK is
 * built alone from src/client and imports no server code, so it keeps its own table of the codes;
 * test/client/errors.test.ts checks that it equals the server's (src/errors.ts).
 */
export const RetCode = {
  OK: 0,
  AUTH_FAILED: 1008003,
  INTERNAL: 1008004,
  SOME_FAILED: 1008026,
  ALL_FAILED: 1008027,
  RATE_LIMITED: 1008028,
  /** An element: no binding to unbind or to find. */
  NO_BINDING: 10110008,
} as const;

/** A request bindery refused or could not answer, with the TPNS code and message it gave. */
export class BinderyError extends Error {
  override name = 'BinderyError';
  constructor(
    /** The TPNS ret_code (RetCode), or -1 when no bindery answer came (network, timeout). */
    readonly retCode: number,
    readonly errMsg: string,
    /** The HTTP status, or 0 when no answer came. */
    readonly httpStatus: number,
    /** For a split request: how many of its parts were applied before this one failed. */
    readonly partsApplied = 0,
  ) {
    super(`bindery ${retCode}${httpStatus ? ` (HTTP ${httpStatus})` : ''}: ${errMsg}`);
  }

  get ret_code(): number {
    return this.retCode;
  }

  get err_msg(): string {
    return this.errMsg;
  }
}
