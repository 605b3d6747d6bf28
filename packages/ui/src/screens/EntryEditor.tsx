import { useEffect, useMemo, useState } from 'react';
import { ApiError, describeError, keySegment, nsPath, type Violation } from '../api.js';
import { allows, allowsSecrets, notAllowed } from '../access.js';
import { Confirm, EditorHead, Loading, Problem, SecretMask, TextDiff } from '../components/ui.js';
import { ago, isJsonType, labelName, time, valueText, who as whoOf } from '../format.js';
import { useSession } from '../session.js';
import type { Entry, NamespaceSchema } from '../types.js';
import { BrowserSchema } from '../validate.js';
import { CodeEditor } from '../components/LazyCodeEditor.js';

type Stage = 'edit' | 'review';

interface Parsed {
  value: unknown;
  error: string | null;
}

function parseValue(text: string, contentType: string): Parsed {
  if (!isJsonType(contentType)) return { value: text, error: null };
  if (text.trim() === '') return { value: undefined, error: 'Enter a JSON value (e.g. 42, "text", {"a": 1}).' };
  try {
    return { value: JSON.parse(text) as unknown, error: null };
  } catch (error) {
    return { value: undefined, error: `Not valid JSON: ${(error as Error).message}` };
  }
}

/**
 * Edits one entry: validates JSON and the namespace's JSON Schema as you type, shows the diff
 * against the live value before saving, and saves with If-Match on the live ETag, so an edit made
 * meanwhile by someone else is a conflict to look at, never overwritten.
 */
export function EntryEditor(props: {
  ns: string;
  target: { key: string; label: string } | null;
  listed: Entry | undefined;
  hasSchema: boolean;
  /** The entry just saved by the editor this one replaced (a new entry's), to keep its notice. */
  justSaved?: Entry | null;
  onClose: () => void;
  onSaved: (entry: Entry) => void;
}) {
  const { api, who } = useSession();
  const { ns, target } = props;
  const creating = target === null;
  const [key, setKey] = useState(target?.key ?? '');
  const [label, setLabel] = useState(target?.label ?? '');
  const [contentType, setContentType] = useState('application/json');
  const [live, setLive] = useState<Entry | null | undefined>(creating ? null : undefined);
  const [text, setText] = useState('');
  const [message, setMessage] = useState('');
  const [stage, setStage] = useState<Stage>('edit');
  const [loadError, setLoadError] = useState<unknown>(undefined);
  const [saveError, setSaveError] = useState<unknown>(undefined);
  const [conflict, setConflict] = useState<{ theirs: Entry | null; detail: string } | null>(null);
  const [saved, setSaved] = useState<Entry | null>(
    props.justSaved && target && props.justSaved.key === target.key && props.justSaved.label === target.label
      ? props.justSaved
      : null,
  );
  const [busy, setBusy] = useState(false);
  const [schema, setSchema] = useState<BrowserSchema | null | undefined>(props.hasSchema ? undefined : null);
  const [schemaError, setSchemaError] = useState<string | null>(null);
  const [labelDocument, setLabelDocument] = useState<Record<string, unknown> | null>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  // A secret stays masked (its value not even kept here) until revealed through the audited route.
  const [revealed, setRevealed] = useState(false);
  const [revealError, setRevealError] = useState<unknown>(undefined);

  const entryUrl = (k: string) => `${nsPath(ns)}/entries/${keySegment(k)}`;

  // The live value, fresh (the list may be a few seconds old): its ETag guards the save.
  useEffect(() => {
    if (!target) return;
    let cancelled = false;
    api.get<Entry>(entryUrl(target.key), { label: target.label, secrets: 'masked' }).then(
      (entry) => {
        if (cancelled) return;
        setLive(entry);
        setContentType(entry.contentType);
        setText(entry.redacted || entry.secret ? '' : valueText(entry.value, entry.contentType));
      },
      (error: unknown) => !cancelled && setLoadError(error),
    );
    return () => {
      cancelled = true;
    };
  }, [api, ns, target?.key, target?.label]);

  // The namespace's JSON Schema, compiled in the browser.
  useEffect(() => {
    if (!props.hasSchema) return;
    let cancelled = false;
    api.get<{ schema: NamespaceSchema | null }>(`${nsPath(ns)}/schema`).then(
      ({ schema: s }) => {
        if (cancelled) return;
        try {
          setSchema(new BrowserSchema(s));
        } catch (error) {
          setSchema(null);
          setSchemaError(
            `The namespace schema could not be compiled in the browser (${(error as Error).message}); the server still checks it on save.`,
          );
        }
      },
      (error: unknown) => {
        if (cancelled) return;
        setSchema(null);
        setSchemaError(`The schema could not be read (${describeError(error)}); the server still checks it on save.`);
      },
    );
    return () => {
      cancelled = true;
    };
  }, [api, ns, props.hasSchema]);

  // The document schema sees the view instances with this label receive (key → value): the
  // default label with this label over it, as the server checks it. Read those entries once.
  useEffect(() => {
    if (!schema?.hasDocumentSchema) return;
    let cancelled = false;
    const stack = label === '' ? [''] : ['', label];
    Promise.all(
      stack.map((l) => api.all<Entry>(`${nsPath(ns)}/entries`, { label: l, limit: 1000, secrets: 'masked' })),
    ).then(
      (pages) => {
        if (cancelled) return;
        const document: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
        stack.forEach((l, i) => {
          for (const item of pages[i]?.items ?? [])
            if (item.label === l && !item.redacted && !item.secret) document[item.key] = item.value;
        });
        setLabelDocument(document);
      },
      () => !cancelled && setLabelDocument(null),
    );
    return () => {
      cancelled = true;
    };
  }, [api, ns, label, schema]);

  const parsed = useMemo(() => parseValue(text, contentType), [text, contentType]);
  const violations = useMemo<Violation[]>(() => {
    if (parsed.error || !schema || key === '') return [];
    const found = schema.valueViolations(key, parsed.value);
    if (schema.hasDocumentSchema && labelDocument) {
      const document = Object.assign(Object.create(null) as Record<string, unknown>, labelDocument);
      document[key] = parsed.value;
      found.push(...schema.documentViolations(label, document));
    }
    return found;
  }, [parsed, schema, key, label, labelDocument]);

  const masked = (live?.secret ?? false) && !revealed;
  const liveText = live && !live.redacted && !masked ? valueText(live.value, live.contentType) : '';
  const newText = parsed.error ? text : valueText(parsed.value, contentType);
  const unchanged =
    live !== null && live !== undefined && !live.redacted && liveText === newText && live.contentType === contentType;
  const canWrite = allows(who.scopes, 'write', ns);
  const blocked = !canWrite || (live?.locked ?? false) || masked;
  const reveal = async () => {
    if (!live) return;
    setRevealError(undefined);
    try {
      const entry = await api.post<Entry>(`${nsPath(ns)}/secrets/reveal`, { key: live.key, label: live.label });
      setLive(entry);
      setContentType(entry.contentType);
      setText(valueText(entry.value, entry.contentType));
      setRevealed(true);
    } catch (error) {
      setRevealError(error);
    }
  };
  const valid = parsed.error === null && violations.length === 0 && key !== '';

  const save = async () => {
    if (live === undefined) return;
    setBusy(true);
    setSaveError(undefined);
    setConflict(null);
    const body: Record<string, unknown> = { value: parsed.value, contentType };
    if (message.trim()) body.message = message.trim();
    if (live) {
      // Keep what the editor does not change.
      body.tags = live.tags;
      if (live.secret) body.secret = true;
    }
    const headers: Record<string, string> = live ? { 'if-match': `"${live.etag}"` } : { 'if-none-match': '*' };
    try {
      const entry = await api.put<Entry>(entryUrl(key), body, headers, { label });
      setSaved(entry);
      setLive(entry);
      setStage('edit');
      setMessage('');
      props.onSaved(entry);
    } catch (error) {
      if (error instanceof ApiError && error.status === 412) {
        let theirs: Entry | null = null;
        try {
          theirs = await api.get<Entry>(entryUrl(key), { label, secrets: 'masked' });
        } catch {
          theirs = null;
        }
        setConflict({ theirs, detail: error.detail });
      } else {
        setSaveError(error);
      }
    } finally {
      setBusy(false);
    }
  };

  if (loadError) {
    return (
      <div className="card editor">
        <EditorHead title={target?.key ?? ''} onClose={props.onClose} />
        <Problem error={loadError} />
      </div>
    );
  }
  if (live === undefined) return <Loading what="Loading the entry" />;

  return (
    <div className="card editor" data-testid="editor">
      <EditorHead title={creating ? 'New entry' : key} onClose={props.onClose} />
      {creating ? (
        <div className="row">
          <label className="field grow">
            Key
            <input value={key} onChange={(e) => setKey(e.target.value)} placeholder="db/pool/max" aria-label="Key" />
          </label>
          <label className="field">
            Label
            <input
              value={label}
              onChange={(e) => setLabel(e.target.value)}
              placeholder="(default)"
              aria-label="Entry label"
            />
          </label>
          <label className="field">
            Content type
            <input value={contentType} onChange={(e) => setContentType(e.target.value)} aria-label="Content type" />
          </label>
        </div>
      ) : live ? (
        <div className="meta small">
          <span className="label-chip">{labelName(live.label)}</span> {live.contentType} · revision {live.revision} ·{' '}
          {whoOf(live.author)}, {ago(live.updatedAt)}
          {live.locked ? <span className="chip chip-locked">locked</span> : null}
          {live.secret ? <span className="chip chip-secret">secret</span> : null}
          {Object.keys(live.tags).length > 0 ? (
            <span className="muted">
              {' '}
              · tags{' '}
              {Object.entries(live.tags)
                .map(([k, v]) => `${k}=${v}`)
                .join(', ')}
            </span>
          ) : null}
        </div>
      ) : null}

      {live?.redacted ? (
        <div className="notice">This secret is redacted for your token; its value cannot be shown or diffed here.</div>
      ) : masked && live ? (
        <div className="secret-box" data-testid="secret-masked">
          <SecretMask />
          {allowsSecrets(who.scopes, ns) ? (
            <button className="small-button" onClick={() => void reveal()}>
              Reveal (audited)
            </button>
          ) : null}
          <span className="muted small">A secret stays masked until revealed; each reveal is in the audit log.</span>
        </div>
      ) : null}
      <Problem error={revealError} title="Not revealed" />
      {live?.locked ? <div className="notice">Locked: read-only until unlocked.</div> : null}
      {!canWrite ? <div className="problem problem-forbidden">{notAllowed(who.scopes, 'write', ns)}</div> : null}
      {schemaError ? <div className="notice">{schemaError}</div> : null}

      {stage === 'edit' ? (
        <>
          {masked ? null : (
            <div className="field">
              Value {isJsonType(contentType) ? '(JSON)' : `(${contentType})`}
              <CodeEditor
                value={text}
                onChange={(next) => {
                  setText(next);
                  setSaved(null);
                }}
                language={isJsonType(contentType) ? 'json' : /yaml/iu.test(contentType) ? 'yaml' : 'text'}
                readOnly={blocked || (live?.redacted ?? false)}
                ariaLabel="Value"
                invalid={parsed.error !== null || violations.length > 0}
                diagnostics={[...violations, ...(saveError instanceof ApiError ? saveError.violations : [])]}
              />
            </div>
          )}
          <div className="validation" data-testid="validation" aria-live="polite">
            {parsed.error ? <div className="invalid-msg">{parsed.error}</div> : null}
            {violations.map((v, i) => (
              <div key={i} className="invalid-msg">
                Schema: <code>{v.path || '/'}</code> {v.message}
              </div>
            ))}
            {!parsed.error && violations.length === 0 && key !== '' ? (
              <div className="valid-msg">
                {schema
                  ? 'Valid JSON, matches the namespace schema'
                  : isJsonType(contentType)
                    ? 'Valid JSON'
                    : 'Text value'}
              </div>
            ) : null}
          </div>
          <div className="actions">
            <button className="primary" disabled={!valid || unchanged || blocked} onClick={() => setStage('review')}>
              Review changes
            </button>
            {unchanged ? <span className="muted small">No change from the live value</span> : null}
            <div className="spacer" />
            {live && canWrite ? <LockButton ns={ns} entry={live} onChanged={(e) => setLive(e)} /> : null}
            {live && canWrite && !live.locked ? (
              <button className="danger" onClick={() => setConfirmDelete(true)}>
                Delete
              </button>
            ) : null}
          </div>
        </>
      ) : (
        <div className="review" data-testid="review">
          <h4>Diff against the live value {live ? `(revision ${live.revision})` : '(new entry)'}</h4>
          <TextDiff before={liveText} after={newText} testId="save-diff" />
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
            <button onClick={() => setStage('edit')} disabled={busy}>
              Back to editing
            </button>
            <button className="primary" onClick={() => void save()} disabled={busy || blocked}>
              {busy ? 'Saving…' : 'Save'}
            </button>
          </div>
        </div>
      )}

      {conflict ? (
        <div className="problem conflict" role="alert" data-testid="conflict">
          <strong>Conflict: someone saved first.</strong> Nothing was written. {conflict.detail}
          {conflict.theirs ? (
            <>
              <p className="small">
                Now at revision {conflict.theirs.revision} by {whoOf(conflict.theirs.author)} at{' '}
                {time(conflict.theirs.updatedAt)}. Their value → yours:
              </p>
              <TextDiff
                before={
                  conflict.theirs.redacted || conflict.theirs.secret
                    ? '(secret: masked)'
                    : valueText(conflict.theirs.value, conflict.theirs.contentType)
                }
                after={newText}
              />
              <button
                onClick={() => {
                  setLive(conflict.theirs);
                  setConflict(null);
                  setStage('review');
                }}
              >
                Review my edit against their version
              </button>
            </>
          ) : (
            <p className="small">The entry no longer exists.</p>
          )}
        </div>
      ) : null}
      <Problem error={saveError} title="Not saved" />
      {saved ? (
        <div className="success" role="status" data-testid="saved">
          Saved as revision {saved.revision}.
        </div>
      ) : null}
      {confirmDelete && live ? (
        <Confirm
          title={`Delete ${live.key}?`}
          confirmLabel="Delete"
          danger
          onClose={() => setConfirmDelete(false)}
          onConfirm={async () => {
            await api.delete(entryUrl(live.key), { label: live.label }, { 'if-match': `"${live.etag}"` });
            props.onClose();
            props.onSaved({ ...live });
          }}
        >
          The entry {live.label ? `(label ${live.label}) ` : ''}is deleted as a new commit; history keeps it and it can
          be reverted.
        </Confirm>
      ) : null}
    </div>
  );
}

function LockButton({ ns, entry, onChanged }: { ns: string; entry: Entry; onChanged: (entry: Entry) => void }) {
  const { api } = useSession();
  const [error, setError] = useState<unknown>(undefined);
  const toggle = async () => {
    setError(undefined);
    try {
      const path = `${nsPath(ns)}/locks/${keySegment(entry.key)}`;
      const outcome = entry.locked
        ? await api.delete<{ entries: Entry[] }>(path, { label: entry.label })
        : (await api.request<{ entries: Entry[] }>('PUT', path, { query: { label: entry.label } })).data;
      onChanged(outcome.entries[0] ?? { ...entry, locked: !entry.locked });
    } catch (caught) {
      setError(caught);
    }
  };
  return (
    <>
      <button onClick={() => void toggle()}>{entry.locked ? 'Unlock' : 'Lock'}</button>
      <Problem error={error} />
    </>
  );
}
