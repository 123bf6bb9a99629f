/**
 * What a batch's changes leave behind besides the bindings: history entries (every change, with
 * its cause and actor) and webhook events (bindings that appeared or disappeared). Built here so
 * that every store writes the same records, in the same transaction as the change.
 */
import {
  type BatchCommand,
  boundAtIso,
  type Change,
  type ChangeCause,
  type OperatorType,
  type Platform,
} from './types.ts';

export interface HistoryRecord {
  at: number;
  operatorType: OperatorType;
  cause: ChangeCause;
  token: string;
  account: string;
  accountType: number;
  platform: Platform | null;
  opType: string | null;
  opId: string | null;
  requestId: string | null;
}

export type WebhookEventType = 'binding.created' | 'binding.deleted';

export interface WebhookEventRecord {
  type: WebhookEventType;
  /** The event's `data`, as JSON text. */
  payload: string;
}

export function historyRecords(changes: Change[], command: BatchCommand, at: number): HistoryRecord[] {
  const records: HistoryRecord[] = [];
  for (const change of changes) {
    if (change.kind === 'platform') continue;
    const b = change.binding;
    records.push({
      at,
      operatorType: change.op,
      cause: change.cause,
      token: b.token,
      account: b.account,
      accountType: b.accountType,
      platform: b.platform,
      opType: command.opType,
      opId: command.opId,
      requestId: command.requestId ?? null,
    });
  }
  return records;
}

/** A refresh of an existing binding changes no membership, so it makes no event. */
export function webhookEvents(changes: Change[], command: BatchCommand): WebhookEventRecord[] {
  const events: WebhookEventRecord[] = [];
  for (const change of changes) {
    if (change.kind === 'platform' || (change.kind === 'put' && !change.created)) continue;
    const b = change.binding;
    events.push({
      type: change.kind === 'put' ? 'binding.created' : 'binding.deleted',
      payload: JSON.stringify({
        token: b.token,
        account: b.account,
        account_type: b.accountType,
        platform: b.platform,
        cause: change.cause,
        operator_type: change.op,
        bound_at: boundAtIso(b.boundAt),
        op_type: command.opType,
        op_id: command.opId,
        request_id: command.requestId ?? null,
      }),
    });
  }
  return events;
}
