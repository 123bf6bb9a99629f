/**
 * One group of batches in one PostgreSQL transaction (runGroup): hold the apps and the keys the
 * batches touch (postgres-locks.ts), run the rules for each batch, then number the batches from the
 * apps' rows. And which batches may go in a group together (byKeys), and which must wait.
 */
import type pg from 'pg';
import type { BatchRequest, BatchResult, WriteRules, WriteScope } from '../../model/batch-transaction.ts';
import { AppNotFoundError, IdempotencyMismatchError, RewindRefusedError } from '../../model/errors.ts';
import type { AccountKey } from '../../model/types.ts';
import { batchWeight, type FairShare, GROUP_BUDGET, type GroupResult, type GroupScheduler } from '../group-commit.ts';
import { type AppLock, type BatchEnd, PostgresBatchTransaction } from './postgres-batch-transaction.ts';
import { BatchWrites } from './postgres-batch-writes.ts';
import { GroupBindings } from './postgres-group-bindings.ts';
import { type AppMode, accountLock, GroupLocks, idempotencyLock, KeysTaken, tokenLock } from './postgres-locks.ts';
import { SQL } from './postgres-queries.ts';

export interface BatchItem extends BatchRequest {
  /** The rules that run the batch. */
  rules: WriteRules;
  /** Unix ms by which the batch is answered, applied or not. */
  deadline: number;
  /** Keys an earlier attempt found taken: this attempt's group waits for them first. */
  waitFor?: number[];
  /** Deferred too often: holds the whole app, which no other group can then hold a key of. */
  exclusive?: boolean;
}

/**
 * A batch as a group holds it: what its rules say it touches, and so the whole app or the keys it
 * names and those it waits for.
 */
export type Keyed = BatchItem & { scope: WriteScope; keys: number[] | 'app' };

export function keyed(item: BatchItem): Keyed {
  const scope = item.rules.scopeOf(item.command);
  const keys = keysOf(item, scope);
  return { ...item, scope, keys: keys === 'app' ? keys : [...new Set([...keys, ...(item.waitFor ?? [])])] };
}

/** A batch the group could not run because another transaction held one of its keys: it runs again. */
export class Deferral {
  constructor(readonly keys: number[]) {}
}

/** What a batch's keys are, as the group locks them: the app, or the keys it names. */
function keysOf(item: BatchItem, scope: WriteScope): number[] | 'app' {
  if (item.exclusive || scope === 'app') return 'app';
  const keys = [...scope.tokens.map(tokenLock), ...scope.accounts.map(accountLock)];
  if (item.idempotency) keys.push(idempotencyLock(item.idempotency.key));
  return keys;
}

/**
 * The keys of the groups in flight and of the batches left waiting: a batch that shares none goes
 * in the next group, the others wait, in the order they came. Groups of one instance then never
 * try for each other's keys (which would defer a batch to the back of the queue), and batches of
 * one instance that share a key are applied in the order they were submitted.
 */
class KeysInUse {
  /** Per app in use: the keys held (numbers, as locked: no string made per key). */
  private readonly keys = new Map<number, Set<number>>();
  private readonly wholeApps = new Set<number>();

  add(item: Keyed): void {
    let keys = this.keys.get(item.appId);
    if (!keys) this.keys.set(item.appId, (keys = new Set()));
    if (item.keys === 'app') this.wholeApps.add(item.appId);
    else for (const key of item.keys) keys.add(key);
  }

  free(item: Keyed): boolean {
    const keys = this.keys.get(item.appId);
    if (!keys) return true;
    if (item.keys === 'app' || this.wholeApps.has(item.appId)) return false;
    return item.keys.every((key) => !keys.has(key));
  }
}

/** A group's fair shares (group-commit.ts): by app, weighed by the bindings a batch names. */
export const byApp: FairShare<Keyed> = {
  tenantOf: (item) => item.appId,
  weightOf: (item) => batchWeight(item.command),
  budget: GROUP_BUDGET,
};

export const byKeys: GroupScheduler<Keyed> = {
  pick(waiting, inFlight) {
    const blocked = new KeysInUse();
    for (const group of inFlight) for (const item of group) blocked.add(item);
    const picked: number[] = [];
    waiting.forEach((item, i) => {
      if (blocked.free(item)) picked.push(i);
      else blocked.add(item);
    });
    return picked;
  },
};

/**
 * Runs inside a transaction the caller opened and commits. It waits for each app (exclusive when a
 * batch of it must see all of it) and for the keys earlier attempts found taken, in one order;
 * then only tries the keys the batches name, and defers a batch whose keys another transaction
 * holds (postgres-locks.ts). Last, it numbers the batches it ran, in order, from the app's row.
 */
export async function runGroup(client: pg.PoolClient, items: Keyed[]): Promise<GroupResult<BatchResult | Deferral>[]> {
  const keys = items.map((item) => item.keys);
  const modes = new Map<number, AppMode>();
  const waitFor = new Map<number, number[]>();
  items.forEach((item, i) => {
    if (keys[i] === 'app') modes.set(item.appId, 'exclusive');
    else if (!modes.has(item.appId)) modes.set(item.appId, 'shared');
    waitFor.set(item.appId, [...(waitFor.get(item.appId) ?? []), ...(item.waitFor ?? [])]);
  });
  const appIds = [...modes.keys()].sort((a, b) => a - b);
  const locks = new GroupLocks(client);
  await locks.wait(new Map(appIds.map((id) => [id, modes.get(id)!])), waitFor);
  const { rows } = await client.query<AppLock>(SQL.appsOfGroup, [appIds]);
  const apps = new Map(rows.map((row) => [row.id, { ...row }]));
  const taken = await locks.attempt(
    items.flatMap((item, i) => {
      const named = keys[i]!;
      return named === 'app' ? [] : locks.missing(item.appId, named).map((key): [number, number] => [item.appId, key]);
    }),
  );

  // A key taken elsewhere, or an Idempotency-Key a batch before it in this group answers (which it
  // could only replay once that answer has its revision): the batch runs in a later group.
  const answered = new Set<string>();
  const deferred = items.map((item, i) => {
    const named = keys[i]!;
    const key = item.idempotency && `${item.appId}:${item.idempotency.key}`;
    if (named !== 'app' && named.some((k) => taken.has(`${item.appId}:${k}`))) return true;
    if (key && answered.has(key)) return true;
    if (key) answered.add(key);
    return false;
  });
  // The bindings of every key the batches that run name, one statement per app.
  const bindings = new Map(appIds.map((id) => [id, new GroupBindings(client, id)]));
  const named = new Map<number, { tokens: string[]; accounts: AccountKey[] }>();
  items.forEach((item, i) => {
    const scope = deferred[i] ? 'app' : item.scope;
    if (scope === 'app') return;
    let all = named.get(item.appId);
    if (!all) named.set(item.appId, (all = { tokens: [], accounts: [] }));
    all.tokens.push(...scope.tokens);
    all.accounts.push(...scope.accounts);
  });
  for (const [appId, all] of named) await bindings.get(appId)!.load(all.tokens, all.accounts);

  const results: GroupResult<BatchResult | Deferral>[] = [];
  const ran: { appId: number; value: BatchResult; end: BatchEnd }[] = [];
  for (const [i, item] of items.entries()) {
    const mine = keys[i] === 'app' ? [] : (keys[i] as number[]);
    if (deferred[i]) {
      results.push({ ok: true, value: new Deferral(mine) });
      continue;
    }
    const tx = new PostgresBatchTransaction(client, item.appId, apps.get(item.appId), bindings.get(item.appId)!, locks);
    try {
      const value = await item.rules.runBatch(tx, item.command, item.idempotency);
      results.push({ ok: true, value });
      ran.push({ appId: item.appId, value, end: tx.end });
    } catch (error) {
      // Refused, or deferred, before anything was written: the transaction stays usable for the others.
      if (error instanceof KeysTaken) results.push({ ok: true, value: new Deferral([...mine, ...error.keys]) });
      else if (
        error instanceof IdempotencyMismatchError ||
        error instanceof AppNotFoundError ||
        error instanceof RewindRefusedError
      )
        results.push({ ok: false, error });
      else throw error;
    }
  }
  // The group's net change, side by side with other groups; then its end, one group of the app at a time.
  for (const app of bindings.values()) await app.send();
  await numberAndRemember(client, apps, ran);
  return results;
}

/**
 * The group's end: each app's revisions, taken from its row (locked to the commit, so the groups of
 * an app commit in revision order), given to its batches in the order they ran; then, in one
 * statement, their answers under their Idempotency-Keys (which carry the revisions) and their
 * webhook events, which thereby enter the outbox in the order of the commits.
 */
async function numberAndRemember(
  client: pg.PoolClient,
  apps: Map<number, AppLock>,
  ran: { appId: number; value: BatchResult; end: BatchEnd }[],
): Promise<void> {
  const counts = new Map<number, number>();
  for (const r of ran) if (r.end.takesRevision) counts.set(r.appId, (counts.get(r.appId) ?? 0) + 1);
  const ids = [...apps.keys()].sort((a, b) => a - b);
  const { rows } = await client.query<{ id: number; revision: number }>(SQL.appsTakeRevisions, [
    ids,
    ids.map((id) => counts.get(id) ?? 0),
    ids.map((id) => apps.get(id)!.last_bound_at),
  ]);
  const next = new Map(rows.map((row) => [row.id, row.revision - (counts.get(row.id) ?? 0)]));
  const answers: { app: number; answer: NonNullable<BatchEnd['answer']> }[] = [];
  const events: { app: number; type: string; payload: string; at: number }[] = [];
  for (const { appId, value, end } of ran) {
    if (end.takesRevision) {
      const revision = next.get(appId)! + 1;
      next.set(appId, revision);
      value.revision = revision;
    }
    if (end.answer) answers.push({ app: appId, answer: end.answer });
    for (const e of end.events?.list ?? [])
      events.push({ app: appId, type: e.type, payload: e.payload, at: end.events!.at });
  }
  const writes = new BatchWrites();
  if (answers.length > 0) {
    writes.add(SQL.idempotencyPut, [
      answers.map((a) => a.app),
      answers.map((a) => a.answer.key.key),
      answers.map((a) => a.answer.key.bodyHash),
      answers.map((a) => JSON.stringify(a.answer.result)),
      answers.map((a) => a.answer.at),
    ]);
  }
  if (events.length > 0) {
    writes.add(SQL.outboxInsert, [
      events.map((e) => e.app),
      events.map((e) => e.type),
      events.map((e) => e.payload),
      events.map((e) => e.at),
    ]);
  }
  await writes.send(client);
}
