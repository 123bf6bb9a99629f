/** Schemas of the /api/v1 surface: what it takes and, as an allow-list, what it answers. */
import { type Static, Type } from 'typebox';
import { CHANGE_CAUSES } from '../../model/types.ts';

const status = {
  ret_code: Type.Integer(),
  err_msg: Type.String(),
  retCode: Type.Integer(),
  errMsg: Type.String(),
};
const Platform = Type.Union([Type.Literal('android'), Type.Literal('ios'), Type.Null()]);

const Include = Type.Optional(
  Type.Literal('quarantined', {
    description: 'quarantined: show quarantined tokens too (each binding says its state and the reason)',
  }),
);
export const AccountParams = Type.Object({ account: Type.String() });
export const AccountQuery = Type.Object({
  account_type: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0 })),
  include: Include,
});
export const TokenParams = Type.Object({ token: Type.String() });
export const TokenQuery = Type.Object({ include: Include });

/** A binding's lifecycle, in every /api/v1 read of bindings. */
const lifecycle = {
  last_seen_at: Type.String({ format: 'date-time', description: 'the last bind, restore or report of activity' }),
  state: Type.Union([Type.Literal('active'), Type.Literal('quarantined')]),
  quarantined_at: Type.Optional(Type.String({ format: 'date-time' })),
  quarantine_reason: Type.Optional(Type.String({ description: 'e.g. "apns: Unregistered (410)"' })),
};

export const AccountTokens = Type.Object({
  ...status,
  account: Type.String(),
  account_type: Type.Integer(),
  tokens: Type.Array(
    Type.Object({
      token: Type.String(),
      platform: Platform,
      bound_at: Type.String({ format: 'date-time' }),
      ...lifecycle,
    }),
    { description: 'oldest bind first; quarantined tokens only with include=quarantined' },
  ),
});

export const TokenAccounts = Type.Object({
  ...status,
  token: Type.String(),
  accounts: Type.Array(
    Type.Object({
      account: Type.String(),
      account_type: Type.Integer(),
      platform: Platform,
      bound_at: Type.String({ format: 'date-time' }),
      ...lifecycle,
    }),
    { description: 'oldest bind first; none while the token is quarantined, unless include=quarantined' },
  ),
});

const result = Type.Array(Type.String(), { description: 'one per item: "0" or its error code' });

export const FeedbackResponse = Type.Object({
  ...status,
  result,
  outcomes: Type.Array(
    Type.Object({
      class: Type.Union([Type.Literal('invalid'), Type.Literal('transient'), Type.Literal('unknown'), Type.Null()], {
        description: 'what the answer means for the token; null when the item was refused before',
      }),
      action: Type.Union(
        ['quarantined', 'already_quarantined', 'stale', 'counted', 'no_binding', 'refused'].map((a) => Type.Literal(a)),
        { description: 'stale: the token was bound again after the answer, so it stays active' },
      ),
      err_msg: Type.Optional(Type.String({ description: 'what was wrong, for an item that failed' })),
    }),
    { description: 'one per item' },
  ),
});

export const SeenResponse = Type.Object({
  ...status,
  result,
  outcomes: Type.Array(
    Type.Object({
      action: Type.Union(
        ['seen', 'already_quarantined', 'no_binding', 'refused'].map((a) => Type.Literal(a)),
        {
          description: 'a quarantined token is not refreshed: re-bind or restore it',
        },
      ),
      err_msg: Type.Optional(Type.String({ description: 'what was wrong, for a token that failed' })),
    }),
  ),
});

export const RestoreResponse = Type.Object({
  ...status,
  token: Type.String(),
  action: Type.Union([Type.Literal('restored'), Type.Literal('active')], {
    description: 'active: it was not quarantined (its last_seen_at is refreshed all the same)',
  }),
});

export const HistoryQuery = Type.Object({
  account: Type.Optional(Type.String()),
  account_type: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })),
  token: Type.Optional(Type.String()),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 40, description: 'next_cursor of the previous page' })),
});
export type HistoryQuery = Static<typeof HistoryQuery>;

export const HistoryEntry = Type.Object({
  id: Type.Integer(),
  at: Type.String({ format: 'date-time' }),
  operator_type: Type.Integer(),
  cause: Type.Enum(CHANGE_CAUSES),
  token: Type.String(),
  account: Type.String(),
  account_type: Type.Integer(),
  platform: Platform,
  op_type: Type.Union([Type.String(), Type.Null()]),
  op_id: Type.Union([Type.String(), Type.Null()]),
  request_id: Type.Union([Type.String(), Type.Null()]),
});

export const HistoryPage = Type.Object({
  ...status,
  entries: Type.Array(HistoryEntry, { description: 'newest first' }),
  next_cursor: Type.Union([Type.String(), Type.Null()], {
    description: 'pass as cursor for the next page; null on the last',
  }),
});
