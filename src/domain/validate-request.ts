/**
 * Turns a parsed TPNS request body into valid elements and per-element failures (SPEC §2.3-2.6).
 * A whole-request problem throws a RequestError and nothing is applied; an element's own problem
 * becomes that element's result and the others go ahead.
 */
import { RetCode, requestError } from '../model/errors.ts';
import type { AccountKey, BatchCommand, BatchElement } from '../model/types.ts';
import {
  checkAccountKey,
  checkOperatorField,
  checkPlatform,
  checkToken,
  describe,
  type Failure,
  isFailure,
} from './validate-fields.ts';

/** TPNS: "Up to 20 tokens are allowed" per batchoperate call. */
export const MAX_TOKEN_ACCOUNTS = 20;
/** Lists of tokens or accounts: 1..100 entries (SPEC §2.4, §2.6). */
export const MAX_LIST_ENTRIES = 100;

export type Slot<T> = { ok: true; value: T } | { ok: false; failure: Failure };

export interface ValidBatch {
  command: BatchCommand;
  /** One slot per request element, in request order. */
  slots: Slot<BatchElement>[];
  /** The request field the slots came from, for messages. */
  listName: 'token_accounts' | 'token_list' | 'account_list';
}

export type ValidQuery =
  | { op: 1; slots: Slot<AccountKey>[]; raw: unknown[] }
  | { op: 2; slots: Slot<string>[]; raw: unknown[] };

const slot = <T>(value: T | Failure): Slot<T> =>
  isFailure(value) ? { ok: false, failure: value } : { ok: true, value };

function operatorType(body: Record<string, unknown>, max: number): number {
  const value = body.operator_type;
  if (value === undefined || value === null) throw requestError.missing('operator_type: required');
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw requestError.invalid(`operator_type: must be an integer from 1 to ${max}, got ${describe(value)}`);
  }
  return value;
}

function requiredList(body: Record<string, unknown>, name: string, max: number, op: number): unknown[] {
  const value = body[name];
  if (value === undefined || value === null)
    throw requestError.missing(`${name}: required when operator_type is ${op}`);
  if (!Array.isArray(value)) throw requestError.invalid(`${name}: must be an array, got ${describe(value)}`);
  if (value.length === 0) throw requestError.missing(`${name}: must not be empty when operator_type is ${op}`);
  if (value.length > max) throw requestError.invalid(`${name}: at most ${max} entries, got ${value.length}`);
  return value;
}

function unwrap<T>(value: T | Failure): T {
  if (isFailure(value)) throw requestError.invalid(value.message);
  return value;
}

function tokenAccountsElement(
  value: unknown,
  path: string,
  op: 1 | 2 | 3,
  maxTokenBytes: number,
): BatchElement | Failure {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return {
      code: RetCode.INVALID_PARAMETER,
      message: `${path}: must be an object like {"token": "...", "account_list": [...]}, got ${describe(value)}`,
    };
  }
  const record = value as Record<string, unknown>;
  const token = checkToken(record.token, `${path}.token`, maxTokenBytes);
  if (isFailure(token)) return token;
  const list = record.account_list;
  const listPath = `${path}.account_list`;
  if (list === undefined || list === null) return { code: RetCode.INVALID_PARAMETER, message: `${listPath}: required` };
  if (!Array.isArray(list))
    return { code: RetCode.INVALID_PARAMETER, message: `${listPath}: must be an array, got ${describe(list)}` };
  if (list.length === 0) return { code: RetCode.INVALID_PARAMETER, message: `${listPath}: must not be empty` };
  if (list.length > MAX_LIST_ENTRIES) {
    return {
      code: RetCode.INVALID_PARAMETER,
      message: `${listPath}: at most ${MAX_LIST_ENTRIES} entries, got ${list.length}`,
    };
  }
  const accounts: AccountKey[] = [];
  for (const [i, entry] of list.entries()) {
    const key = checkAccountKey(entry, `${listPath}[${i}]`);
    if (isFailure(key)) return key;
    accounts.push(key);
  }
  return { op, token, accounts };
}

export function validateBatch(body: Record<string, unknown>, maxTokenBytes: number): ValidBatch {
  const op = operatorType(body, 5);
  const command: BatchCommand = {
    elements: [],
    platform: unwrap(checkPlatform(body.platform)),
    opType: unwrap(checkOperatorField(body.op_type, 'op_type')),
    opId: unwrap(checkOperatorField(body.op_id, 'op_id')),
  };
  let listName: ValidBatch['listName'];
  let slots: Slot<BatchElement>[];
  if (op === 1 || op === 2 || op === 3) {
    listName = 'token_accounts';
    // TPNS: "Up to 20 tokens are allowed" in token_accounts.
    const list = requiredList(body, listName, MAX_TOKEN_ACCOUNTS, op);
    slots = list.map((value, i) => slot(tokenAccountsElement(value, `${listName}[${i}]`, op, maxTokenBytes)));
  } else if (op === 4) {
    listName = 'token_list';
    const list = requiredList(body, listName, MAX_LIST_ENTRIES, op);
    slots = list.map((value, i) => {
      const token = checkToken(value, `${listName}[${i}]`, maxTokenBytes);
      return slot<BatchElement>(isFailure(token) ? token : { op: 4, token });
    });
  } else {
    listName = 'account_list';
    const list = requiredList(body, listName, MAX_LIST_ENTRIES, op);
    slots = list.map((value, i) => {
      const account = checkAccountKey(value, `${listName}[${i}]`);
      return slot<BatchElement>(isFailure(account) ? account : { op: 5, account });
    });
  }
  for (const s of slots) if (s.ok) command.elements.push(s.value);
  return { command, slots, listName };
}

export function validateQuery(body: Record<string, unknown>, maxTokenBytes: number): ValidQuery {
  const op = operatorType(body, 2);
  // The platform of a query is accepted and ignored, whatever its value (SPEC §2.6).
  if (op === 1) {
    const raw = requiredList(body, 'account_list', MAX_LIST_ENTRIES, op);
    return { op, raw, slots: raw.map((value, i) => slot(checkAccountKey(value, `account_list[${i}]`))) };
  }
  const raw = requiredList(body, 'token_list', MAX_LIST_ENTRIES, op);
  return { op: 2, raw, slots: raw.map((value, i) => slot(checkToken(value, `token_list[${i}]`, maxTokenBytes))) };
}
