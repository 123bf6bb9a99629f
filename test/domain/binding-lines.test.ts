/** Import and export lines: a binding with its microsecond bind time, or why a line is not one. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bindingLine, isoMicros, parseBindingLine, parseIsoMicros } from '../../src/domain/binding-lines.ts';
import { asBound } from '../../src/model/types.ts';

/** The import's clock: microseconds, 2026-12-07. */
const NOW = Date.UTC(2026, 11, 7) * 1000;

describe('binding lines', () => {
  it('round-trips a binding, microseconds included', () => {
    const binding = asBound({
      token: 't1',
      account: 'alice',
      accountType: 2,
      platform: 'ios' as const,
      boundAt: 1_790_000_000_123_456,
    });
    const line = JSON.stringify(bindingLine(binding));
    assert.equal(JSON.parse(line).bound_at, '2026-09-21T14:13:20.123456Z');
    assert.deepEqual(parseBindingLine(line, 64, NOW), binding);
    assert.equal(parseIsoMicros(isoMicros(binding.boundAt)), binding.boundAt);
  });

  it('fills a missing bound_at and account_type, and says what is wrong with a bad line', () => {
    assert.deepEqual(
      parseBindingLine('{"token":"t1","account":"alice"}', 64, 42_000),
      asBound({ token: 't1', account: 'alice', accountType: 0, platform: null, boundAt: 42_000 }),
    );
    assert.equal(parseBindingLine('{"token":', 64, 0), 'not valid JSON');
    assert.equal(parseBindingLine('[1]', 64, 0), 'must be a JSON object, got an array');
    assert.equal(parseBindingLine('{"account":"alice"}', 64, 0), 'token: required');
    assert.equal(
      parseBindingLine('{"token":"t1","account":"a"}', 64, 0),
      'account: must be longer than 1 byte, got the string "a"',
    );
    assert.match(
      String(parseBindingLine('{"token":"t1","account":"alice","bound_at":"yesterday"}', 64, 0)),
      /^bound_at: must be an ISO 8601 time between 2000 and 3000/,
    );
  });

  it('round-trips a quarantined binding with its state, reason and times', () => {
    const binding = {
      ...asBound({ token: 't1', account: 'alice', accountType: 0, platform: null, boundAt: 1_790_000_000_000_000 }),
      lastSeenAt: 1_790_000_500_000,
      quarantinedAt: 1_790_001_000_000,
      quarantineReason: 'apns: Unregistered (410)',
    };
    const line = bindingLine(binding);
    assert.equal(line.state, 'quarantined');
    assert.deepEqual(parseBindingLine(JSON.stringify(line), 64, NOW), binding);
    assert.equal(line.last_seen_at, '2026-09-21T14:21:40.000Z');
  });

  it('refuses an unknown state and a bad lifecycle time, naming the field', () => {
    const base = '"token":"t1","account":"alice"';
    assert.equal(
      parseBindingLine(`{${base},"state":"dead"}`, 64, 0),
      'state: must be "active" or "quarantined", got the string "dead"',
    );
    assert.match(String(parseBindingLine(`{${base},"last_seen_at":5}`, 64, 0)), /^last_seen_at: must be an ISO 8601/);
    assert.match(
      String(parseBindingLine(`{${base},"state":"quarantined","quarantine_reason":"${'x'.repeat(201)}"}`, 64, 0)),
      /^quarantine_reason: must be a string of at most 200 characters/,
    );
  });

  it('refuses a bind, seen or quarantine time more than 5 minutes ahead of the server, naming the field', () => {
    const base = '"token":"t1","account":"alice"';
    const at = (minutes: number) => new Date(NOW / 1000 + minutes * 60_000).toISOString();
    for (const field of ['bound_at', 'last_seen_at']) {
      assert.match(
        String(parseBindingLine(`{${base},"${field}":"${at(400 * 24 * 60)}"}`, 64, NOW)),
        new RegExp(`^${field}: is in the future \\(2028-01-11T00:00:00.000Z\\); at most 5 minutes ahead`),
      );
      assert.equal(typeof parseBindingLine(`{${base},"${field}":"${at(4)}"}`, 64, NOW), 'object', 'clocks differ');
    }
    assert.match(
      String(parseBindingLine(`{${base},"state":"quarantined","quarantined_at":"${at(6)}"}`, 64, NOW)),
      /^quarantined_at: is in the future/,
    );
  });
});
