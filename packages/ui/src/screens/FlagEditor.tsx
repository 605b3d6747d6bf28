import { useEffect, useMemo, useState } from 'react';
import { ApiError, keySegment, nsPath } from '../api.js';
import { allows, notAllowed } from '../access.js';
import { FlagDefinitionInput } from '../components/FlagDefinitionInput.js';
import { EditorHead, Loading, Problem, TextDiff } from '../components/ui.js';
import { checkDefinition, flagContentType, flagTemplates, type Evaluators, type FlagProblem } from '../flag-check.js';
import { ago, labelName, valueText, who as whoOf } from '../format.js';
import { useSession } from '../session.js';
import type { Entry } from '../types.js';

const pretty = (value: unknown): string => valueText(value, flagContentType);

function placed(problem: FlagProblem): string {
  return problem.place ? `line ${problem.place.line}, column ${problem.place.column} · ` : '';
}

/**
 * Edits one flag's definition (or a new flag's, from a template): checked as it is typed, the diff
 * against the live definition shown before saving, saved with If-Match on the live ETag. The server
 * checks every rule again, flagd's parser included, and its violations are shown as it names them.
 */
export function FlagEditor(props: {
  ns: string;
  target: { key: string; label: string } | null;
  /** The flag just saved by the editor this one replaced (a new flag's), to keep its notice. */
  justSaved?: Entry | null;
  /** The namespace's shared evaluators by label (null when not known: `$ref`s are left to the server). */
  evaluators: ReadonlyMap<string, Evaluators> | null;
  onClose: () => void;
  onSaved: (entry: Entry) => void;
}) {
  const { api, who } = useSession();
  const { ns, target } = props;
  const creating = target === null;
  const [key, setKey] = useState(target?.key ?? '');
  const [label, setLabel] = useState(target?.label ?? '');
  const [template, setTemplate] = useState(flagTemplates[0]?.id ?? '');
  const [live, setLive] = useState<Entry | null | undefined>(creating ? null : undefined);
  const [text, setText] = useState(() => (creating ? pretty(flagTemplates[0]?.definition ?? {}) : ''));
  const [message, setMessage] = useState('');
  const [reviewing, setReviewing] = useState(false);
  const [busy, setBusy] = useState(false);
  const [loadError, setLoadError] = useState<unknown>(undefined);
  const [saveError, setSaveError] = useState<unknown>(undefined);
  const [saved, setSaved] = useState<Entry | null>(
    props.justSaved && target && props.justSaved.key === target.key && props.justSaved.label === target.label
      ? props.justSaved
      : null,
  );

  const entryUrl = (k: string) => `${nsPath(ns)}/entries/${keySegment(k)}`;

  useEffect(() => {
    if (!target) return;
    let cancelled = false;
    api.get<Entry>(entryUrl(target.key), { label: target.label }).then(
      (entry) => {
        if (cancelled) return;
        setLive(entry);
        setText(entry.redacted ? '' : pretty(entry.value));
      },
      (error: unknown) => !cancelled && setLoadError(error),
    );
    return () => {
      cancelled = true;
    };
  }, [api, ns, target?.key, target?.label]);

  // A flag at label L resolves its `$ref`s against the evaluators at L, or at the empty label when L has none.
  const evaluators = props.evaluators ? (props.evaluators.get(label) ?? props.evaluators.get('') ?? {}) : undefined;
  const checked = useMemo(() => checkDefinition(text, evaluators), [text, evaluators]);
  const canWrite = allows(who.scopes, 'write', ns);
  const blocked = !canWrite || (live?.locked ?? false) || (live?.redacted ?? false);
  const liveText = live && !live.redacted ? pretty(live.value) : '';
  const newText = checked.ok ? pretty(checked.value) : text;
  const unchanged = live !== null && live !== undefined && liveText === newText;
  const valid = checked.ok && checked.problems.length === 0 && key !== '';

  const save = async () => {
    if (live === undefined || !checked.ok) return;
    setBusy(true);
    setSaveError(undefined);
    const body: Record<string, unknown> = { value: checked.value, contentType: flagContentType };
    if (message.trim()) body.message = message.trim();
    if (live) {
      body.tags = live.tags;
      if (live.secret) body.secret = true;
    }
    const headers: Record<string, string> = live ? { 'if-match': `"${live.etag}"` } : { 'if-none-match': '*' };
    try {
      const entry = await api.put<Entry>(entryUrl(key), body, headers, { label });
      setSaved(entry);
      setLive(entry);
      setReviewing(false);
      setMessage('');
      props.onSaved(entry);
    } catch (error) {
      setSaveError(error);
      // A refusal of the definition is for editing; anything else is read where the review is.
      if (error instanceof ApiError && error.code === 'invalid_flag') setReviewing(false);
    } finally {
      setBusy(false);
    }
  };

  if (loadError)
    return (
      <div className="card editor" data-testid="flag-editor">
        <EditorHead title={target?.key ?? ''} onClose={props.onClose} closeLabel="Close flag editor" />
        <Problem error={loadError} />
      </div>
    );
  if (live === undefined) return <Loading what="Loading the flag" />;

  return (
    <div className="card editor" data-testid="flag-editor">
      <EditorHead title={creating ? 'New flag' : key} onClose={props.onClose} closeLabel="Close flag editor" />
      {creating ? (
        <div className="row">
          <label className="field grow">
            Flag key
            <input
              value={key}
              onChange={(e) => setKey(e.target.value)}
              placeholder="new-checkout"
              aria-label="Flag key"
            />
          </label>
          <label className="field">
            Label
            <input
              value={label}
              onChange={(e) => setLabel(e.target.value)}
              placeholder="(default)"
              aria-label="Flag label"
            />
          </label>
          <label className="field">
            Template
            <select
              value={template}
              aria-label="Template"
              onChange={(e) => {
                setTemplate(e.target.value);
                const chosen = flagTemplates.find((t) => t.id === e.target.value);
                if (chosen) setText(pretty(chosen.definition));
              }}
            >
              {flagTemplates.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.name}
                </option>
              ))}
            </select>
          </label>
        </div>
      ) : live ? (
        <div className="meta small">
          <span className="label-chip">{labelName(live.label)}</span> revision {live.revision} · {whoOf(live.author)},{' '}
          {ago(live.updatedAt)}
          {live.locked ? <span className="chip chip-locked">locked</span> : null}
        </div>
      ) : null}
      {live?.locked ? <div className="notice">Locked: read-only until unlocked.</div> : null}
      {live?.redacted ? <div className="notice">This flag is a secret redacted for your token.</div> : null}
      {!canWrite ? <div className="problem problem-forbidden">{notAllowed(who.scopes, 'write', ns)}</div> : null}

      {!reviewing ? (
        <>
          <label className="field">
            Definition (flagd JSON; targeting is JSON Logic)
            <FlagDefinitionInput
              value={text}
              invalid={!checked.ok || checked.problems.length > 0}
              readOnly={blocked}
              onChange={(next) => {
                setText(next);
                setSaved(null);
              }}
            />
          </label>
          <div className="validation" data-testid="flag-validation" aria-live="polite">
            {!checked.ok ? (
              <div className="invalid-msg">{checked.syntax.message}</div>
            ) : (
              checked.problems.map((problem, i) => (
                <div key={i} className="invalid-msg">
                  {placed(problem)}
                  <code>{problem.path || '/'}</code> {problem.message}
                </div>
              ))
            )}
            {valid ? (
              <div className="valid-msg">Valid so far (the server runs flagd&apos;s own checks on save)</div>
            ) : null}
          </div>
          {canWrite ? (
            <div className="actions">
              <button className="primary" disabled={!valid || unchanged || blocked} onClick={() => setReviewing(true)}>
                Review changes
              </button>
              {unchanged ? <span className="muted small">No change from the live definition</span> : null}
            </div>
          ) : null}
        </>
      ) : (
        <div className="review" data-testid="flag-review">
          <h4>Diff against the live definition {live ? `(revision ${live.revision})` : '(new flag)'}</h4>
          <TextDiff before={liveText} after={newText} testId="flag-save-diff" />
          <label className="field">
            Commit message
            <input
              value={message}
              onChange={(e) => setMessage(e.target.value)}
              placeholder="why this change"
              aria-label="Commit message"
            />
          </label>
          <div className="actions">
            <button onClick={() => setReviewing(false)} disabled={busy}>
              Back to editing
            </button>
            <button className="primary" onClick={() => void save()} disabled={busy || blocked}>
              {busy ? 'Saving…' : 'Save'}
            </button>
          </div>
        </div>
      )}
      <Problem error={saveError} title="Not saved" />
      {saved ? (
        <div className="success" role="status" data-testid="flag-saved">
          Saved as revision {saved.revision}.
        </div>
      ) : null}
    </div>
  );
}
