/** The /api/v1 reads (SPEC §3): bindings with their metadata, and the history of changes. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { readContext } from '../position.ts';
import { type TenantOptions, tenantOf } from '../tenant.ts';
import { errorResponses } from '../tpns/schemas.ts';
import { accountTokensView, historyView, tokenAccountsView } from './bindings-view.ts';
import {
  AccountParams,
  AccountQuery,
  AccountTokens,
  HistoryPage,
  HistoryQuery,
  TokenAccounts,
  TokenParams,
  TokenQuery,
} from './schemas.ts';

export interface ApiRouteOptions extends TenantOptions {
  maxTokenBytes: number;
}

export async function apiRoutes(fastify: FastifyInstance, options: ApiRouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { store, maxTokenBytes } = options;

  app.get(
    '/api/v1/accounts/:account/tokens',
    {
      schema: {
        tags: ['bindings'],
        summary: "An account's tokens, with bind time, platform, last seen and state",
        params: AccountParams,
        querystring: AccountQuery,
        response: { 200: AccountTokens, ...errorResponses },
      },
    },
    async (request) =>
      accountTokensView(
        store,
        (await tenantOf(request, options)).id,
        request.params.account,
        request.query.account_type,
        request.query.include === 'quarantined' ? 'all' : 'active',
        readContext(request),
      ),
  );

  app.get(
    '/api/v1/tokens/:token/accounts',
    {
      schema: {
        tags: ['bindings'],
        summary: "A token's accounts, with bind time, platform, last seen and state",
        params: TokenParams,
        querystring: TokenQuery,
        response: { 200: TokenAccounts, ...errorResponses },
      },
    },
    async (request) =>
      tokenAccountsView(
        store,
        (await tenantOf(request, options)).id,
        request.params.token,
        maxTokenBytes,
        request.query.include === 'quarantined' ? 'all' : 'active',
        readContext(request),
      ),
  );

  app.get(
    '/api/v1/history',
    {
      schema: {
        tags: ['history'],
        summary: 'Changes, newest first, optionally of one account and/or token',
        querystring: HistoryQuery,
        response: { 200: HistoryPage, ...errorResponses },
      },
    },
    async (request) =>
      historyView(store, (await tenantOf(request, options)).id, request.query, maxTokenBytes, readContext(request)),
  );
}
