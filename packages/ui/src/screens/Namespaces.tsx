import { useState, type FormEvent } from 'react';
import { ApiError, nsPath } from '../api.js';
import { allows, canManageSome, describeScopes } from '../access.js';
import { Bar, Loading, Problem, StateBadge } from '../components/ui.js';
import { shareOn } from '../fleet-samples.js';
import { ago, percent } from '../format.js';
import { usePoll } from '../hooks.js';
import { Link, navigate, nsRoute } from '../router.js';
import { useSession } from '../session.js';
import type { Fleet, Namespace, Release, RolloutStatus } from '../types.js';

interface Row {
  ns: Namespace;
  release: Release | null | undefined;
  rollout: RolloutStatus | null | undefined;
  fleet: Fleet | undefined;
  problems: string[];
}

const maxShown = 100;

export function Namespaces() {
  const { api, who } = useSession();
  const [filter, setFilter] = useState('');
  const list = usePoll(
    async () => {
      const { items, complete } = await api.all<Namespace>('/v1/namespaces', { limit: 200 }, 5);
      const rows = await Promise.all(
        items.slice(0, maxShown).map(async (ns): Promise<Row> => {
          const problems: string[] = [];
          const soft = async <T,>(load: () => Promise<T>): Promise<T | undefined> => {
            try {
              return await load();
            } catch (error) {
              if (error instanceof ApiError && error.status !== 404) problems.push(error.detail);
              return undefined;
            }
          };
          const [releases, rollout, fleet] = await Promise.all([
            soft(() => api.get<{ items: Release[] }>(`${nsPath(ns.name)}/releases`, { limit: 1 })),
            soft(() => api.get<{ rollout: RolloutStatus | null }>(`${nsPath(ns.name)}/rollout`)),
            soft(() => api.get<Fleet>(`/v1/fleet/${encodeURIComponent(ns.name)}`)),
          ]);
          return {
            ns,
            release: releases ? (releases.items[0] ?? null) : undefined,
            rollout: rollout?.rollout,
            fleet,
            problems,
          };
        }),
      );
      return { rows, complete, total: items.length };
    },
    5000,
    [api],
  );
  const rows = (list.data?.rows ?? []).filter((r) => r.ns.name.includes(filter.trim()));
  return (
    <div className="page">
      <div className="page-head">
        <h2>Namespaces</h2>
        <input
          className="filter"
          placeholder="Filter by name"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
          aria-label="Filter namespaces"
        />
      </div>
      <Problem error={list.error} />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && list.data.total === 0 ? (
        <p className="muted">No namespace is visible to your token ({describeScopes(who.scopes)}).</p>
      ) : null}
      {rows.length > 0 ? (
        <table className="table" data-testid="namespaces">
          <thead>
            <tr>
              <th>Namespace</th>
              <th className="num">Entries</th>
              <th className="num">Revision</th>
              <th>Current release</th>
              <th>Rollout</th>
              <th>Fleet on current release</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <NamespaceRow key={row.ns.name} row={row} />
            ))}
          </tbody>
        </table>
      ) : null}
      {list.data && list.data.total > maxShown ? (
        <p className="muted">
          Showing {maxShown} of {list.data.total}; filter to narrow down.
        </p>
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

function NamespaceRow({ row }: { row: Row }) {
  const { ns, release, rollout, fleet } = row;
  const share = fleet && release ? shareOn(fleet, release.seq) : undefined;
  const rejected = fleet?.instances.filter((i) => i.status === 'rejected').length ?? 0;
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
        {row.problems.length > 0 ? (
          <div className="muted small" title={row.problems.join('\n')}>
            some details hidden: {row.problems[0]}
          </div>
        ) : null}
      </td>
      <td className="num">{ns.entryCount}</td>
      <td className="num">{ns.revision}</td>
      <td>
        {release === undefined ? (
          <span className="muted">—</span>
        ) : release === null ? (
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
            <StateBadge state={rollout.state} />{' '}
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
        {share && share.total > 0 ? (
          <div className="convergence">
            <Bar
              total={share.total}
              title={`${share.on} of ${share.total} instances on #${release?.seq ?? ''}`}
              parts={[
                { value: share.on, className: 'applied', label: 'on current' },
                { value: rejected, className: 'rejected', label: 'rejected' },
              ]}
            />
            <span className="small">
              {percent(share.ratio)} of {share.total}
            </span>
          </div>
        ) : (
          <span className="muted small">{fleet ? 'no instances reporting' : '—'}</span>
        )}
      </td>
    </tr>
  );
}

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
      <label className="field">
        JSON Schema (optional: a plain schema is the document schema, or {'{document, prefixes: [{prefix, schema}]}'})
        <textarea
          rows={4}
          className="code"
          value={schema}
          onChange={(e) => setSchema(e.target.value)}
          aria-label="Schema"
          spellCheck={false}
        />
      </label>
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
