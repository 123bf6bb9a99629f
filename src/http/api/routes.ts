/** The /api/v1 reads (SPEC §3): bindings with their metadata, and the history of changes. */
import type { FastifyInstance } from 'fastify';
import { checkAccountKey, checkToken, isFailure, type Failure } from '../../domain/validate-fields.ts';
import { boundAtIso, type AccountKey } from '../../domain/types.ts';
import { ApiError, apiError, RetCode } from '../../errors.ts';
import type { HistoryFilter } from '../../store/store.ts';
import { tenantOf, type TenantOptions } from '../tenant.ts';
import { errorResponses, status } from '../tpns/schemas.ts';
import { AccountParams, AccountQuery, AccountTokens, HistoryPage, HistoryQuery, TokenAccounts, TokenParams } from './schemas.ts';

export interface ApiRouteOptions extends TenantOptions {
  maxTokenBytes: number;
}

const ok = () => status(RetCode.OK, 'ok');

function valid<T>(value: T | Failure): T {
  if (isFailure(value)) throw new ApiError(value.code, 400, value.message);
  return value;
}

const encodeCursor = (id: number) => Buffer.from(String(id)).toString('base64url');
function decodeCursor(cursor: string): number {
  const id = Number(Buffer.from(cursor, 'base64url').toString());
  if (!Number.isSafeInteger(id) || id <= 0) throw apiError.invalid('cursor: not a next_cursor from a previous page');
  return id;
}

export async function apiRoutes(app: FastifyInstance, options: ApiRouteOptions): Promise<void> {
  const { store } = options;

  app.get<{ Params: { account: string }; Querystring: { account_type?: number } }>(
    '/api/v1/accounts/:account/tokens',
    { schema: { tags: ['bindings'], summary: "An account's tokens, with bind time and platform", params: AccountParams, querystring: AccountQuery, response: { 200: AccountTokens, ...errorResponses } } },
    async (request) => {
      const tenant = await tenantOf(request, options);
      const key = valid(checkAccountKey({ account: request.params.account, account_type: request.query.account_type }, 'account'));
      const [tokens = []] = await store.tokensOfAccounts(tenant.id, [key]);
      return { ...ok(), account: key.account, account_type: key.accountType, tokens: tokens.map((t) => ({ token: t.token, platform: t.platform, bound_at: boundAtIso(t.boundAt) })) };
    },
  );

  app.get<{ Params: { token: string } }>(
    '/api/v1/tokens/:token/accounts',
    { schema: { tags: ['bindings'], summary: "A token's accounts, with bind time and platform", params: TokenParams, response: { 200: TokenAccounts, ...errorResponses } } },
    async (request) => {
      const tenant = await tenantOf(request, options);
      const token = valid(checkToken(request.params.token, 'token', options.maxTokenBytes));
      const [accounts = []] = await store.accountsOfTokens(tenant.id, [token]);
      return {
        ...ok(),
        token,
        accounts: accounts.map((a) => ({ account: a.account, account_type: a.accountType, platform: a.platform, bound_at: boundAtIso(a.boundAt) })),
      };
    },
  );

  app.get<{ Querystring: HistoryQuery }>(
    '/api/v1/history',
    { schema: { tags: ['history'], summary: 'Changes, newest first, optionally of one account and/or token', querystring: HistoryQuery, response: { 200: HistoryPage, ...errorResponses } } },
    async (request) => {
      const tenant = await tenantOf(request, options);
      const { account, account_type: accountType, token, limit = 50, cursor } = request.query;
      const filter: HistoryFilter = {};
      if (token !== undefined) filter.token = valid(checkToken(token, 'token', options.maxTokenBytes));
      if (account !== undefined) filter.account = valid<AccountKey>(checkAccountKey({ account, account_type: accountType }, 'account'));
      else if (accountType !== undefined) throw apiError.invalid('account_type: only with account');
      const entries = await store.history(tenant.id, filter, limit + 1, cursor === undefined ? undefined : decodeCursor(cursor));
      const page = entries.slice(0, limit);
      return {
        ...ok(),
        entries: page.map((e) => ({
          id: e.id,
          at: new Date(e.at).toISOString(),
          operator_type: e.operatorType,
          cause: e.cause,
          token: e.token,
          account: e.account,
          account_type: e.accountType,
          platform: e.platform,
          op_type: e.opType,
          op_id: e.opId,
          request_id: e.requestId,
        })),
        next_cursor: entries.length > limit && page.length > 0 ? encodeCursor(page.at(-1)!.id) : null,
      };
    },
  );
}
