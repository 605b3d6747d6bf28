// Small shared pieces: problem messages, confirmation dialogs, diffs, progress bars, badges.
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { ApiError } from '../api.js';
import { OfflineError } from '../connection.js';
import { lineDiff } from '../diff-lines.js';
import { valueText } from '../format.js';
import type { Entry, RolloutStateName } from '../types.js';

/** An error as the server put it: the problem's detail, its code, and every violation or conflict. */
export function Problem({ error, title }: { error: unknown; title?: string }) {
  if (error === undefined || error === null) return null;
  // The one offline banner says it; a copy per screen would only repeat it.
  if (error instanceof OfflineError) return null;
  const api = error instanceof ApiError ? error : undefined;
  const detail = api
    ? api.detail
    : error instanceof Error
      ? error.message
      : typeof error === 'string'
        ? error
        : JSON.stringify(error);
  const forbidden = api?.status === 403;
  return (
    <div className={`problem ${forbidden ? 'problem-forbidden' : ''}`} role="alert" data-code={api?.code}>
      <strong>{title ?? (forbidden ? 'Not allowed' : 'Error')}:</strong> {detail}
      {api?.code ? <span className="code"> [{api.code}]</span> : null}
      {api && api.violations.length > 0 ? (
        <ul className="violations">
          {api.violations.map((v, i) => (
            <li key={i}>
              <code>{v.path || '/'}</code> {v.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return <div className="muted loading">{what}…</div>;
}

/** A modal that asks before a consequential action; the action runs on confirm, errors stay in the dialog. */
export function Confirm(props: {
  title: string;
  children?: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  withReason?: boolean;
  /** What the text field is called (an audited reason, a commit message, a release note). */
  reasonLabel?: string;
  busyLabel?: string;
  onConfirm: (reason: string) => Promise<void>;
  onClose: () => void;
  disabled?: boolean;
}) {
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);
  const confirm = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await props.onConfirm(reason);
      props.onClose();
    } catch (caught) {
      setError(caught);
      setBusy(false);
    }
  };
  return (
    <dialog ref={ref} className="confirm" aria-label={props.title} onCancel={props.onClose}>
      <h3>{props.title}</h3>
      <div className="confirm-body">{props.children}</div>
      {props.withReason ? (
        <label className="field">
          {props.reasonLabel ?? 'Reason (audited)'}
          <input value={reason} onChange={(e) => setReason(e.target.value)} placeholder="why" />
        </label>
      ) : null}
      <Problem error={error} />
      <div className="actions">
        <button type="button" onClick={props.onClose} disabled={busy}>
          Cancel
        </button>
        <button
          type="button"
          className={props.danger ? 'danger' : 'primary'}
          onClick={() => void confirm()}
          disabled={busy || props.disabled}
        >
          {busy ? (props.busyLabel ?? 'Working') + '…' : props.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

/** A line diff of two texts, `-` red and `+` green. */
export function TextDiff({ before, after, testId }: { before: string; after: string; testId?: string }) {
  const lines = lineDiff(before, after);
  return (
    <pre className="diff" data-testid={testId}>
      {lines.map((line, i) => (
        <div key={i} className={`diff-${line.kind}`}>
          <span className="diff-sign">{line.kind === 'added' ? '+' : line.kind === 'removed' ? '-' : ' '}</span>
          {line.text}
        </div>
      ))}
    </pre>
  );
}

function entryText(entry: Entry | null | undefined): string {
  if (!entry) return '';
  // Masked for everyone here, admins too: a secret is shown only by an audited reveal in the editor.
  if (entry.redacted || entry.secret) return '(secret: masked)';
  return valueText(entry.value, entry.contentType);
}

/** One change of a diff (`/diff` or a revert preview): key, label, kind, and the value's line diff. */
export function EntryChange({
  change,
}: {
  change: { key: string; label: string; kind: string; before?: Entry | null; after?: Entry | null };
}) {
  return (
    <div className="entry-change">
      <div className="entry-change-head">
        <span className={`kind kind-${change.kind}`}>{change.kind}</span> <code>{change.key}</code>
        {change.label ? <span className="label-chip">{change.label}</span> : null}
      </div>
      <TextDiff before={entryText(change.before)} after={entryText(change.after)} />
    </div>
  );
}

export function Bar({
  parts,
  total,
  title,
}: {
  parts: Array<{ value: number; className: string; label: string }>;
  total: number;
  title?: string;
}) {
  return (
    <div className="bar" title={title} role="img" aria-label={title}>
      {parts.map((part) =>
        part.value > 0 && total > 0 ? (
          <div
            key={part.label}
            className={`bar-part ${part.className}`}
            style={{ width: `${Math.min(100, (part.value / total) * 100)}%` }}
            title={`${part.label}: ${part.value}`}
          />
        ) : null,
      )}
    </div>
  );
}

export function StateBadge({ state }: { state: RolloutStateName | null | undefined }) {
  if (!state) return <span className="badge badge-none">no rollout</span>;
  return (
    <span className={`badge badge-${state}`} data-testid="rollout-state">
      {state.replace('_', ' ')}
    </span>
  );
}

export function Tabs({
  tabs,
  current,
  onSelect,
}: {
  tabs: Array<[string, string]>;
  current: string;
  onSelect: (id: string) => void;
}) {
  return (
    <div className="tabs" role="tablist">
      {tabs.map(([id, label]) => (
        <button
          key={id}
          role="tab"
          aria-selected={current === id}
          className={current === id ? 'tab active' : 'tab'}
          onClick={() => onSelect(id)}
        >
          {label}
        </button>
      ))}
    </div>
  );
}

/** A secret's value as lists and the editor show it until revealed: dots, never the value. */
export function SecretMask() {
  return (
    <span className="secret-mask" data-testid="secret-mask" aria-label="secret value, masked">
      ••••••••
    </span>
  );
}

/** The head of an editor panel (entries, flags): what is edited, and a close button. */
export function EditorHead({
  title,
  onClose,
  closeLabel = 'Close editor',
}: {
  title: string;
  onClose: () => void;
  closeLabel?: string;
}) {
  return (
    <div className="editor-head">
      <h3>
        <code>{title}</code>
      </h3>
      <button className="link" onClick={onClose} aria-label={closeLabel}>
        ✕
      </button>
    </div>
  );
}
