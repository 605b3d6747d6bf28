import { memo, useMemo, useState, type FormEvent } from 'react';
import { allows, canManageSome, describeScopes } from '../access.js';
import { Bar, Loading, Problem, StateBadge } from '../components/ui.js';
import { ago, percent } from '../format.js';
import { usePoll } from '../hooks.js';
import { Link, navigate, nsRoute } from '../router.js';
import { CodeEditor } from '../components/LazyCodeEditor.js';
import { ApiError } from '../api.js';
import { useSession } from '../session.js';
import type { NamespaceSummary, RolloutStateName } from '../types.js';

type SortKey = 'name' | 'entries' | 'revision' | 'release' | 'fleet';

const sorters: Record<SortKey, (a: NamespaceSummary, b: NamespaceSummary) => number> = {
  name: (a, b) => a.namespace.name.localeCompare(b.namespace.name),
  entries: (a, b) => a.namespace.entryCount - b.namespace.entryCount,
  revision: (a, b) => a.namespace.revision - b.namespace.revision,
  release: (a, b) => Date.parse(a.release?.createdAt ?? '0') - Date.parse(b.release?.createdAt ?? '0'),
  fleet: (a, b) => shareOf(a) - shareOf(b),
};

const shareOf = (row: NamespaceSummary): number =>
  row.fleet && row.fleet.total > 0 ? row.fleet.onNewest / row.fleet.total : -1;

/**
 * Every namespace the token can see, from one request (GET /v1/console/namespaces, every 5 s),
 * filtered and sorted in the browser: hundreds of namespaces cost one answer, not three each.
 */
export function Namespaces() {
  const { api, who } = useSession();
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState<{ key: SortKey; descending: boolean }>({ key: 'name', descending: false });
  const list = usePoll(
    (signal) => api.all<NamespaceSummary>('/v1/console/namespaces', { limit: 1000 }, 5, signal),
    5000,
    [api],
  );
  const all = list.data?.items;
  const rows = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    const matching = (all ?? []).filter(
      (r) =>
        !needle ||
        r.namespace.name.toLowerCase().includes(needle) ||
        r.namespace.description.toLowerCase().includes(needle),
    );
    const order = sorters[sort.key];
    return matching.sort((a, b) => (sort.descending ? -order(a, b) : order(a, b)) || sorters.name(a, b));
  }, [all, filter, sort]);
  const header = (key: SortKey, label: string, numeric = false) => (
    <th
      className={numeric ? 'num' : undefined}
      aria-sort={sort.key === key ? (sort.descending ? 'descending' : 'ascending') : 'none'}
    >
      <button
        className="link sort"
        onClick={() => setSort((old) => ({ key, descending: old.key === key ? !old.descending : false }))}
      >
        {label}
        {sort.key === key ? (sort.descending ? ' ▾' : ' ▴') : ''}
      </button>
    </th>
  );
  return (
    <div className="page">
      <div className="page-head">
        <h2>Namespaces</h2>
        <input
          className="filter"
          placeholder="Filter by name or description"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
          aria-label="Filter namespaces"
        />
        {all ? (
          <span className="muted small" data-testid="ns-count">
            {rows.length === all.length ? `${all.length} namespaces` : `${rows.length} of ${all.length}`}
          </span>
        ) : null}
      </div>
      <Problem error={list.error} />
      {list.loading && !list.data ? <Loading /> : null}
      {all && all.length === 0 ? (
        <p className="muted">No namespace is visible to your token ({describeScopes(who.scopes)}).</p>
      ) : null}
      {rows.length > 0 ? (
        <div className="table-wrap">
          <table className="table ns-table" data-testid="namespaces">
            <thead>
              <tr>
                {header('name', 'Namespace')}
                {header('entries', 'Entries', true)}
                {header('revision', 'Revision', true)}
                {header('release', 'Current release')}
                <th>Rollout</th>
                {header('fleet', 'Fleet on current release')}
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <NamespaceRow key={row.namespace.name} row={row} />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {list.data && !list.data.complete ? (
        <p className="muted small">More namespaces than one page of the listing holds; the first ones are shown.</p>
      ) : null}
      {canManageSome(who.scopes) ? (
        <CreateNamespace onCreated={list.refresh} />
      ) : (
        <p className="muted small">
          Creating namespaces needs an admin scope; your token has {describeScopes(who.scopes)}.
        </p>
      )}
    </div>
  );
}

const NamespaceRow = memo(function NamespaceRow({ row }: { row: NamespaceSummary }) {
  const { namespace: ns, release, rollout, fleet } = row;
  return (
    <tr data-testid={`ns-row-${ns.name}`}>
      <td>
        <Link to={nsRoute(ns.name)} className="ns-link">
          {ns.name}
        </Link>
        {ns.hasSchema ? (
          <span className="chip" title="has a JSON Schema">
            schema
          </span>
        ) : null}
        {ns.description ? <div className="muted small">{ns.description}</div> : null}
        {row.hidden.length > 0 ? (
          <div className="muted small" title={row.hidden.join('\n')}>
            some details hidden: {row.hidden[0]}
          </div>
        ) : null}
      </td>
      <td className="num">{ns.entryCount}</td>
      <td className="num">{ns.revision}</td>
      <td>
        {release === null ? (
          <span className="muted">none yet</span>
        ) : (
          <span>
            <strong>#{release.seq}</strong>{' '}
            <span className="muted small">
              r{release.revision} · {release.kind} · {ago(release.createdAt)}
            </span>
          </span>
        )}
      </td>
      <td>
        {rollout ? (
          <span>
            <StateBadge state={rollout.state as RolloutStateName} />{' '}
            <span className="small muted">
              #{rollout.fromSeq}→#{rollout.toSeq}
              {rollout.waveName ? ` · ${rollout.waveName}` : ''}
            </span>
          </span>
        ) : (
          <span className="muted small">none</span>
        )}
      </td>
      <td>
        {fleet && fleet.total > 0 ? (
          <div className="convergence">
            <Bar
              total={fleet.total}
              title={`${fleet.onNewest} of ${fleet.total} instances on #${release?.seq ?? ''}`}
              parts={[
                { value: fleet.onNewest, className: 'applied', label: 'on current' },
                { value: fleet.rejected, className: 'rejected', label: 'rejected' },
              ]}
            />
            <span className="small">
              {percent(fleet.onNewest / fleet.total)} of {fleet.total}
            </span>
          </div>
        ) : (
          <span className="muted small">{fleet ? 'no instances reporting' : '—'}</span>
        )}
      </td>
    </tr>
  );
});

function CreateNamespace({ onCreated }: { onCreated: () => void }) {
  const { api, who } = useSession();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [schema, setSchema] = useState('');
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  let schemaError: string | null = null;
  let parsedSchema: unknown;
  if (schema.trim()) {
    try {
      const parsed = JSON.parse(schema) as unknown;
      // As the CLI does: a plain schema is the document schema.
      const shaped =
        typeof parsed === 'object' &&
        parsed !== null &&
        !Array.isArray(parsed) &&
        ('document' in parsed || 'prefixes' in parsed);
      parsedSchema = shaped ? parsed : { document: parsed };
    } catch (e) {
      schemaError = `Schema is not valid JSON: ${(e as Error).message}`;
    }
  }
  const allowed = name === '' || allows(who.scopes, 'manage', name);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api.post(`/v1/namespaces`, {
        name,
        ...(description ? { description } : {}),
        ...(parsedSchema !== undefined ? { schema: parsedSchema } : {}),
      });
      onCreated();
      navigate(nsRoute(name));
    } catch (caught) {
      setError(caught);
      setBusy(false);
    }
  };
  return (
    <form className="card create-ns" onSubmit={(e) => void submit(e)}>
      <h3>Create a namespace</h3>
      <div className="row">
        <label className="field">
          Name
          <input
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder="payments"
            pattern="[a-z0-9._\-]{1,64}"
            aria-label="Namespace name"
          />
        </label>
        <label className="field grow">
          Description
          <input value={description} onChange={(e) => setDescription(e.target.value)} aria-label="Description" />
        </label>
      </div>
      <div className="field">
        JSON Schema (optional: a plain schema is the document schema, or {'{document, prefixes: [{prefix, schema}]}'})
        <CodeEditor
          value={schema}
          onChange={setSchema}
          language="json"
          ariaLabel="Schema"
          diagnostics={error instanceof ApiError ? error.violations : []}
        />
      </div>
      {schemaError ? <div className="problem">{schemaError}</div> : null}
      {!allowed ? (
        <div className="problem problem-forbidden">
          Your token may not create "{name}" ({describeScopes(who.scopes)}).
        </div>
      ) : null}
      <Problem error={error} />
      <button type="submit" className="primary" disabled={busy || name === '' || schemaError !== null}>
        Create namespace
      </button>
    </form>
  );
}
