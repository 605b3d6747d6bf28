import { Suspense, useEffect, useMemo, useState } from 'react';
import { keySegment, nsPath } from '../api.js';
import { allows, notAllowed } from '../access.js';
import { Loading, Problem, SecretMask } from '../components/ui.js';
import { ago, isJsonType, labelName, preview, who as whoOf } from '../format.js';
import { usePoll } from '../hooks.js';
import { useSession } from '../session.js';
import type { Entry, EntryPage, Namespace } from '../types.js';
import { lazyScreen } from '../lazy-screen.js';

// The editor (and the JSON Schema validator it brings) loads when an entry is first opened.
const EntryEditor = lazyScreen(() => import('./EntryEditor.js'), 'EntryEditor');

const anyLabel = '\u0000any';

export function Entries({
  ns,
  namespace,
  onChanged,
}: {
  ns: string;
  namespace: Namespace | undefined;
  onChanged: () => void;
}) {
  const { api, who } = useSession();
  const [prefix, setPrefix] = useState('');
  const [label, setLabel] = useState(anyLabel);
  const [selected, setSelected] = useState<{ key: string; label: string } | 'new' | null>(null);
  const [limit, setLimit] = useState(200);
  const [knownLabels, setKnownLabels] = useState<string[]>(['']);
  // The editor is keyed by entry, so a new entry's editor is replaced on save: the notice carries over.
  const [justSaved, setJustSaved] = useState<Entry | null>(null);
  const entries = usePoll(
    (signal) =>
      api.get<EntryPage>(
        `${nsPath(ns)}/entries`,
        // Secrets come without their values (for admins too): only the editor's audited reveal shows one.
        { prefix, ...(label === anyLabel ? {} : { label }), limit: Math.min(limit, 1000), secrets: 'masked' },
        signal,
      ),
    5000,
    [api, ns, prefix, label, limit],
  );
  useEffect(() => {
    const seen = entries.data?.items.map((e) => e.label) ?? [];
    setKnownLabels((old) => {
      const all = [...new Set([...old, ...seen])].sort();
      return all.length === old.length ? old : all;
    });
  }, [entries.data]);
  const canWrite = allows(who.scopes, 'write', ns);
  const items = entries.data?.items ?? [];
  const selectedEntry = useMemo(
    () =>
      selected && selected !== 'new'
        ? items.find((e) => e.key === selected.key && e.label === selected.label)
        : undefined,
    [items, selected],
  );
  return (
    <div className="entries">
      <div className="toolbar">
        <label className="field inline">
          Key prefix
          <input value={prefix} onChange={(e) => setPrefix(e.target.value)} placeholder="db/" aria-label="Key prefix" />
        </label>
        <label className="field inline">
          Label
          <select value={label} onChange={(e) => setLabel(e.target.value)} aria-label="Label">
            <option value={anyLabel}>any label</option>
            {knownLabels.map((l) => (
              <option key={l} value={l}>
                {labelName(l)}
              </option>
            ))}
          </select>
        </label>
        <div className="spacer" />
        {canWrite ? (
          <button className="primary" onClick={() => setSelected('new')}>
            New entry
          </button>
        ) : (
          <span className="muted small">{notAllowed(who.scopes, 'write', ns)}</span>
        )}
      </div>
      <Problem error={entries.error} />
      {entries.loading && !entries.data ? <Loading /> : null}
      <div className="split">
        <div className="split-main">
          {entries.data && items.length === 0 ? (
            <p className="muted">No entries{prefix ? ` under "${prefix}"` : ''}.</p>
          ) : null}
          {items.length > 0 ? (
            <div className="table-wrap">
              <table className="table entries-table" data-testid="entries">
                <thead>
                  <tr>
                    <th>Key</th>
                    <th>Label</th>
                    <th>Value</th>
                    <th>Type</th>
                    <th className="num">Rev</th>
                    <th>Updated</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((entry) => (
                    <EntryRow
                      key={`${entry.key}\u0000${entry.label}`}
                      entry={entry}
                      selected={
                        selected !== null &&
                        selected !== 'new' &&
                        selected.key === entry.key &&
                        selected.label === entry.label
                      }
                      onSelect={() => {
                        setJustSaved(null);
                        setSelected({ key: entry.key, label: entry.label });
                      }}
                    />
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
          {entries.data?.next ? (
            <button className="link" onClick={() => setLimit((l) => l + 200)}>
              Show more
            </button>
          ) : null}
        </div>
        {selected ? (
          <div className="split-side">
            <Suspense fallback={<Loading what="Loading the editor" />}>
              <EntryEditor
                key={selected === 'new' ? 'new' : `${selected.key}\u0000${selected.label}`}
                ns={ns}
                target={selected === 'new' ? null : selected}
                listed={selectedEntry}
                hasSchema={namespace?.hasSchema ?? true}
                justSaved={justSaved}
                onClose={() => setSelected(null)}
                onSaved={(entry) => {
                  setJustSaved(entry);
                  setSelected({ key: entry.key, label: entry.label });
                  entries.refresh();
                  onChanged();
                }}
              />
            </Suspense>
          </div>
        ) : null}
      </div>
    </div>
  );
}

function EntryRow({ entry, selected, onSelect }: { entry: Entry; selected: boolean; onSelect: () => void }) {
  return (
    <tr className={selected ? 'selected clickable' : 'clickable'} onClick={onSelect} data-testid={`entry-${entry.key}`}>
      <td>
        <button className="link key" onClick={onSelect}>
          {entry.key}
        </button>
        {entry.locked ? (
          <span className="chip chip-locked" title="locked: read-only until unlocked">
            locked
          </span>
        ) : null}
        {entry.secret ? (
          <span className="chip chip-secret" title="encrypted at rest">
            secret
          </span>
        ) : null}
      </td>
      <td>
        {entry.label ? (
          <span className="label-chip">{entry.label}</span>
        ) : (
          <span className="muted small">(default)</span>
        )}
      </td>
      <td className="value-cell">
        {entry.redacted || entry.secret ? <SecretMask /> : <code>{preview(entry.value, entry.contentType)}</code>}
      </td>
      <td className="small">
        {isJsonType(entry.contentType) ? <span className="muted">{entry.contentType}</span> : entry.contentType}
      </td>
      <td className="num">{entry.revision}</td>
      <td className="small muted" title={entry.author}>
        {ago(entry.updatedAt)} · {whoOf(entry.author)}
      </td>
    </tr>
  );
}

export const entryPath = (ns: string, key: string): string => `${nsPath(ns)}/entries/${keySegment(key)}`;
