/**
 * The one vocabulary of SQL statement names. Both `sqlite/sqlite-queries.ts` and
 * `postgres/postgres-queries.ts` give each shared name below its text in their dialect, and the
 * type checker holds them to it: a name missing from either, or one that only one backend uses
 * without being listed as its own, does not compile.
 *
 * Where the dialects differ in shape, the name says what the statement does and the backend says
 * how: SQLite runs a plural statement once a row or key on the writer thread (a statement run costs
 * microseconds there; a batch's loads, the hottest, go many keys a statement), PostgreSQL runs it
 * once with arrays that are unnested server-side (a round trip costs a fraction of a millisecond there).
 */

/** A statement, or statements run in order. */
export type Statement = string | readonly string[];

type Shared =
  // apps
  | 'appByAccessId'
  | 'appsAll'
  | 'appCounts'
  | 'appInsert'
  | 'appUpdate'
  | 'appDelete'
  | 'appDataDelete'
  | 'appsTakeRevisions'
  | 'secretReplace'
  // bindings: the query answers, people's reads, a batch's writes, the lifecycle, export
  | 'tokensOfAccount'
  | 'accountsOfToken'
  | 'bindingsOfToken'
  | 'bindingsOfAccount'
  | 'bindingsUpsert'
  | 'bindingsUpsertPlain'
  | 'bindingsOfSlotOthersDelete'
  | 'bindingsDelete'
  | 'tokensTouch'
  | 'tokensPresent'
  | 'dueToPurge'
  | 'bindingsExport'
  // history
  | 'historyInsert'
  | 'historyAll'
  | 'historyIds'
  | 'historyOfToken'
  | 'historyOfAccount'
  | 'historyOfBinding'
  // Idempotency-Key answers
  | 'idempotencyGet'
  | 'idempotencyPut'
  // webhook outbox and deliveries
  | 'outboxInsert'
  | 'outboxDropPending'
  | 'outboxComplete'
  | 'outboxBacklog'
  | 'deliveryInsert'
  | 'deliveriesOfApp'
  // retention sweeps
  | 'sweepHistory'
  | 'appsHistoryTrimmed'
  | 'appHistoryFrom'
  | 'historyAfter'
  | 'sweepIdempotency'
  | 'sweepOutbox'
  | 'sweepDeliveries'
  // migrations and health
  | 'migrationsTable'
  | 'migrationsVersion'
  | 'migrationRecord'
  | 'migrationsApplied'
  | 'oldestReader'
  | 'oldestReaderRecord'
  | 'schemaExists'
  | 'ping';

/**
 * SQLite's own statements. `pragmas`: a connection's settings. `appById`: the writer reads an app
 * by id after its own writes. `bindingsUpsertPlainMany`: many plain rows in one statement (imports).
 * `bindingsOfTokens`, `bindingsOfAccounts`: a batch's loads, many keys a statement.
 * `outboxDue` + `outboxLease`: PostgreSQL's `outboxClaim` in two, as SQLite's RETURNING cannot name
 * the joined app (one writer, so nothing claims between them). `clockGet`/`clockSet`: the bind clock
 * is one row of its own; `clockTouch`: the smallest real write, for the health check.
 */
export type SqliteOwn =
  | 'pragmas'
  | 'appById'
  | 'bindingsUpsertPlainMany'
  | 'bindingsOfTokens'
  | 'bindingsOfAccounts'
  | 'outboxDue'
  | 'outboxLease'
  | 'clockGet'
  | 'clockSet'
  | 'clockTouch'
  | 'backupInto'
  | 'integrityCheck'
  | 'backupApps'
  | 'backupPosition';

/**
 * PostgreSQL's own statements. `begin`, `exportBegin`: the transaction's settings; `exportInKeyOrder`:
 * an export's pages read the primary key in order whatever the statistics say. `migrationsLock`:
 * instances that start together migrate once; `lockTimeout`: a migration waits for a lock only briefly. `appForUpdate`, `appLockExclusive`,
 * `locksWait`, `locksTry`, `appsOfGroup`, `appRaiseClock`, `bindingsForBatch`: a group commit of
 * many transactions at once (postgres-locks.ts, postgres-group-run.ts), the bind clock being a
 * column of each app. `tokensOfAccounts`, `accountsOfTokens`: many keys a round trip.
 * `outboxClaim`: several instances claim without taking the same event. `walPosition`,
 * `replayPosition`: read-your-writes on replicas (postgres-replicas.ts).
 */
export type PostgresOwn =
  | 'begin'
  | 'exportBegin'
  | 'exportInKeyOrder'
  | 'migrationsLock'
  | 'lockTimeout'
  | 'appForUpdate'
  | 'appLockExclusive'
  | 'locksWait'
  | 'locksTry'
  | 'appsOfGroup'
  | 'appRaiseClock'
  | 'bindingsForBatch'
  | 'tokensOfAccounts'
  | 'accountsOfTokens'
  | 'outboxClaim'
  | 'walPosition'
  | 'replayPosition';

/** A backend's statements: every shared name, and its own. */
export type Queries<Own extends string> = { readonly [name in Shared | Own]: Statement };
