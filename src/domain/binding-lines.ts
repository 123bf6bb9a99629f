/**
 * The NDJSON line format of export and import (SPEC §3): one binding per line,
 * {"token","account","account_type","platform","bound_at","last_seen_at","state"} and, for a
 * quarantined binding, "quarantined_at" and "quarantine_reason"; all but token and account optional
 * on import. bound_at is ISO 8601 with microseconds, so an export imports back in exactly the same
 * order; the lifecycle fields make it import back with its states and times.
 */
import { type Binding, type BindingState, bindingState } from '../model/types.ts';
import { checkAccountKey, checkPlatform, checkToken, describe, isFailure, MAX_AT_SKEW_MS } from './validate-fields.ts';

export interface BindingLine {
  token: string;
  account: string;
  account_type: number;
  platform: string | null;
  bound_at: string;
  last_seen_at: string;
  state: BindingState;
  quarantined_at?: string;
  quarantine_reason?: string;
}

/** A quarantine's reason: the provider and its words, bounded like every string. */
export const MAX_REASON_CHARS = 200;

/** Microseconds since the epoch as ISO 8601 with 6 fractional digits. */
export function isoMicros(micros: number): string {
  const iso = new Date(Math.floor(micros / 1000)).toISOString(); // …SS.mmmZ
  return `${iso.slice(0, -1)}${String(micros % 1000).padStart(3, '0')}Z`;
}

const ISO = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:\d{2})$/;
const EARLIEST = Date.UTC(2000, 0, 1) * 1000;
const LATEST = Date.UTC(3000, 0, 1) * 1000;

/** ISO 8601 (to the microsecond) to microseconds since the epoch, or undefined. */
export function parseIsoMicros(value: string): number | undefined {
  const match = ISO.exec(value);
  if (!match) return undefined;
  const seconds = Date.parse(`${match[1]}${match[3]}`);
  if (Number.isNaN(seconds)) return undefined;
  const micros = seconds * 1000 + Number((match[2] ?? '').padEnd(6, '0'));
  return micros >= EARLIEST && micros < LATEST ? micros : undefined;
}

export const bindingLine = (b: Binding): BindingLine => ({
  token: b.token,
  account: b.account,
  account_type: b.accountType,
  platform: b.platform,
  bound_at: isoMicros(b.boundAt),
  last_seen_at: new Date(b.lastSeenAt).toISOString(),
  state: bindingState(b),
  ...(b.quarantinedAt === null
    ? {}
    : { quarantined_at: new Date(b.quarantinedAt).toISOString(), quarantine_reason: b.quarantineReason ?? '' }),
});

/** A time of a line that is ahead of the server's clock by more than clocks differ: why it is refused. */
const future = (name: string, ms: number, now: number): string | undefined =>
  ms > now + MAX_AT_SKEW_MS
    ? `${name}: is in the future (${new Date(ms).toISOString()}); at most ${MAX_AT_SKEW_MS / 60_000} minutes ahead ` +
      `of this server's clock (${new Date(now).toISOString()})`
    : undefined;

/** An optional ISO 8601 field of a line, as Unix ms; `fallback` when absent, a message when invalid. */
function timeField(record: Record<string, unknown>, name: string, fallback: number, now: number): number | string {
  const value = record[name];
  if (value === undefined || value === null) return fallback;
  const micros = typeof value === 'string' ? parseIsoMicros(value) : undefined;
  if (micros === undefined)
    return `${name}: must be an ISO 8601 time between 2000 and 3000 like "2026-11-23T10:00:00.000Z", got ${describe(value)}`;
  const ms = Math.floor(micros / 1000);
  return future(name, ms, now) ?? ms;
}

/** The lifecycle fields of an import line: active and seen when bound unless it says otherwise. */
function lifecycleOf(record: Record<string, unknown>, boundAt: number, now: number) {
  const lastSeenAt = timeField(record, 'last_seen_at', Math.floor(boundAt / 1000), now);
  if (typeof lastSeenAt === 'string') return lastSeenAt;
  const state = record.state ?? 'active';
  if (state === 'active') return { lastSeenAt, quarantinedAt: null, quarantineReason: null, expiryWarnedAt: null };
  if (state !== 'quarantined') return `state: must be "active" or "quarantined", got ${describe(state)}`;
  const quarantinedAt = timeField(record, 'quarantined_at', now, now);
  if (typeof quarantinedAt === 'string') return quarantinedAt;
  const reason = record.quarantine_reason ?? 'imported';
  if (typeof reason !== 'string' || reason.length > MAX_REASON_CHARS)
    return `quarantine_reason: must be a string of at most ${MAX_REASON_CHARS} characters, got ${describe(reason)}`;
  return { lastSeenAt, quarantinedAt, quarantineReason: reason, expiryWarnedAt: null };
}

/**
 * One import line as a binding, or why it is not one. `fallbackBoundAt` (microseconds, about now)
 * stands in for a missing bound_at; no time may be more than MAX_AT_SKEW_MS past it.
 */
export function parseBindingLine(text: string, maxTokenBytes: number, fallbackBoundAt: number): Binding | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not valid JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return `must be a JSON object, got ${describe(value)}`;
  const record = value as Record<string, unknown>;
  const token = checkToken(record.token, 'token', maxTokenBytes);
  if (isFailure(token)) return token.message;
  const account = checkAccountKey(record, 'binding');
  if (isFailure(account)) return account.message.replace(/^binding\./, '');
  const platform = checkPlatform(record.platform);
  if (isFailure(platform)) return platform.message;
  let boundAt = fallbackBoundAt;
  if (record.bound_at !== undefined && record.bound_at !== null) {
    const parsed = typeof record.bound_at === 'string' ? parseIsoMicros(record.bound_at) : undefined;
    if (parsed === undefined)
      return (
        `bound_at: must be an ISO 8601 time between 2000 and 3000 like "2026-11-23T10:00:00.000Z", got ` +
        `${describe(record.bound_at)}`
      );
    boundAt = parsed;
  }
  const now = Math.floor(fallbackBoundAt / 1000);
  const ahead = future('bound_at', Math.floor(boundAt / 1000), now);
  if (ahead !== undefined) return ahead;
  const lifecycle = lifecycleOf(record, boundAt, now);
  if (typeof lifecycle === 'string') return lifecycle;
  return { token, account: account.account, accountType: account.accountType, platform, boundAt, ...lifecycle };
}
