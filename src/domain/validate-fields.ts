/**
 * Checks of single values (SPEC §1). Each returns the clean value or a Failure whose message
 * names the field path, so that err_msg says what was wrong and where.
 */
import { RetCode } from '../model/errors.ts';
import type { AccountKey, Platform } from '../model/types.ts';

/** How far ahead of this server's clock a time a client gives may be (clocks differ): feedback, import. */
export const MAX_AT_SKEW_MS = 5 * 60_000;

export interface Failure {
  code: typeof RetCode.INVALID_TOKEN | typeof RetCode.INVALID_PARAMETER;
  message: string;
}

export const isFailure = (value: unknown): value is Failure =>
  typeof value === 'object' && value !== null && 'code' in value && 'message' in value;

const fail = (code: Failure['code'], path: string, what: string): Failure => ({ code, message: `${path}: ${what}` });

/** Account strings: more than 1 byte (TPNS glossary), at most 100 characters (TPNS upload rule). */
export const MAX_ACCOUNT_CHARS = 100;
/** account_type must fit a 32-bit signed integer in every store. */
export const MAX_ACCOUNT_TYPE = 2_147_483_647;
/** op_type / op_id are recorded verbatim; bound them like every string. */
export const MAX_OPERATOR_CHARS = 128;

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') {
    const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
    return `the string ${JSON.stringify(shown)}`;
  }
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

/**
 * Text every store can keep verbatim: well-formed Unicode without U+0000 (PostgreSQL text cannot
 * hold NUL), so that both backends accept and refuse exactly the same strings.
 */
function textProblem(value: string): string | undefined {
  if (!value.isWellFormed()) return 'not valid UTF-8 (unpaired surrogate)';
  if (value.includes('\u0000')) return 'contains a NUL character (U+0000)';
  return undefined;
}

export const utf8Length = (value: string): number => Buffer.byteLength(value, 'utf8');

export function checkToken(value: unknown, path: string, maxBytes: number): string | Failure {
  if (value === undefined || value === null) return fail(RetCode.INVALID_TOKEN, path, 'required');
  if (typeof value !== 'string') return fail(RetCode.INVALID_TOKEN, path, `must be a string, got ${describe(value)}`);
  if (value.length === 0) return fail(RetCode.INVALID_TOKEN, path, 'empty');
  const tokenProblem = textProblem(value);
  if (tokenProblem) return fail(RetCode.INVALID_TOKEN, path, tokenProblem);
  // A UTF-16 unit is at most 3 UTF-8 bytes: short tokens need no byte count.
  const bytes = value.length * 3 <= maxBytes ? 0 : utf8Length(value);
  if (bytes > maxBytes) return fail(RetCode.INVALID_TOKEN, path, `longer than ${maxBytes} bytes (${bytes} bytes)`);
  return value;
}

export function checkAccountKey(value: unknown, path: string): AccountKey | Failure {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(
      RetCode.INVALID_PARAMETER,
      path,
      `must be an object like {"account": "...", "account_type": 0}, got ${describe(value)}`,
    );
  }
  const { account, account_type: accountType } = value as Record<string, unknown>;
  const accountPath = `${path}.account`;
  if (account === undefined || account === null) return fail(RetCode.INVALID_PARAMETER, accountPath, 'required');
  if (typeof account !== 'string')
    return fail(RetCode.INVALID_PARAMETER, accountPath, `must be a string, got ${describe(account)}`);
  const accountProblem = textProblem(account);
  if (accountProblem) return fail(RetCode.INVALID_PARAMETER, accountPath, accountProblem);
  // TPNS: "The character length of an account must be greater than 1 byte." (2+ UTF-16 units are 2+ bytes.)
  if (account.length < 2 && utf8Length(account) <= 1)
    return fail(RetCode.INVALID_PARAMETER, accountPath, `must be longer than 1 byte, got ${describe(account)}`);
  // Characters are code points; there are never more of them than UTF-16 units.
  const chars = account.length <= MAX_ACCOUNT_CHARS ? account.length : [...account].length;
  if (chars > MAX_ACCOUNT_CHARS) {
    return fail(
      RetCode.INVALID_PARAMETER,
      accountPath,
      `longer than ${MAX_ACCOUNT_CHARS} characters (${chars} characters)`,
    );
  }
  if (accountType === undefined || accountType === null) return { account, accountType: 0 };
  if (
    typeof accountType !== 'number' ||
    !Number.isInteger(accountType) ||
    accountType < 0 ||
    accountType > MAX_ACCOUNT_TYPE
  ) {
    return fail(
      RetCode.INVALID_PARAMETER,
      `${path}.account_type`,
      `must be an integer from 0 to ${MAX_ACCOUNT_TYPE}, got ${describe(accountType)}`,
    );
  }
  return { account, accountType };
}

export function checkPlatform(value: unknown): Platform | null | Failure {
  if (value === undefined || value === null) return null;
  const lower = typeof value === 'string' ? value.toLowerCase() : undefined;
  if (lower === 'android' || lower === 'ios') return lower;
  return fail(RetCode.INVALID_PARAMETER, 'platform', `must be "android" or "ios", got ${describe(value)}`);
}

export function checkOperatorField(value: unknown, path: string): string | null | Failure {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string')
    return fail(RetCode.INVALID_PARAMETER, path, `must be a string, got ${describe(value)}`);
  const problem = textProblem(value);
  if (problem) return fail(RetCode.INVALID_PARAMETER, path, problem);
  if (value.length > MAX_OPERATOR_CHARS)
    return fail(RetCode.INVALID_PARAMETER, path, `longer than ${MAX_OPERATOR_CHARS} characters`);
  return value;
}

/** A required string of 1..`max` characters every store keeps verbatim (a provider's reason). */
export function checkText(value: unknown, path: string, max: number): string | Failure {
  if (value === undefined || value === null) return fail(RetCode.INVALID_PARAMETER, path, 'required');
  if (typeof value !== 'string' || value.length === 0)
    return fail(RetCode.INVALID_PARAMETER, path, `must be a non-empty string, got ${describe(value)}`);
  const problem = textProblem(value);
  if (problem) return fail(RetCode.INVALID_PARAMETER, path, problem);
  if (value.length > max) return fail(RetCode.INVALID_PARAMETER, path, `longer than ${max} characters`);
  return value;
}
