/** The raw body as a JSON object, whatever the Content-Type said (SPEC §2: clients are sloppy). */
import { apiError } from '../../errors.ts';

/** Stateless between calls (no streaming), so one decoder serves every request. */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

export function parseJsonObject(raw: Buffer): Record<string, unknown> {
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw apiError.invalidJson('body: not valid UTF-8');
  }
  if (text.trim() === '') throw apiError.invalidJson('body: empty; send a JSON object');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw apiError.invalidJson(`body: not valid JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw apiError.invalidJson(
      `body: must be a JSON object, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`,
    );
  }
  return value as Record<string, unknown>;
}
