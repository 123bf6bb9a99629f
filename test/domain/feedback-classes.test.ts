/**
 * The classifier, one case per answer the providers document, written from their documents (not
 * from the table): what each says about the token, and what says nothing about it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { acceptedAnswers, classify, type Provider } from '../../src/domain/feedback-classes.ts';

type Case = [Provider, string | null, number | null, 'invalid' | 'transient' | undefined, string];

const DOCUMENTED: Case[] = [
  // APNs, "Handling notification responses from APNs".
  ['apns', 'Unregistered', 410, 'invalid', 'the device token is inactive for the topic'],
  ['apns', 'ExpiredToken', 410, 'invalid', 'the device token has expired'],
  ['apns', 'BadDeviceToken', 400, 'invalid', 'invalid token, or a sandbox token sent to production'],
  ['apns', 'DeviceTokenNotForTopic', 400, 'invalid', 'the token is for another topic'],
  ['apns', 'TooManyRequests', 429, 'transient', 'too many requests to the same token'],
  ['apns', 'TooManyProviderTokenUpdates', 429, 'transient', 'provider token updated too often'],
  ['apns', 'InternalServerError', 500, 'transient', 'an internal server error'],
  ['apns', 'ServiceUnavailable', 503, 'transient', 'the service is unavailable'],
  ['apns', 'Shutdown', 503, 'transient', 'the APNs server is shutting down'],
  ['apns', 'IdleTimeout', null, 'transient', 'the connection idled out'],
  ['apns', null, 410, 'invalid', 'a 410 without its reason'],
  ['apns', 'BadTopic', 400, undefined, 'about the sender: the topic'],
  ['apns', 'PayloadTooLarge', 413, undefined, 'about the sender: the payload'],
  ['apns', 'InvalidProviderToken', 403, undefined, 'about the sender: its credentials'],
  ['apns', 'ExpiredProviderToken', 403, undefined, 'about the sender: its credentials'],
  ['apns', 'MissingTopic', 400, undefined, 'about the sender'],
  // FCM HTTP v1 ErrorCode, the legacy HTTP API, and the Admin SDK.
  ['fcm', 'UNREGISTERED', 404, 'invalid', 'the app was uninstalled or the token expired'],
  ['fcm', 'INVALID_ARGUMENT', 400, 'invalid', 'the token is invalid (for a valid payload)'],
  ['fcm', 'SENDER_ID_MISMATCH', 403, 'invalid', 'the token belongs to another sender'],
  ['fcm', 'NotRegistered', 200, 'invalid', 'legacy: not registered'],
  ['fcm', 'InvalidRegistration', 200, 'invalid', 'legacy: bad registration token'],
  ['fcm', 'MismatchSenderId', 200, 'invalid', 'legacy: another sender'],
  ['fcm', 'messaging/registration-token-not-registered', null, 'invalid', 'Admin SDK'],
  ['fcm', 'messaging/invalid-registration-token', null, 'invalid', 'Admin SDK'],
  ['fcm', 'QUOTA_EXCEEDED', 429, 'transient', 'sending limit exceeded'],
  ['fcm', 'UNAVAILABLE', 503, 'transient', 'the server is overloaded'],
  ['fcm', 'INTERNAL', 500, 'transient', 'an unknown internal error'],
  ['fcm', 'Unavailable', 200, 'transient', 'legacy: timeout'],
  ['fcm', 'InternalServerError', 500, 'transient', 'legacy: internal error'],
  ['fcm', 'DeviceMessageRateExceeded', 200, 'transient', 'legacy: too many messages to one device'],
  ['fcm', 'messaging/server-unavailable', null, 'transient', 'Admin SDK'],
  ['fcm', 'messaging/internal-error', null, 'transient', 'Admin SDK'],
  ['fcm', 'messaging/message-rate-exceeded', null, 'transient', 'Admin SDK'],
  ['fcm', null, 404, 'invalid', 'a 404 without its code'],
  ['fcm', 'THIRD_PARTY_AUTH_ERROR', 401, undefined, 'about the sender: the APNs or web push credentials'],
  ['fcm', 'UNSPECIFIED_ERROR', null, undefined, 'says nothing'],
  // Huawei Push Kit server result codes.
  ['hms', '80300007', null, 'invalid', 'all tokens are invalid'],
  ['hms', '80100000', null, 'invalid', 'reported for each of its illegal_tokens'],
  ['hms', '81000001', 500, 'transient', 'an internal system error'],
  ['hms', '80200003', 401, undefined, 'about the sender: its OAuth token expired'],
  ['hms', '80300008', 200, undefined, 'about the sender: the message is too large'],
  // Expo push tickets and receipts.
  ['expo', 'DeviceNotRegistered', null, 'invalid', 'the device cannot receive push notifications'],
  ['expo', 'MessageRateExceeded', null, 'transient', 'too many messages to one device'],
  ['expo', 'TOO_MANY_REQUESTS', 429, 'transient', 'the request limit'],
  ['expo', 'MessageTooBig', null, undefined, 'about the sender: the payload'],
  ['expo', 'InvalidCredentials', null, undefined, 'about the sender: its credentials'],
  // Web Push (RFC 8030 and the push services).
  ['webpush', null, 410, 'invalid', 'the subscription was removed'],
  ['webpush', null, 404, 'invalid', 'the subscription expired'],
  ['webpush', 'Gone', null, 'invalid', 'the reason phrase of 410'],
  ['webpush', null, 429, 'transient', 'too many requests'],
  ['webpush', null, 503, 'transient', 'the push service is unavailable'],
  ['webpush', null, 413, undefined, 'about the sender: the payload'],
  ['webpush', null, 401, undefined, 'about the sender: its VAPID credentials'],
];

describe('feedback classes', () => {
  for (const [provider, reason, status, expected, why] of DOCUMENTED) {
    it(`${provider} ${reason ?? '-'} ${status ?? '-'}: ${expected ?? 'refused'} (${why})`, () => {
      assert.equal(classify(provider, reason, status), expected);
    });
  }

  it('matches reasons whatever their case, spaces, underscores and hyphens; an unknown one falls back to the status', () => {
    assert.equal(classify('fcm', 'unregistered', null), 'invalid');
    assert.equal(classify('apns', 'bad_device_token', null), 'invalid');
    assert.equal(classify('webpush', 'NOT FOUND', null), 'invalid');
    assert.equal(classify('apns', 'SomethingNew', 410), 'invalid', 'the status speaks when the reason does not');
    assert.equal(classify('apns', 'Unregistered', 200), 'invalid', 'a known reason wins over the status');
    assert.equal(classify('apns', 'SomethingNew', 400), undefined);
  });

  it('names what it accepts, for the refusal message', () => {
    assert.match(
      acceptedAnswers('expo'),
      /^reason one of DeviceNotRegistered, MessageRateExceeded, TOO_MANY_REQUESTS; or status one of 429, 500, 502, 503$/,
    );
  });
});
