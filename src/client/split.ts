/**
 * Requests bigger than one call allows (TPNS: 20 token_accounts, 100 tokens or accounts) are
 * split into parts sent in order; their answers are merged back in request order.
 */
import { RetCode } from './errors.ts';
import type { BatchoperateRequest, BatchoperateResponse, QueryRequest, QueryResponse } from './types.ts';

export const MAX_TOKEN_ACCOUNTS = 20;
export const MAX_LIST = 100;

function chunks<T>(list: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out.length > 0 ? out : [[]];
}

export function splitBatch(request: BatchoperateRequest): BatchoperateRequest[] {
  if (request.operator_type === 4)
    return chunks(request.token_list, MAX_LIST).map((token_list) => ({ ...request, token_list }));
  if (request.operator_type === 5)
    return chunks(request.account_list, MAX_LIST).map((account_list) => ({ ...request, account_list }));
  return chunks(request.token_accounts, MAX_TOKEN_ACCOUNTS).map((token_accounts) => ({ ...request, token_accounts }));
}

export function splitQuery(request: QueryRequest): QueryRequest[] {
  if (request.operator_type === 1)
    return chunks(request.account_list, MAX_LIST).map((account_list) => ({ ...request, account_list }));
  return chunks(request.token_list, MAX_LIST).map((token_list) => ({ ...request, token_list }));
}

const status = (code: number, message: string) => ({
  ret_code: code,
  err_msg: message,
  retCode: code,
  errMsg: message,
});

export function mergeBatch(parts: BatchoperateResponse[]): BatchoperateResponse {
  if (parts.length === 1) return parts[0]!;
  const result = parts.flatMap((p) => p.result);
  const failed = result.filter((r) => r !== '0').length;
  if (failed === 0) return { ...status(RetCode.OK, 'ok'), result };
  let offset = 0;
  const messages: string[] = [];
  for (const part of parts) {
    if (part.ret_code !== RetCode.OK)
      messages.push(`[elements ${offset}..${offset + part.result.length - 1}] ${part.err_msg}`);
    offset += part.result.length;
  }
  return {
    ...status(failed === result.length ? RetCode.ALL_FAILED : RetCode.SOME_FAILED, messages.join(' | ')),
    result,
  };
}

export function mergeQuery(parts: QueryResponse[]): QueryResponse {
  if (parts.length === 1) return parts[0]!;
  const merged: QueryResponse = { ...status(RetCode.OK, 'ok'), result: parts.flatMap((p) => p.result) };
  if (parts[0]?.account_tokens) merged.account_tokens = parts.flatMap((p) => p.account_tokens ?? []);
  if (parts[0]?.token_accounts) merged.token_accounts = parts.flatMap((p) => p.token_accounts ?? []);
  return merged;
}
