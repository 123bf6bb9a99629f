/** Schemas of the /api/v1 surface: what it takes and, as an allow-list, what it answers. */
import { type Static, Type } from 'typebox';
import { CHANGE_CAUSES } from '../../domain/types.ts';

const status = {
  ret_code: Type.Integer(),
  err_msg: Type.String(),
  retCode: Type.Integer(),
  errMsg: Type.String(),
};
const Platform = Type.Union([Type.Literal('android'), Type.Literal('ios'), Type.Null()]);

export const AccountParams = Type.Object({ account: Type.String() });
export const AccountQuery = Type.Object({
  account_type: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0 })),
});
export const TokenParams = Type.Object({ token: Type.String() });

export const AccountTokens = Type.Object({
  ...status,
  account: Type.String(),
  account_type: Type.Integer(),
  tokens: Type.Array(
    Type.Object({ token: Type.String(), platform: Platform, bound_at: Type.String({ format: 'date-time' }) }),
    {
      description: 'oldest bind first',
    },
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
    }),
    { description: 'oldest bind first' },
  ),
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
