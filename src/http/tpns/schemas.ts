/**
 * Response schemas of the TPNS surface: the allow-list of what leaves the server (and fast
 * serialization). Request bodies are checked by domain/validate-request.ts instead of by schema,
 * because TPNS answers per element with its own codes, which a schema validator cannot express.
 */
import { Type, type Static } from 'typebox';

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

const AccountRef = Type.Object({ account: Type.String(), account_type: Type.Integer() });

export const QueryResponse = Type.Object({
  ...statusFields,
  result: Type.Optional(result),
  account_tokens: Type.Optional(
    Type.Array(Type.Object({ account: Type.String(), account_type: Type.Integer(), token_list: Type.Array(Type.String()) })),
  ),
  token_accounts: Type.Optional(Type.Array(Type.Object({ token: Type.String(), account_list: Type.Array(AccountRef) }))),
});
export type QueryResponse = Static<typeof QueryResponse>;

export const errorResponses = { 400: StatusResponse, 401: StatusResponse, 413: StatusResponse, 429: StatusResponse, 500: StatusResponse, 503: StatusResponse };

export function status(retCode: number, message: string): StatusResponse {
  return { ret_code: retCode, err_msg: message, retCode, errMsg: message };
}
