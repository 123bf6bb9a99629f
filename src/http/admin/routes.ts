/**
 * The admin API (/admin/v1, `Authorization: Bearer $BINDERY_ADMIN_TOKEN`): apps, policies, secrets,
 * webhooks, counts. It is not registered at all when no admin token is configured. The CLI's app
 * commands go through the same AppService.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { type AppChanges, AppInputError, type AppService, AppStateError } from '../../domain/app-service.ts';
import { AppViewSchema, appView, BindingRulesSchema } from '../../domain/app-view.ts';
import { AppExistsError, apiError } from '../../errors.ts';
import type { AppPolicy } from '../../model/types.ts';
import { bearerGuard, type FailedAuthThrottle } from '../bearer-guard.ts';
import { parseJsonObject } from '../tpns/parse-body.ts';
import { errorResponses } from '../tpns/schemas.ts';
import { type LookupOptions, registerLookups } from './lookup-routes.ts';
import { registerRewind } from './rewind-route.ts';

/** The token lifecycle's policy fields, as create and patch take them. */
const lifecyclePolicy = {
  quarantine_days: Type.Optional(Type.Integer({ description: 'days a quarantined token is kept before it is purged' })),
  token_ttl_days: Type.Optional(
    Type.Union([Type.Integer(), Type.Null()], { description: 'quarantine tokens unseen this long; null: never' }),
  ),
  expiry_warning_days: Type.Optional(Type.Integer({ description: 'token.expiring goes out this many days before' })),
};

/** The policy fields of a create or patch body, as an AppPolicy patch. */
const policyOf = (b: {
  max_tokens_per_account?: number;
  max_accounts_per_token?: number;
  binding_rules?: AppPolicy['bindingRules'];
  quarantine_days?: number;
  token_ttl_days?: number | null;
  expiry_warning_days?: number;
}): Partial<AppPolicy> => ({
  maxTokensPerAccount: b.max_tokens_per_account,
  maxAccountsPerToken: b.max_accounts_per_token,
  bindingRules: b.binding_rules,
  quarantineDays: b.quarantine_days,
  tokenTtlDays: b.token_ttl_days,
  expiryWarningDays: b.expiry_warning_days,
});

const CreateBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    access_id: Type.Optional(Type.String({ description: 'keep an existing TPNS AccessID (with secret_key)' })),
    secret_key: Type.Optional(Type.String({ description: 'keep an existing TPNS SecretKey (with access_id)' })),
    max_tokens_per_account: Type.Optional(Type.Integer()),
    max_accounts_per_token: Type.Optional(Type.Integer()),
    binding_rules: Type.Optional(BindingRulesSchema),
    ...lifecyclePolicy,
  },
  { additionalProperties: false },
);

const PatchBody = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    max_tokens_per_account: Type.Optional(Type.Integer()),
    max_accounts_per_token: Type.Optional(Type.Integer()),
    binding_rules: Type.Optional(BindingRulesSchema),
    ...lifecyclePolicy,
    rate_limit: Type.Optional(
      Type.Union([Type.Object({ per_second: Type.Number(), burst: Type.Integer() }), Type.Null()], {
        description: 'null turns it off',
      }),
    ),
    webhook: Type.Optional(
      Type.Union([Type.Object({ url: Type.String({ maxLength: 2048 }) }), Type.Null()], {
        description: 'a new signing secret is answered once; null turns it off',
      }),
    ),
  },
  { additionalProperties: false },
);

const AccessIdParams = Type.Object({ accessId: Type.String({ maxLength: 20 }) });
const Deliveries = Type.Object({
  deliveries: Type.Array(
    Type.Object({
      id: Type.Integer(),
      event_id: Type.Integer(),
      at: Type.String({ format: 'date-time' }),
      attempt: Type.Integer(),
      status: Type.Union([Type.Integer(), Type.Null()]),
      error: Type.Union([Type.String(), Type.Null()]),
      duration_ms: Type.Integer(),
    }),
  ),
});

export interface AdminRouteOptions extends LookupOptions {
  service: AppService;
  adminToken: string;
  /** Shared with /metrics: failures of either count against the address. */
  throttle: FailedAuthThrottle;
}

const notFound = (accessId: string) => apiError.noSuch(`no app with AccessID ${accessId}`);

async function answer<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof AppInputError) throw apiError.invalid(error.message);
    if (error instanceof AppExistsError) throw apiError.conflict(`${error.message}; choose another access_id`);
    if (error instanceof AppStateError) throw apiError.conflict(error.message);
    throw error;
  }
}

export async function adminRoutes(fastify: FastifyInstance, options: AdminRouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { service } = options;
  const security = [{ admin: [] }];

  app.addHook('onRequest', bearerGuard(options.adminToken, 'admin', options.throttle, apiError.adminAuth));

  // The app-wide parser keeps bodies raw (TPNS signs them); the admin API takes JSON.
  app.addHook('preValidation', async (request: FastifyRequest) => {
    if (!Buffer.isBuffer(request.body)) return;
    request.body = request.body.length === 0 ? undefined : parseJsonObject(request.body);
  });

  registerLookups(app, options);

  app.get(
    '/admin/v1/apps',
    {
      schema: {
        tags: ['admin'],
        security,
        summary: 'All apps with their counts',
        response: { 200: Type.Object({ apps: Type.Array(AppViewSchema) }), ...errorResponses },
      },
    },
    async () => ({
      apps: (await service.list()).map((a) => appView(a)),
    }),
  );

  app.post(
    '/admin/v1/apps',
    {
      schema: {
        tags: ['admin'],
        security,
        summary: 'Create an app; its SecretKey is answered once',
        body: CreateBody,
        response: { 201: AppViewSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const created = await answer(() =>
        service.create({
          name: b.name,
          accessId: b.access_id,
          secretKey: b.secret_key,
          policy: policyOf(b),
        }),
      );
      return reply.status(201).send(appView(created, { secret: true }));
    },
  );

  app.get(
    '/admin/v1/apps/:accessId',
    {
      schema: {
        tags: ['admin'],
        security,
        summary: 'One app with its counts',
        params: AccessIdParams,
        response: { 200: AppViewSchema, ...errorResponses },
      },
    },
    async (request) => {
      const found = await service.show(request.params.accessId);
      if (!found) throw notFound(request.params.accessId);
      return appView(found);
    },
  );

  app.patch(
    '/admin/v1/apps/:accessId',
    {
      schema: {
        tags: ['admin'],
        security,
        summary: 'Change the name, caps, binding rules, lifecycle policy, rate limit or webhook',
        params: AccessIdParams,
        body: PatchBody,
        response: { 200: AppViewSchema, ...errorResponses },
      },
    },
    async (request) => {
      const b = request.body;
      const changes: AppChanges = {};
      if (b.name !== undefined) changes.name = b.name;
      const policy = policyOf(b);
      if (Object.values(policy).some((v) => v !== undefined)) changes.policy = policy;
      if (b.rate_limit !== undefined)
        changes.rateLimit = b.rate_limit && { perSecond: b.rate_limit.per_second, burst: b.rate_limit.burst };
      if (b.webhook !== undefined) changes.webhookUrl = b.webhook === null ? null : b.webhook.url;
      const updated = await answer(() => service.update(request.params.accessId, changes));
      if (!updated) throw notFound(request.params.accessId);
      return appView(updated, { webhookSecret: Boolean(b.webhook) });
    },
  );

  app.delete(
    '/admin/v1/apps/:accessId',
    {
      schema: {
        tags: ['admin'],
        security,
        summary: 'Delete an app with all its data',
        params: AccessIdParams,
        response: { 200: Type.Object({ access_id: Type.String(), deleted: Type.Boolean() }), ...errorResponses },
      },
    },
    async (request) => {
      if (!(await service.delete(request.params.accessId))) throw notFound(request.params.accessId);
      return { access_id: request.params.accessId, deleted: true };
    },
  );

  app.post(
    '/admin/v1/apps/:accessId/rotate-secret',
    {
      schema: {
        tags: ['admin'],
        security,
        summary: 'A new SecretKey; the old one keeps working for the grace period',
        params: AccessIdParams,
        body: Type.Optional(
          Type.Object(
            {
              grace_seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_592_000 })),
              end_previous_grace: Type.Optional(
                Type.Boolean({
                  description:
                    'a secret rotated out earlier and still in its grace period stops working now ' +
                    '(without this, such a rotation is refused with 409)',
                }),
              ),
            },
            { additionalProperties: false },
          ),
        ),
        response: { 200: AppViewSchema, ...errorResponses },
      },
    },
    async (request) => {
      const rotated = await answer(() =>
        service.rotateSecret(request.params.accessId, request.body?.grace_seconds, request.body?.end_previous_grace),
      );
      if (!rotated) throw notFound(request.params.accessId);
      return appView(rotated, { secret: true });
    },
  );

  registerRewind(fastify, service, security);

  app.get(
    '/admin/v1/apps/:accessId/webhook-deliveries',
    {
      schema: {
        tags: ['admin'],
        security,
        summary: 'The latest webhook delivery attempts, newest first',
        params: AccessIdParams,
        querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })) }),
        response: { 200: Deliveries, ...errorResponses },
      },
    },
    async (request) => {
      const deliveries = await service.deliveries(request.params.accessId, request.query.limit ?? 50);
      if (!deliveries) throw notFound(request.params.accessId);
      return {
        deliveries: deliveries.map((d) => ({
          id: d.id,
          event_id: d.eventId,
          at: new Date(d.at).toISOString(),
          attempt: d.attempt,
          status: d.status,
          error: d.error,
          duration_ms: d.durationMs,
        })),
      };
    },
  );
}
