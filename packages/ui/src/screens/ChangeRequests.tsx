import { useState } from 'react';
import { EntryChange, Loading, Problem } from '../components/ui.js';
import { time, who as whoOf } from '../format.js';
import { usePoll } from '../hooks.js';
import { useSession } from '../session.js';
import type { ChangeRequest, ChangeRequestApproval } from '../types.js';

const crPath = (id: string, action = ''): string =>
  `/v1/change-requests/${encodeURIComponent(id)}${action ? `/${action}` : ''}`;

/**
 * Change requests: commits and releases of namespaces that require approval, waiting for it. The
 * list (open first), one request's diff against the revision it was made against, and approve,
 * reject and rebase; the server decides who may (never the author), and its refusal is shown.
 */
export function ChangeRequests() {
  const { api } = useSession();
  const [state, setState] = useState('open');
  const [selected, setSelected] = useState<string | null>(null);
  const list = usePoll(
    (signal) =>
      api.get<{ items: ChangeRequest[] }>(
        '/v1/change-requests',
        state ? { state, limit: 200 } : { limit: 200 },
        signal,
      ),
    5000,
    [api, state],
  );
  const items = list.data?.items ?? [];
  return (
    <div className="page">
      <div className="page-head">
        <h2>Change requests</h2>
        <select value={state} onChange={(e) => setState(e.target.value)} aria-label="Which change requests">
          <option value="open">open</option>
          <option value="stale">stale</option>
          <option value="applied">applied</option>
          <option value="rejected">rejected</option>
          <option value="">all</option>
        </select>
      </div>
      <Problem error={list.error} />
      {list.loading && !list.data ? <Loading /> : null}
      {list.data && items.length === 0 ? <p className="muted">No {state || ''} change requests.</p> : null}
      {items.length > 0 ? (
        <table className="table" data-testid="change-requests">
          <thead>
            <tr>
              <th>Id</th>
              <th>Namespace</th>
              <th>Kind</th>
              <th>State</th>
              <th>Approvals</th>
              <th>Author</th>
              <th>When</th>
              <th>Message</th>
            </tr>
          </thead>
          <tbody>
            {items.map((cr) => (
              <tr key={cr.id} className={cr.id === selected ? 'selected' : ''}>
                <td>
                  <button className="link" onClick={() => setSelected(cr.id === selected ? null : cr.id)}>
                    {cr.id}
                  </button>
                </td>
                <td>{cr.namespace}</td>
                <td>{cr.kind}</td>
                <td>{cr.current || cr.state !== 'open' ? cr.state : 'open (stale base)'}</td>
                <td className="num">
                  {cr.approvals.length}/{cr.required}
                </td>
                <td className="small" title={cr.author}>
                  {whoOf(cr.author)}
                </td>
                <td className="small">{time(cr.createdAt)}</td>
                <td className="small">{cr.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {selected ? <ChangeRequestDetail key={selected} id={selected} onChanged={() => list.refresh()} /> : null}
    </div>
  );
}

function ChangeRequestDetail({ id, onChanged }: { id: string; onChanged: () => void }) {
  const { api } = useSession();
  const detail = usePoll((signal) => api.get<ChangeRequest>(crPath(id), undefined, signal), 5000, [api, id]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState('');
  const act = async (action: 'approve' | 'reject' | 'rebase') => {
    setBusy(true);
    setError(null);
    try {
      const body = action === 'approve' ? (note ? { comment: note } : {}) : action === 'reject' ? { reason: note } : {};
      await api.post<ChangeRequest | ChangeRequestApproval>(crPath(id, action), body);
      setNote('');
      detail.refresh();
      onChanged();
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  const cr = detail.data;
  if (!cr) return detail.error ? <Problem error={detail.error} /> : <Loading />;
  const open = cr.state === 'open' || cr.state === 'stale';
  return (
    <div className="card" data-testid="change-request">
      <h3>
        {cr.id}: {cr.kind} of {cr.namespace} <span className="muted">({cr.state})</span>
      </h3>
      <p className="small">
        By {whoOf(cr.author)} at {time(cr.createdAt)}, against revision {cr.baseRevision}
        {cr.current ? '' : ' — the namespace has moved on since: rebase it before it can apply'}. {cr.approvals.length}/
        {cr.required} approvals
        {cr.approvals.length ? `: ${cr.approvals.map((a) => whoOf(a.by)).join(', ')}` : ''}.
        {cr.applied
          ? ` Applied by ${whoOf(cr.applied.by)}${cr.applied.revision === undefined ? '' : ` as revision ${cr.applied.revision}`}${cr.applied.releaseSeq === undefined ? '' : ` (release ${cr.applied.releaseSeq})`}.`
          : ''}
        {cr.rejected
          ? ` Rejected by ${whoOf(cr.rejected.by)}${cr.rejected.reason ? `: ${cr.rejected.reason}` : ''}.`
          : ''}
      </p>
      {cr.message ? <p>{cr.message}</p> : null}
      <div className="commit-diff" data-testid="change-request-diff">
        {(cr.changes ?? []).map((change, i) => (
          <EntryChange key={i} change={change} />
        ))}
        {cr.kind === 'release' ? (
          <p className="muted small">A release of the namespace at revision {cr.baseRevision}.</p>
        ) : null}
      </div>
      {cr.comments.map((c, i) => (
        <p key={i} className="small">
          <strong>{whoOf(c.by)}</strong> ({time(c.at)}): {c.text}
        </p>
      ))}
      {open ? (
        <div className="actions">
          <input
            className="filter wide"
            placeholder="Comment or reason (optional)"
            value={note}
            onChange={(e) => setNote(e.target.value)}
            aria-label="Comment or reason"
          />
          {cr.state === 'open' && cr.current ? (
            <button className="primary" disabled={busy} onClick={() => void act('approve')}>
              Approve
            </button>
          ) : null}
          {!cr.current ? (
            <button disabled={busy} onClick={() => void act('rebase')}>
              Rebase
            </button>
          ) : null}
          <button className="danger" disabled={busy} onClick={() => void act('reject')}>
            Reject
          </button>
        </div>
      ) : null}
      <Problem error={error} />
    </div>
  );
}
