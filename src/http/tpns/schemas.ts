/**
 * Response schemas of the TPNS surface: the allow-list of what leaves the server (and fast
 * serialization). Request bodies are checked by domain/validate-request.ts instead of by schema,
 * because TPNS answers per element with its own codes, which a schema validator cannot express.
 */
import { type Static, Type } from 'typebox';

const statusFields = {
  ret_code: Type.Integer({ description: 'TPNS return code (XG / bind docs spelling)' }),
  err_msg: Type.String({ description: '"ok", or what was wrong and where' }),
  retCode: Type.Integer({ description: 'same as ret_code (TPNS query docs spelling)' }),
  errMsg: Type.String({ description: 'same as err_msg' }),
};

export const StatusResponse = Type.Object(statusFields, { $id: 'TpnsStatus' });
export type StatusResponse = Static<typeof StatusResponse>;

const result = Type.Array(Type.String(), { description: 'one per request element: "0" or its error code' });

export const BatchoperateResponse = Type.Object({ ...statusFields, result: Type.Optional(result) });
export type BatchoperateResponse = Static<typeof BatchoperateResponse>;

/** Documentation only: tokens are checked by the validators, in bytes. */
const TokenInput = Type.String({ description: '1..64 bytes of UTF-8 (BINDERY_MAX_TOKEN_BYTES), no NUL' });
const AccountRef = Type.Object({ account: Type.String(), account_type: Type.Integer() });

export const QueryResponse = Type.Object({
  ...statusFields,
  result: Type.Optional(result),
  account_tokens: Type.Optional(
    Type.Array(
      Type.Object({ account: Type.String(), account_type: Type.Integer(), token_list: Type.Array(Type.String()) }),
    ),
  ),
  token_accounts: Type.Optional(
    Type.Array(Type.Object({ token: Type.String(), account_list: Type.Array(AccountRef) })),
  ),
});
export type QueryResponse = Static<typeof QueryResponse>;

const AccountInput = Type.Object({
  account: Type.String({ description: 'more than 1 byte, at most 100 characters' }),
  account_type: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
});

export const BatchoperateRequest = Type.Object({
  operator_type: Type.Integer({
    minimum: 1,
    maximum: 5,
    description:
      "1 append (as 2 under the app's tpns binding rules), 2 override, 3 unbind listed, 4 unbind token from all, 5 " +
      'unbind account from all',
  }),
  platform: Type.Optional(Type.String({ description: 'android or ios, any case' })),
  token_accounts: Type.Optional(
    Type.Array(
      Type.Object({ token: TokenInput, account_list: Type.Array(AccountInput, { minItems: 1, maxItems: 100 }) }),
      { minItems: 1, maxItems: 20, description: 'operator_type 1, 2, 3' },
    ),
  ),
  token_list: Type.Optional(Type.Array(TokenInput, { minItems: 1, maxItems: 100, description: 'operator_type 4' })),
  account_list: Type.Optional(Type.Array(AccountInput, { minItems: 1, maxItems: 100, description: 'operator_type 5' })),
  op_type: Type.Optional(Type.String({ description: 'who made the change: qq, rtx, email, other' })),
  op_id: Type.Optional(Type.String()),
});

export const QueryRequest = Type.Object({
  operator_type: Type.Integer({ minimum: 1, maximum: 2, description: '1 tokens of accounts, 2 accounts of tokens' }),
  account_list: Type.Optional(Type.Array(AccountInput, { minItems: 1, maxItems: 100 })),
  token_list: Type.Optional(Type.Array(TokenInput, { minItems: 1, maxItems: 100 })),
  platform: Type.Optional(Type.String({ description: 'accepted and ignored' })),
});

export const errorResponses = {
  400: StatusResponse,
  401: StatusResponse,
  413: StatusResponse,
  429: StatusResponse,
  500: StatusResponse,
  503: StatusResponse,
};

export function status(retCode: number, message: string): StatusResponse {
  return { ret_code: retCode, err_msg: message, retCode, errMsg: message };
}
