/**
 * What a push provider's answer to a send means for the token: the one table every provider
 * shares. `invalid`: the token is dead (quarantine it); `transient`: the provider could not answer
 * now (rate limited, unavailable, internal error): counted, nothing changes. Anything else is
 * `unknown` and refused, with the accepted values named, rather than guessed at: an answer about
 * the sender (bad credentials, bad payload) says nothing about the token.
 *
 * Sources: APNs "Handling notification responses from APNs"; FCM HTTP v1 ErrorCode and the
 * legacy HTTP API's errors; Huawei Push Kit server result codes; Expo push ticket and receipt
 * errors; Web Push (RFC 8030, and the push services' 404/410 for expired subscriptions).
 */

export const PROVIDERS = ['apns', 'fcm', 'hms', 'expo', 'webpush'] as const;
export type Provider = (typeof PROVIDERS)[number];

export type FeedbackClass = 'invalid' | 'transient';

interface ProviderAnswers {
  /** Reason strings, compared without regard to case, spaces, '_' and '-'. */
  reasons: Record<string, FeedbackClass>;
  /** HTTP statuses, used when the reason is absent or not in `reasons`. */
  statuses: Record<number, FeedbackClass>;
}

export const FEEDBACK_CLASSES: Record<Provider, ProviderAnswers> = {
  apns: {
    reasons: {
      Unregistered: 'invalid', // 410: the token is no longer active for the topic
      BadDeviceToken: 'invalid', // 400: invalid token, or a sandbox token sent to production
      DeviceTokenNotForTopic: 'invalid', // 400
      ExpiredToken: 'invalid', // 410
      TooManyRequests: 'transient', // 429: too many requests to this token
      TooManyProviderTokenUpdates: 'transient', // 429
      InternalServerError: 'transient', // 500
      ServiceUnavailable: 'transient', // 503
      Shutdown: 'transient', // 503: the server is shutting down
      IdleTimeout: 'transient',
    },
    statuses: { 410: 'invalid', 429: 'transient', 500: 'transient', 503: 'transient' },
  },
  fcm: {
    reasons: {
      UNREGISTERED: 'invalid', // 404: the app was uninstalled or the token expired
      INVALID_ARGUMENT: 'invalid', // 400: for a valid payload, the token is invalid (Firebase's advice)
      SENDER_ID_MISMATCH: 'invalid', // 403: the token belongs to another sender
      NotRegistered: 'invalid', // legacy HTTP API
      InvalidRegistration: 'invalid',
      MismatchSenderId: 'invalid',
      'messaging/registration-token-not-registered': 'invalid', // Admin SDK codes
      'messaging/invalid-registration-token': 'invalid',
      QUOTA_EXCEEDED: 'transient', // 429
      UNAVAILABLE: 'transient', // 503
      INTERNAL: 'transient', // 500
      Unavailable: 'transient',
      InternalServerError: 'transient',
      DeviceMessageRateExceeded: 'transient',
      'messaging/server-unavailable': 'transient',
      'messaging/internal-error': 'transient',
      'messaging/message-rate-exceeded': 'transient',
    },
    statuses: { 404: 'invalid', 429: 'transient', 500: 'transient', 503: 'transient' },
  },
  hms: {
    reasons: {
      '80300007': 'invalid', // all tokens are invalid
      '80100000': 'invalid', // some tokens failed: reported for each token of illegal_tokens
      '81000001': 'transient', // internal system error
    },
    statuses: { 429: 'transient', 500: 'transient', 502: 'transient', 503: 'transient' },
  },
  expo: {
    reasons: {
      DeviceNotRegistered: 'invalid',
      MessageRateExceeded: 'transient',
      TOO_MANY_REQUESTS: 'transient',
    },
    statuses: { 429: 'transient', 500: 'transient', 502: 'transient', 503: 'transient' },
  },
  webpush: {
    // Push services answer with a status alone; its reason phrase is accepted as the reason.
    reasons: { 'Not Found': 'invalid', Gone: 'invalid', 'Too Many Requests': 'transient' },
    statuses: {
      404: 'invalid', // the subscription expired
      410: 'invalid', // the subscription was removed
      429: 'transient',
      500: 'transient',
      502: 'transient',
      503: 'transient',
      504: 'transient',
    },
  },
};

const normal = (reason: string) => reason.toLowerCase().replace(/[\s_-]/g, '');
const byNormalReason = new Map(
  PROVIDERS.map((p) => [
    p,
    new Map(Object.entries(FEEDBACK_CLASSES[p].reasons).map(([reason, c]) => [normal(reason), c])),
  ]),
);

/** The class of a provider's answer, or undefined when the table does not know it. */
export function classify(provider: Provider, reason: string | null, status: number | null): FeedbackClass | undefined {
  const byReason = reason === null ? undefined : byNormalReason.get(provider)?.get(normal(reason));
  return byReason ?? (status === null ? undefined : FEEDBACK_CLASSES[provider].statuses[status]);
}

/** What the table accepts from a provider, for the message of a refused answer. */
export function acceptedAnswers(provider: Provider): string {
  const { reasons, statuses } = FEEDBACK_CLASSES[provider];
  return `reason one of ${Object.keys(reasons).join(', ')}; or status one of ${Object.keys(statuses).join(', ')}`;
}
