/**
 * What a write answers and leaves behind: each element's outcome, the history records and the
 * webhook events. The rules (src/domain/) make them; every store writes them as they are.
 */
import type { Change, ChangeCause, ElementCode, OperatorType, Platform } from './types.ts';

export type LifecycleAction =
  | 'quarantined'
  | 'already_quarantined'
  | 'stale'
  | 'seen'
  | 'restored'
  | 'active'
  | 'warned'
  | 'expired'
  | 'purged'
  | 'unchanged';

export interface ElementOutcome {
  code: ElementCode;
  /** The failing field inside the element, if not the element itself. */
  field?: string;
  /** Why it failed; the edge prefixes the element's path. */
  message?: string;
  /** What a token lifecycle write did with the element (apply-lifecycle.ts). */
  action?: LifecycleAction;
}

export interface BatchOutcome {
  /** One per command element, in order. */
  outcomes: ElementOutcome[];
  changes: Change[];
}

/** Whether a token has active bindings, only quarantined ones, or none. */
export type TokenPresence = 'active' | 'quarantined' | 'absent';

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
  /** For a bind: whether it created the binding (false: refreshed one); null for other changes. */
  created: boolean | null;
}

/** A history entry as a rewind reads it (oldest first): enough to tell what was there before it. */
export interface RewindRow {
  token: string;
  account: string;
  accountType: number;
  platform: Platform | null;
  cause: ChangeCause;
  /** As HistoryRecord's; null for a bind also when an older release wrote the entry. */
  created: boolean | null;
}

export const WEBHOOK_EVENT_TYPES = [
  'binding.created',
  'binding.deleted',
  'token.quarantined',
  'token.restored',
  'token.expiring',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export interface WebhookEventRecord {
  type: WebhookEventType;
  /** The event's `data`, as JSON text. */
  payload: string;
}
