/** Admin look-ups for the console: any app's bindings and history, and unbinding one binding. */

import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { writeBatch } from '../../domain/run-batch.ts';
import { checkAccountKey, checkToken } from '../../domain/validate-fields.ts';
import { apiError, RetCode } from '../../errors.ts';
import type { BindingStore } from '../../model/store.ts';
import { accountTokensView, historyView, tokenAccountsView, valid } from '../api/bindings-view.ts';
import {
  AccountQuery,
  AccountTokens,
  HistoryPage,
  HistoryQuery,
  RestoreResponse,
  TokenAccounts,
} from '../api/schemas.ts';
import { errorResponses, status } from '../tpns/schemas.ts';

export interface LookupOptions {
  store: BindingStore;
  maxTokenBytes: number;
}

const security = [{ admin: [] }];
const tags = ['admin'];

export function registerLookups(fastify: FastifyInstance, options: LookupOptions): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { store, maxTokenBytes } = options;
  const appIdOf = async (accessId: string) => {
    const found = await store.findApp(accessId);
    if (!found) throw apiError.noSuch(`no app with AccessID ${accessId}`);
    return found.id;
  };

  app.get(
    '/admin/v1/apps/:accessId/accounts/:account/tokens',
    {
      schema: {
        tags,
        security,
        summary: "An app's account: its tokens, quarantined ones included",
        params: Type.Object({ accessId: Type.String(), account: Type.String() }),
        querystring: AccountQuery,
        response: { 200: AccountTokens, ...errorResponses },
      },
    },
    async (request) =>
      accountTokensView(
        store,
        await appIdOf(request.params.accessId),
        request.params.account,
        request.query.account_type,
        'all',
      ),
  );

  app.get(
    '/admin/v1/apps/:accessId/tokens/:token/accounts',
    {
      schema: {
        tags,
        security,
        summary: "An app's token: its accounts, quarantined or not",
        params: Type.Object({ accessId: Type.String(), token: Type.String() }),
        response: { 200: TokenAccounts, ...errorResponses },
      },
    },
    async (request) =>
      tokenAccountsView(store, await appIdOf(request.params.accessId), request.params.token, maxTokenBytes, 'all'),
  );

  app.get(
    '/admin/v1/apps/:accessId/history',
    {
      schema: {
        tags,
        security,
        summary: "An app's history, newest first",
        params: Type.Object({ accessId: Type.String() }),
        querystring: HistoryQuery,
        response: { 200: HistoryPage, ...errorResponses },
      },
    },
    async (request) => historyView(store, await appIdOf(request.params.accessId), request.query, maxTokenBytes),
  );

  app.post(
    '/admin/v1/apps/:accessId/tokens/:token/restore',
    {
      schema: {
        tags,
        security,
        summary: "Lift a token's quarantine (recorded in the history as restored)",
        params: Type.Object({ accessId: Type.String(), token: Type.String() }),
        response: { 200: RestoreResponse, ...errorResponses },
      },
    },
    async (request) => {
      const appId = await appIdOf(request.params.accessId);
      const token = valid(checkToken(request.params.token, 'token', maxTokenBytes));
      const { outcomes } = await writeBatch(store, appId, { kind: 'restore', tokens: [token], requestId: request.id });
      const outcome = outcomes[0];
      if (outcome?.code !== RetCode.OK) throw apiError.noBinding(`token: ${outcome?.message ?? 'has no bindings'}`);
      return { ...status(RetCode.OK, 'ok'), token, action: outcome.action === 'restored' ? 'restored' : 'active' };
    },
  );

  app.post(
    '/admin/v1/apps/:accessId/unbind',
    {
      schema: {
        tags,
        security,
        summary: 'Unbind one account from one token (recorded in the history as op_type "console")',
        params: Type.Object({ accessId: Type.String() }),
        body: Type.Object(
          { token: Type.String(), account: Type.String(), account_type: Type.Optional(Type.Integer({ minimum: 0 })) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            ret_code: Type.Integer(),
            err_msg: Type.String(),
            retCode: Type.Integer(),
            errMsg: Type.String(),
            result: Type.String(),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const appId = await appIdOf(request.params.accessId);
      const token = valid(checkToken(request.body.token, 'token', maxTokenBytes));
      const account = valid(
        checkAccountKey({ account: request.body.account, account_type: request.body.account_type }, 'account'),
      );
      const { outcomes } = await writeBatch(store, appId, {
        elements: [{ op: 3, token, accounts: [account] }],
        platform: null,
        opType: 'console',
        opId: 'admin',
        requestId: request.id,
      });
      const code = outcomes[0]?.code ?? RetCode.INTERNAL;
      return { ...status(code, code === 0 ? 'ok' : 'this account is not bound to this token'), result: String(code) };
    },
  );
}
