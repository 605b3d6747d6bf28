import { useState } from 'react';
import { nsPath } from '../api.js';
import { allows, notAllowed } from '../access.js';
import { Confirm, EntryChange, Loading, Problem } from '../components/ui.js';
import { ago, labelName, time, who as whoOf } from '../format.js';
import { usePoll } from '../hooks.js';
import { useSession } from '../session.js';
import type { Commit, DiffResult } from '../types.js';

/** The namespace's commits, newest first, each with its diff; revert one or restore to it, after a preview (dryRun). */
export function History({ ns, onChanged }: { ns: string; onChanged: () => void }) {
  const { api, who } = useSession();
  const [limit, setLimit] = useState(50);
  const [open, setOpen] = useState<Set<number>>(new Set());
  const [revert, setRevert] = useState<Commit | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const history = usePoll(
    (signal) => api.get<{ items: Commit[]; next?: string | null }>(`${nsPath(ns)}/history`, { limit }, signal),
    5000,
    [api, ns, limit],
  );
  const canWrite = allows(who.scopes, 'write', ns);
  const items = history.data?.items ?? [];
  return (
    <div className="history">
      <Problem error={history.error} />
      {history.loading && !history.data ? <Loading /> : null}
      {done ? (
        <div className="success" role="status" data-testid="reverted">
          {done}
        </div>
      ) : null}
      {!canWrite ? (
        <p className="muted small">{notAllowed(who.scopes, 'write', ns)} Reverting is not offered.</p>
      ) : null}
      {history.data && items.length === 0 ? <p className="muted">No commits yet.</p> : null}
      <ol className="timeline" data-testid="history">
        {items.map((commit) => (
          <li key={commit.revision} className="commit" data-testid={`commit-${commit.revision}`}>
            <div className="commit-head">
              <span className="rev">r{commit.revision}</span>
              <span className="commit-message">{commit.message || <span className="muted">(no message)</span>}</span>
              <span className="muted small" title={time(commit.at)}>
                {whoOf(commit.author)} · {ago(commit.at)}
              </span>
              <div className="spacer" />
              <button
                className="small-button"
                onClick={() =>
                  setOpen((old) => {
                    const next = new Set(old);
                    if (next.has(commit.revision)) next.delete(commit.revision);
                    else next.add(commit.revision);
                    return next;
                  })
                }
              >
                {open.has(commit.revision) ? 'Hide diff' : 'Show diff'}
              </button>
              {canWrite ? (
                <button className="small-button" onClick={() => setRevert(commit)}>
                  Revert…
                </button>
              ) : null}
            </div>
            <div className="commit-changes small">
              {commit.changes.map((c, i) => (
                <span key={i} className="change-chip">
                  {c.op} <code>{c.key}</code>
                  {c.label ? ` [${labelName(c.label)}]` : ''}
                </span>
              ))}
            </div>
            {open.has(commit.revision) ? <CommitDiff ns={ns} revision={commit.revision} /> : null}
          </li>
        ))}
      </ol>
      {history.data?.next ? (
        <button className="link" onClick={() => setLimit((l) => l + 50)}>
          Older commits
        </button>
      ) : null}
      {revert ? (
        <RevertDialog
          ns={ns}
          commit={revert}
          onClose={() => setRevert(null)}
          onReverted={(text) => {
            setDone(text);
            history.refresh();
            onChanged();
          }}
        />
      ) : null}
    </div>
  );
}

function CommitDiff({ ns, revision }: { ns: string; revision: number }) {
  const { api } = useSession();
  const diff = usePoll(
    (signal) => api.get<DiffResult>(`${nsPath(ns)}/diff`, { from: revision - 1, to: revision }, signal),
    null,
    [api, ns, revision],
  );
  if (diff.error) return <Problem error={diff.error} />;
  if (!diff.data) return <Loading what="Loading the diff" />;
  if (diff.data.changes.length === 0) return <p className="muted small">No change to values (locks only).</p>;
  return (
    <div className="commit-diff" data-testid={`diff-${revision}`}>
      {diff.data.changes.map((change, i) => (
        <EntryChange key={i} change={change} />
      ))}
    </div>
  );
}

/**
 * Two ways to undo, named for what they do: revert one commit (its inverse; later commits stay;
 * the server refuses when a later commit changed the same entries), or restore the namespace to a
 * revision (every later commit there is undone). Each shows its dry-run diff before it is made.
 */
function RevertDialog({
  ns,
  commit,
  onClose,
  onReverted,
}: {
  ns: string;
  commit: Commit;
  onClose: () => void;
  onReverted: (text: string) => void;
}) {
  const { api } = useSession();
  const [mode, setMode] = useState<'commit' | 'before' | 'at'>('commit');
  const target = mode === 'at' ? commit.revision : commit.revision - 1;
  const call = (extra: Record<string, unknown>) =>
    mode === 'commit'
      ? api.post<DiffResult>(`${nsPath(ns)}/commits/${commit.revision}/revert`, extra)
      : api.post<DiffResult>(`${nsPath(ns)}/restore`, { revision: target, ...extra });
  const preview = usePoll(() => call({ dryRun: true }), null, [api, ns, target, mode]);
  const changes = preview.data?.changes ?? [];
  const verb = mode === 'commit' ? 'Revert' : 'Restore';
  return (
    <Confirm
      title={mode === 'commit' ? `Revert r${commit.revision} in ${ns}` : `Restore ${ns} to r${target}`}
      confirmLabel={verb}
      danger
      withReason
      reasonLabel="Commit message"
      busyLabel={mode === 'commit' ? 'Reverting' : 'Restoring'}
      disabled={!preview.data || changes.length === 0}
      onClose={onClose}
      onConfirm={async (reason) => {
        const result = await call(
          reason
            ? { message: reason }
            : mode === 'commit'
              ? {}
              : { message: `restore to r${target} (undo r${commit.revision}${mode === 'before' ? ' and later' : ''})` },
        );
        onReverted(
          mode === 'commit'
            ? `Reverted r${commit.revision} as revision ${String(result.revision)} (${result.changes.length} change(s)).`
            : `Restored to r${target} as revision ${String(result.revision)} (${result.changes.length} change(s)).`,
        );
      }}
    >
      <div className="radio-row">
        <label>
          <input type="radio" checked={mode === 'commit'} onChange={() => setMode('commit')} /> Revert r
          {commit.revision} only: undo its changes, keep every later commit
        </label>
        <label>
          <input type="radio" checked={mode === 'before'} onChange={() => setMode('before')} /> Restore to r
          {commit.revision - 1}: undo r{commit.revision} and every later commit
        </label>
        <label>
          <input type="radio" checked={mode === 'at'} onChange={() => setMode('at')} /> Restore to r{commit.revision}:
          undo what came after it
        </label>
      </div>
      <p className="small muted">
        {mode === 'commit'
          ? `The inverse of r${commit.revision}'s changes, as a new commit. Preview (dry run):`
          : `The namespace becomes as it was at r${target}, as a new commit. Preview (dry run):`}
      </p>
      <Problem error={preview.error} />
      {!preview.data && !preview.error ? <Loading what="Computing the diff" /> : null}
      {preview.data && changes.length === 0 ? (
        <p className="muted">
          {mode === 'commit'
            ? `Nothing to revert: r${commit.revision}'s changes are no longer there.`
            : `Nothing to restore: the namespace is already as it was at r${target}.`}
        </p>
      ) : null}
      <div className="revert-preview" data-testid="revert-preview">
        {changes.map((change, i) => (
          <EntryChange key={i} change={change} />
        ))}
      </div>
    </Confirm>
  );
}
