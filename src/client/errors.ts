/** A request bindery refused or could not answer, with the TPNS code and message it gave. */
export class BinderyError extends Error {
  override name = 'BinderyError';
  constructor(
    /** The TPNS ret_code (1008003 …), or -1 when no bindery answer came (network, timeout). */
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
