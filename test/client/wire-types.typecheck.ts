/**
 * Checked by the type checker, not run: `npm test` type-checks test/ first (`npm run typecheck`).
 * The SDK declares the wire types itself (it is built alone and imports no server code); these
 * hold them to the server's response schemas, so that an answer the server may send and the SDK's
 * types do not accept fails the build (it found history's `replaced` cause missing from the SDK).
 */
import type { Static } from 'typebox';
import type * as Sdk from '../../src/client/types.ts';
import type * as Api from '../../src/http/api/schemas.ts';
import type * as Tpns from '../../src/http/tpns/schemas.ts';

/** Compiles only when every `Server` value is also an `Sdk` value. */
type Accepts<SdkType, Server extends SdkType> = Server;

type Checks = [
  Accepts<Sdk.HistoryEntry, Static<typeof Api.HistoryEntry>>,
  Accepts<Sdk.HistoryPage, Static<typeof Api.HistoryPage>>,
  Accepts<Sdk.TokenInfo[], Static<typeof Api.AccountTokens>['tokens']>,
  Accepts<Sdk.AccountInfo[], Static<typeof Api.TokenAccounts>['accounts']>,
  Accepts<Sdk.TpnsStatus, Static<typeof Tpns.StatusResponse>>,
  Accepts<Sdk.QueryResponse, Static<typeof Tpns.QueryResponse> & { result: string[] }>,
  Accepts<Sdk.BatchoperateResponse, Static<typeof Tpns.BatchoperateResponse> & { result: string[] }>,
  Accepts<Sdk.FeedbackResponse, Static<typeof Api.FeedbackResponse>>,
  Accepts<Sdk.SeenResponse, Static<typeof Api.SeenResponse>>,
  Accepts<Sdk.RestoreResponse, Static<typeof Api.RestoreResponse>>,
];

export type { Checks };
