/**
 * What a batch's changes leave behind besides the bindings: history entries (every change, with
 * its cause and actor) and webhook events (bindings that appeared or disappeared). Built here so
 * that every store writes the same records, in the same transaction as the change.
 */

import type { HistoryRecord, WebhookEventRecord, WebhookEventType } from '../model/outcomes.ts';
import { type AppPolicy, type Binding, boundAtIso, type Change, DAY_MS, type WriteCommand } from '../model/types.ts';

/** Who made a command's changes: batchoperate's op_type / op_id, and the request. */
function actor(command: WriteCommand) {
  const batch = command.kind === undefined || command.kind === 'batch';
  return {
    opType: batch ? command.opType : null,
    opId: batch ? command.opId : null,
    requestId: command.requestId ?? null,
  };
}

/** A history entry per binding that appeared, disappeared or changed state; seen and warned are not changes. */
export function historyRecords(changes: Change[], command: WriteCommand, at: number): HistoryRecord[] {
  const records: HistoryRecord[] = [];
  const who = actor(command);
  for (const change of changes) {
    if (change.kind === 'platform' || change.kind === 'touch') continue;
    const b = change.binding;
    records.push({
      at,
      operatorType: change.op,
      cause: change.cause,
      token: b.token,
      account: b.account,
      accountType: b.accountType,
      platform: b.platform,
      ...who,
      created: change.kind === 'put' ? change.created : null,
    });
  }
  return records;
}

const accountsOf = (bindings: Binding[]) => bindings.map((b) => ({ account: b.account, account_type: b.accountType }));

/**
 * Bindings that appeared or disappeared, an event each (a refresh of an existing binding changes
 * no membership, so it makes none); tokens quarantined, restored or warned of expiry, an event
 * per token with the accounts it concerns, where the token's first such change was.
 */
export function webhookEvents(changes: Change[], command: WriteCommand, policy: AppPolicy): WebhookEventRecord[] {
  const who = actor(command);
  const slots: (WebhookEventRecord | TokenEvent)[] = [];
  const byToken = new Map<string, TokenEvent>();
  const ofToken = (type: WebhookEventType, cause: string, binding: Binding) => {
    const key = `${type}\u0000${binding.token}`;
    const entry = byToken.get(key);
    if (entry) return void entry.bindings.push(binding);
    const created: TokenEvent = { type, cause, bindings: [binding] };
    byToken.set(key, created);
    slots.push(created);
  };
  for (const change of changes) {
    if (change.kind === 'platform' || (change.kind === 'put' && !change.created)) continue;
    if (change.kind === 'state') {
      ofToken(change.cause === 'restored' ? 'token.restored' : 'token.quarantined', change.cause, change.binding);
      continue;
    }
    if (change.kind === 'touch') {
      if (change.warned) ofToken('token.expiring', 'expiring', change.binding);
      continue;
    }
    const b = change.binding;
    slots.push({
      type: change.kind === 'put' ? 'binding.created' : 'binding.deleted',
      payload: JSON.stringify({
        token: b.token,
        account: b.account,
        account_type: b.accountType,
        platform: b.platform,
        cause: change.cause,
        operator_type: change.op,
        bound_at: boundAtIso(b.boundAt),
        op_type: who.opType,
        op_id: who.opId,
        request_id: who.requestId,
      }),
    });
  }
  return slots.map((slot) => ('payload' in slot ? slot : tokenEvent(slot, policy, who.requestId)));
}

interface TokenEvent {
  type: WebhookEventType;
  cause: string;
  bindings: Binding[];
}

function tokenEvent({ type, cause, bindings }: TokenEvent, policy: AppPolicy, requestId: string | null) {
  const first = bindings[0]!;
  const expiresAt =
    type === 'token.expiring' && policy.tokenTtlDays !== null
      ? Math.max(
          first.lastSeenAt + policy.tokenTtlDays * DAY_MS,
          (first.expiryWarnedAt ?? 0) + policy.expiryWarningDays * DAY_MS,
        )
      : undefined;
  return {
    type,
    payload: JSON.stringify({
      token: first.token,
      cause,
      ...(type === 'token.quarantined' ? { reason: first.quarantineReason } : {}),
      ...(expiresAt !== undefined ? { expires_at: new Date(expiresAt).toISOString() } : {}),
      last_seen_at: new Date(first.lastSeenAt).toISOString(),
      accounts: accountsOf(bindings),
      request_id: requestId,
    }),
  };
}
