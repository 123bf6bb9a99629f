/** One app: policies, webhook, secret rotation, deletion, and the look-up of its bindings. */
import { useEffect, useState } from 'preact/hooks';
import { type AppView, api } from './api.ts';
import { Lookup } from './lookup.tsx';
import { Confirm, Message, Secrets } from './ui.tsx';

const field = (setter: (v: string) => void) => (e: Event) => setter((e.target as HTMLInputElement).value);

export function AppDetail({ accessId, onBack }: { accessId: string; onBack: () => void }) {
  const [app, setApp] = useState<AppView | null>(null);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const [secrets, setSecrets] = useState<{ title: string; items: [string, string][] } | null>(null);
  const [confirm, setConfirm] = useState<'rotate' | 'delete' | null>(null);
  const [caps, setCaps] = useState({
    tokens: '',
    accounts: '',
    rules: 'append',
    rate: '',
    burst: '',
    quarantine: '',
    ttl: '',
    warning: '',
  });
  const [webhook, setWebhook] = useState('');
  const path = `/apps/${encodeURIComponent(accessId)}`;

  const show = (next: AppView) => {
    setApp(next);
    setCaps({
      tokens: String(next.max_tokens_per_account),
      accounts: String(next.max_accounts_per_token),
      rules: next.binding_rules,
      rate: next.rate_limit_per_second?.toString() ?? '',
      burst: next.rate_limit_burst?.toString() ?? '',
      quarantine: String(next.quarantine_days),
      ttl: next.token_ttl_days?.toString() ?? '',
      warning: String(next.expiry_warning_days),
    });
    setWebhook(next.webhook_url ?? '');
  };
  const load = async () => {
    try {
      show(await api<AppView>('GET', path));
    } catch (e) {
      setError((e as Error).message);
    }
  };
  useEffect(() => void load(), [accessId]);

  const act = async (run: () => Promise<void>) => {
    setError('');
    setNotice('');
    try {
      await run();
    } catch (e) {
      setError((e as Error).message);
    }
  };

  const savePolicy = (event: Event) => {
    event.preventDefault();
    void act(async () => {
      const rateLimit =
        caps.rate.trim() === ''
          ? null
          : {
              per_second: Number(caps.rate),
              burst: Number(caps.burst || Math.max(1, Math.ceil(Number(caps.rate) * 2))),
            };
      show(
        await api<AppView>('PATCH', path, {
          max_tokens_per_account: Number(caps.tokens),
          max_accounts_per_token: Number(caps.accounts),
          binding_rules: caps.rules,
          quarantine_days: Number(caps.quarantine),
          token_ttl_days: caps.ttl.trim() === '' ? null : Number(caps.ttl),
          expiry_warning_days: Number(caps.warning),
          rate_limit: rateLimit,
        }),
      );
      setNotice('Policies saved.');
    });
  };
  const saveWebhook = (event: Event, off = false) => {
    event.preventDefault();
    void act(async () => {
      const next = await api<AppView>('PATCH', path, { webhook: off ? null : { url: webhook } });
      show(next);
      if (next.webhook_secret)
        setSecrets({ title: 'Webhook signing secret', items: [['Webhook secret', next.webhook_secret]] });
      else setNotice('Webhook turned off.');
    });
  };
  const rotate = () => {
    setConfirm(null);
    void act(async () => {
      const next = await api<AppView>('POST', `${path}/rotate-secret`, {});
      show(next);
      setSecrets({
        title: 'New SecretKey',
        items: [
          ['AccessID', next.access_id],
          ['SecretKey', next.secret_key ?? ''],
        ],
      });
    });
  };
  const remove = () => {
    setConfirm(null);
    void act(async () => {
      await api('DELETE', path);
      onBack();
    });
  };

  return (
    <main>
      <p>
        <button type="button" class="link" onClick={onBack}>
          ← All apps
        </button>
      </p>
      {error && <Message kind="error">{error}</Message>}
      {notice && <Message kind="info">{notice}</Message>}
      {secrets && <Secrets title={secrets.title} items={secrets.items} onDone={() => setSecrets(null)} />}
      {app && (
        <>
          <h2>
            {app.name} <code>{app.access_id}</code>
          </h2>
          <p>
            {app.bindings} bindings · {app.tokens} tokens · {app.accounts} accounts · {app.quarantined} quarantined
            {app.previous_secret_valid_until
              ? ` · the previous SecretKey works until ${new Date(app.previous_secret_valid_until).toLocaleString()}`
              : ''}
          </p>
          <div class="panels">
            <form onSubmit={savePolicy}>
              <h3>Policies</h3>
              <label>
                Tokens per account (max)
                <input
                  name="max_tokens_per_account"
                  type="number"
                  min="1"
                  max="10000"
                  required
                  value={caps.tokens}
                  onInput={field((v) => setCaps({ ...caps, tokens: v }))}
                />
              </label>
              <label>
                Accounts per token (max; 1 = a login moves the device)
                <input
                  name="max_accounts_per_token"
                  type="number"
                  min="1"
                  max="1000"
                  required
                  value={caps.accounts}
                  onInput={field((v) => setCaps({ ...caps, accounts: v }))}
                />
              </label>
              <label>
                Binding rules
                <select name="binding_rules" value={caps.rules} onChange={field((v) => setCaps({ ...caps, rules: v }))}>
                  <option value="append">append: op 1 adds an account to the token</option>
                  <option value="tpns">
                    tpns: as TPNS since 2020-10-26 (op 1 = op 2, one account per account type)
                  </option>
                </select>
              </label>
              <label>
                Days a quarantined token is kept before it is deleted
                <input
                  name="quarantine_days"
                  type="number"
                  min="1"
                  max="3650"
                  required
                  value={caps.quarantine}
                  onInput={field((v) => setCaps({ ...caps, quarantine: v }))}
                />
              </label>
              <label>
                Quarantine tokens not seen for this many days (empty = never)
                <input
                  name="token_ttl_days"
                  type="number"
                  min="1"
                  max="3650"
                  value={caps.ttl}
                  onInput={field((v) => setCaps({ ...caps, ttl: v }))}
                />
              </label>
              <label>
                Warn (token.expiring) this many days before
                <input
                  name="expiry_warning_days"
                  type="number"
                  min="0"
                  max="3650"
                  required
                  value={caps.warning}
                  onInput={field((v) => setCaps({ ...caps, warning: v }))}
                />
              </label>
              <label>
                Rate limit, requests per second (empty = off)
                <input
                  name="rate_limit"
                  type="number"
                  min="0.01"
                  step="any"
                  value={caps.rate}
                  onInput={field((v) => setCaps({ ...caps, rate: v }))}
                />
              </label>
              <label>
                Burst
                <input
                  name="rate_limit_burst"
                  type="number"
                  min="1"
                  value={caps.burst}
                  onInput={field((v) => setCaps({ ...caps, burst: v }))}
                />
              </label>
              <button type="submit">Save policies</button>
            </form>
            <form onSubmit={(e) => saveWebhook(e)}>
              <h3>Webhook</h3>
              <label>
                URL that receives binding.created, binding.deleted and the token.* events
                <input
                  name="webhook_url"
                  type="url"
                  value={webhook}
                  placeholder="https://example.com/bindery-events"
                  onInput={field(setWebhook)}
                />
              </label>
              <button type="submit" disabled={webhook.trim() === ''}>
                Save webhook
              </button>
              {app.webhook_url && (
                <button type="button" onClick={(e) => saveWebhook(e, true)}>
                  Turn off
                </button>
              )}
            </form>
            <section>
              <h3>Credentials</h3>
              <button type="button" onClick={() => setConfirm('rotate')}>
                Rotate SecretKey
              </button>
              <button type="button" class="danger" onClick={() => setConfirm('delete')}>
                Delete app
              </button>
            </section>
          </div>
          <Lookup accessId={accessId} onChanged={() => void load()} />
        </>
      )}
      {confirm === 'rotate' && (
        <Confirm
          text="Issue a new SecretKey? The old one keeps working for the grace period (24 h by default)."
          action="Rotate"
          onConfirm={rotate}
          onCancel={() => setConfirm(null)}
        />
      )}
      {confirm === 'delete' && (
        <Confirm
          text={`Delete app ${accessId} with all its bindings and history? This cannot be undone.`}
          action="Delete"
          onConfirm={remove}
          onCancel={() => setConfirm(null)}
        />
      )}
    </main>
  );
}
