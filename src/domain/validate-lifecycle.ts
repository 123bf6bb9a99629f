/**
 * Turns the bodies of the token lifecycle writes (feedback, seen) into valid items and per-item
 * failures, as validate-request.ts does for batchoperate: a whole-request problem throws an
 * RequestError and nothing is applied; an item's own problem becomes that item's result.
 */
import { RetCode, requestError } from '../model/errors.ts';
import type { DeadTokenReport } from '../model/types.ts';
import { parseIsoMicros } from './binding-lines.ts';
import { acceptedAnswers, classify, type FeedbackClass, PROVIDERS, type Provider } from './feedback-classes.ts';
import { checkText, checkToken, describe, type Failure, isFailure, MAX_AT_SKEW_MS } from './validate-fields.ts';

/** Items of one feedback request, tokens of one seen request (SPEC §3). */
export const MAX_LIFECYCLE_ITEMS = 1000;
/** A provider's reason, as it sent it. */
export const MAX_PROVIDER_REASON_CHARS = 100;

/** One feedback item: refused, or classified (an `invalid` one is the report at `report` in the command). */
export type FeedbackSlot =
  | { ok: false; failure: Failure; provider?: Provider; class?: 'unknown' }
  | { ok: true; provider: Provider; class: FeedbackClass; report?: number };

function itemsOf(body: Record<string, unknown>, name: string, example: string): unknown[] {
  const value = body[name];
  if (value === undefined || value === null) throw requestError.missing(`${name}: required, like ${example}`);
  if (!Array.isArray(value)) throw requestError.invalid(`${name}: must be an array, got ${describe(value)}`);
  if (value.length === 0) throw requestError.missing(`${name}: must not be empty`);
  if (value.length > MAX_LIFECYCLE_ITEMS)
    throw requestError.invalid(`${name}: at most ${MAX_LIFECYCLE_ITEMS} entries, got ${value.length}`);
  return value;
}

const invalid = (path: string, what: string): Failure => ({
  code: RetCode.INVALID_PARAMETER,
  message: `${path}: ${what}`,
});

/** `at`: Unix ms or ISO 8601; absent means now. */
function answerTime(value: unknown, path: string, now: number): number | Failure {
  if (value === undefined || value === null) return now;
  const at =
    typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
      ? value
      : typeof value === 'string'
        ? Math.floor((parseIsoMicros(value) ?? Number.NaN) / 1000)
        : Number.NaN;
  if (Number.isNaN(at))
    return invalid(
      path,
      `must be Unix milliseconds or an ISO 8601 time like "2026-11-24T10:00:00Z", got ${describe(value)}`,
    );
  if (at > now + MAX_AT_SKEW_MS) return invalid(path, `is in the future (${new Date(at).toISOString()})`);
  return at;
}

function feedbackItem(item: unknown, path: string, maxTokenBytes: number, now: number) {
  if (typeof item !== 'object' || item === null || Array.isArray(item))
    return invalid(path, `must be an object like {"token": "...", "provider": "apns", "reason": "Unregistered"}`);
  const record = item as Record<string, unknown>;
  const token = checkToken(record.token, `${path}.token`, maxTokenBytes);
  if (isFailure(token)) return token;
  const provider = record.provider;
  if (typeof provider !== 'string' || !(PROVIDERS as readonly string[]).includes(provider))
    return invalid(`${path}.provider`, `must be one of ${PROVIDERS.join(', ')}, got ${describe(provider)}`);
  const status = record.status ?? null;
  if (status !== null && (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599))
    return invalid(`${path}.status`, `must be an HTTP status from 100 to 599, got ${describe(status)}`);
  const reason =
    record.reason === undefined && status !== null
      ? null
      : checkText(record.reason, `${path}.reason`, MAX_PROVIDER_REASON_CHARS);
  if (isFailure(reason)) return reason;
  const at = answerTime(record.at, `${path}.at`, now);
  if (isFailure(at)) return at;
  return { token, provider: provider as Provider, reason, status, at };
}

/** A provider's answer as the quarantine's reason: "apns: Unregistered (410)". */
const reasonText = (provider: Provider, reason: string | null, status: number | null) =>
  `${provider}: ${[reason, status === null ? null : `(${status})`].filter((x) => x !== null).join(' ')}`;

export function validateFeedback(
  body: Record<string, unknown>,
  maxTokenBytes: number,
  now: number,
): { reports: DeadTokenReport[]; slots: FeedbackSlot[] } {
  const reports: DeadTokenReport[] = [];
  const slots = itemsOf(body, 'items', '[{"token": "...", "provider": "fcm", "reason": "UNREGISTERED"}]').map(
    (item, i): FeedbackSlot => {
      const path = `items[${i}]`;
      const checked = feedbackItem(item, path, maxTokenBytes, now);
      if (isFailure(checked)) return { ok: false, failure: checked };
      const { token, provider, reason, status, at } = checked;
      const found = classify(provider, reason, status);
      if (!found) {
        const said = [reason && `reason ${JSON.stringify(reason)}`, status && `status ${status}`].filter(Boolean);
        const failure = invalid(
          path,
          `${provider} answer with ${said.join(' and ')} is not one bindery classifies; send ${acceptedAnswers(provider)}`,
        );
        return { ok: false, failure, provider, class: 'unknown' };
      }
      if (found === 'transient') return { ok: true, provider, class: found };
      reports.push({ token, reason: reasonText(provider, reason, status), at });
      return { ok: true, provider, class: found, report: reports.length - 1 };
    },
  );
  return { reports, slots };
}

/** The tokens of a seen request, each valid or refused. */
export function validateTokens(body: Record<string, unknown>, maxTokenBytes: number): (string | Failure)[] {
  return itemsOf(body, 'tokens', '["token1", "token2"]').map((token, i) =>
    checkToken(token, `tokens[${i}]`, maxTokenBytes),
  );
}
