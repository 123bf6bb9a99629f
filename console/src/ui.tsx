/** Small shared pieces: messages, the one-time secret panel, a confirmation dialog, dates. */

import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

export function Message({ kind, children }: { kind: 'error' | 'info'; children: ComponentChildren }) {
  return (
    <p class={`message ${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      {children}
    </p>
  );
}

export function Secrets({ title, items, onDone }: { title: string; items: [string, string][]; onDone: () => void }) {
  return (
    <section class="secrets" aria-labelledby="secrets-title">
      <h3 id="secrets-title">{title}</h3>
      <p>Copy them now: they are shown only this once.</p>
      <dl>
        {items.map(([label, value]) => (
          <>
            <dt>{label}</dt>
            <dd>
              <code data-testid={label}>{value}</code>
            </dd>
          </>
        ))}
      </dl>
      <button type="button" onClick={onDone}>
        I have saved them
      </button>
    </section>
  );
}

export function Confirm({
  text,
  action,
  onConfirm,
  onCancel,
}: {
  text: string;
  action: string;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    dialog.current?.showModal();
  }, []);
  return (
    <dialog ref={dialog} aria-labelledby="confirm-text" onCancel={onCancel}>
      <p id="confirm-text">{text}</p>
      <div class="actions">
        <button type="button" class="danger" onClick={onConfirm}>
          {action}
        </button>
        <button type="button" onClick={onCancel} autofocus>
          Cancel
        </button>
      </div>
    </dialog>
  );
}

export const when = (iso: string) =>
  new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
