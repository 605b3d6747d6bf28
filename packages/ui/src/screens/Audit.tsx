import { useMemo, useState } from 'react';
import { isSystemAdmin, describeScopes } from '../access.js';
import { Loading, Problem } from '../components/ui.js';
import { time, who as whoOf } from '../format.js';
import { usePoll } from '../hooks.js';
import { useSession } from '../session.js';
import type { AuditRecord, AuditVerify } from '../types.js';

const pageSize = 1000;

/** The hash-chained audit log (admin of `*`): pages of GET /v1/audit, searched in the browser, and the chain check. */
export function Audit() {
  const { api, who } = useSession();
  const [query, setQuery] = useState('');
  const [pages, setPages] = useState(10);
  const verify = usePoll((signal) => api.get<AuditVerify>('/v1/audit/verify', undefined, signal), 15000, [api]);
  const log = usePoll(() => api.all<AuditRecord>('/v1/audit', { limit: pageSize }, pages), 15000, [api, pages]);
  const records = useMemo(() => [...(log.data?.items ?? [])].reverse(), [log.data]);
  const terms = query.toLowerCase().split(/\s+/u).filter(Boolean);
  const shown = useMemo(
    () =>
      terms.length === 0
        ? records
        : records.filter((r) => {
            const text = `${r.seq} ${r.actor} ${r.action} ${r.target} ${JSON.stringify(r.details)}`.toLowerCase();
            return terms.every((t) => text.includes(t));
          }),
    [records, terms.join(' ')],
  );
  return (
    <div className="page">
      <div className="page-head">
        <h2>Audit log</h2>
        <input
          className="filter wide"
          placeholder="Search actor, action, target, details"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          aria-label="Search the audit log"
        />
      </div>
      {!isSystemAdmin(who.scopes) ? (
        <div className="notice">
          The audit log is for administrators of every namespace (admin of *); your token has{' '}
          {describeScopes(who.scopes)}.
        </div>
      ) : null}
      {verify.data ? (
        <div className={verify.data.ok ? 'success chain' : 'problem chain'} data-testid="chain" role="status">
          {verify.data.ok ? (
            <>
              <strong>Chain intact</strong>: {verify.data.count} records verified; head{' '}
              <code>{verify.data.head.slice(0, 16)}…</code>
            </>
          ) : (
            <>
              <strong>Chain broken</strong> at record {verify.data.firstBad?.seq}: {verify.data.firstBad?.reason} (
              {verify.data.count} records)
            </>
          )}
        </div>
      ) : null}
      <Problem error={verify.error ?? log.error} />
      {log.loading && !log.data ? <Loading /> : null}
      {log.data ? (
        <p className="muted small">
          {shown.length} of {records.length} records{terms.length ? ' match' : ''}, newest first.
          {!log.data.complete ? (
            <>
              {' '}
              Older records beyond these pages:{' '}
              <button className="link" onClick={() => setPages((p) => p + 10)}>
                load more
              </button>
            </>
          ) : null}
        </p>
      ) : null}
      {shown.length > 0 ? (
        <div className="table-wrap">
          <table className="table audit" data-testid="audit">
            <thead>
              <tr>
                <th className="num">#</th>
                <th>When</th>
                <th>Actor</th>
                <th>Action</th>
                <th>Target</th>
                <th>Details</th>
              </tr>
            </thead>
            <tbody>
              {shown.slice(0, 500).map((r) => (
                <tr key={r.seq}>
                  <td className="num">{r.seq}</td>
                  <td className="small">{time(r.at)}</td>
                  <td className="small" title={r.actor}>
                    {whoOf(r.actor)}
                  </td>
                  <td>
                    <code>{r.action}</code>
                  </td>
                  <td className="small">{r.target}</td>
                  <td className="small details" title={JSON.stringify(r.details, null, 2)}>
                    {JSON.stringify(r.details)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {shown.length > 500 ? <p className="muted small">The newest 500 matches are shown; refine the search.</p> : null}
    </div>
  );
}
