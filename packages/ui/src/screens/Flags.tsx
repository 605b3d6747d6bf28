import { useEffect, useMemo, useState } from 'react';
import '../flags.css';
import { ApiError, keySegment, nsPath } from '../api.js';
import { allows, notAllowed } from '../access.js';
import { Confirm, Loading, Problem, StateBadge, TextDiff } from '../components/ui.js';
import { evaluatorsKey, flagContentType, isFlagContentType, type Evaluators } from '../flag-check.js';
import { ago, labelName, valueText } from '../format.js';
import { usePoll } from '../hooks.js';
import { Link, nsRoute } from '../router.js';
import { useSession } from '../session.js';
import type { Entry, RolloutStateName } from '../types.js';
import { FlagEditor } from './FlagEditor.js';

// By hand until the route is in /openapi.json (then `npm run gen:ui-types` and an alias in types.ts):
// GET /v1/namespaces/{ns}/flags[?label=L], the flags' state, rollout and evaluation counts.
export interface FlagSummary {
  key: string;
  kind: 'flagd' | 'azure';
  state: 'ENABLED' | 'DISABLED';
  variants: Record<string, unknown>;
  defaultVariant: string;
  hasTargeting: boolean;
  revision: number;
  rollout: null | {
    seq: number;
    state: RolloutStateName;
    wave: string | number | null;
    stable: { state: 'ENABLED' | 'DISABLED'; defaultVariant: string };
  };
  evaluations: { hour: Record<string, number>; day: Record<string, number> };
  lastEvaluatedAt: string | null;
  stale: boolean;
}

export interface FlagsSummary {
  namespace: string;
  label: string;
  flags: FlagSummary[];
  staleAfterDays: number;
}

interface Definition {
  state?: unknown;
  variants?: Record<string, unknown>;
  defaultVariant?: unknown;
  targeting?: unknown;
}

const anyLabel = '\u0000any';
const rowKey = (key: string, label: string): string => `${key}\u0000${label}`;
const definitionOf = (entry: Entry): Definition =>
  typeof entry.value === 'object' && entry.value !== null ? entry.value : {};

/**
 * A namespace's flags (entries of the flag content type): state with a toggle that shows its diff
 * before saving, variants, and, when the server has the flags summary, where each flag is in a
 * rollout and how often it was evaluated. A row opens the targeting editor.
 */
export function Flags({ ns, onChanged }: { ns: string; onChanged: () => void }) {
  const { api, who } = useSession();
  const [label, setLabel] = useState(anyLabel);
  const [selected, setSelected] = useState<{ key: string; label: string } | 'new' | null>(null);
  const [toggling, setToggling] = useState<Entry | null>(null);
  // The editor is keyed by flag, so a new flag's editor is replaced on save: the notice carries over.
  const [justSaved, setJustSaved] = useState<Entry | null>(null);
  const flags = usePoll(
    async () => {
      const all = await api.all<Entry>(`${nsPath(ns)}/entries`, { limit: 1000 });
      // The shared evaluators per label, for the editor's `$ref` checks (unknown when the list is cut short).
      const evaluators = new Map<string, Evaluators>();
      for (const e of all.items)
        if (e.key === evaluatorsKey && !e.redacted && typeof e.value === 'object' && e.value !== null)
          evaluators.set(e.label, e.value as Evaluators);
      return {
        items: all.items.filter((e) => isFlagContentType(e.contentType)),
        complete: all.complete,
        evaluators: all.complete ? evaluators : null,
      };
    },
    5000,
    [api, ns],
  );
  const items = useMemo(
    () => (flags.data?.items ?? []).filter((e) => label === anyLabel || e.label === label),
    [flags.data, label],
  );
  const labels = useMemo(() => [...new Set((flags.data?.items ?? []).map((e) => e.label))].sort(), [flags.data]);
  const labelsKey = labels.join('\u0000');
  // The summary route may not be there (an older server): a 404 hides its columns, and it is not
  // asked again every few seconds (each refusal is a line in the server's log).
  const [noSummary, setNoSummary] = useState(false);
  const summary = usePoll(
    async (signal) => {
      const byRow = new Map<string, FlagSummary>();
      let staleAfterDays = 0;
      for (const l of labels.length > 0 ? labels : ['']) {
        try {
          const answer = await api.get<FlagsSummary>(`${nsPath(ns)}/flags`, l ? { label: l } : undefined, signal);
          staleAfterDays = answer.staleAfterDays;
          for (const flag of answer.flags) byRow.set(rowKey(flag.key, l), flag);
        } catch (error) {
          if (error instanceof ApiError && error.status === 404 && error.code !== 'namespace_not_found') {
            setNoSummary(true);
            return null;
          }
          throw error;
        }
      }
      return { byRow, staleAfterDays };
    },
    noSummary ? null : 5000,
    [api, ns, labelsKey],
  );
  const counts = summary.data ?? null;
  const canWrite = allows(who.scopes, 'write', ns);
  const refresh = () => {
    flags.refresh();
    summary.refresh();
    onChanged();
  };

  return (
    <div className="flags" data-testid="flags-screen">
      <div className="toolbar">
        <label className="field inline">
          Label
          <select value={label} onChange={(e) => setLabel(e.target.value)} aria-label="Label">
            <option value={anyLabel}>any label</option>
            {labels.map((l) => (
              <option key={l} value={l}>
                {labelName(l)}
              </option>
            ))}
          </select>
        </label>
        <div className="spacer" />
        {canWrite ? (
          <button
            className="primary"
            onClick={() => {
              setJustSaved(null);
              setSelected('new');
            }}
          >
            New flag
          </button>
        ) : (
          <span className="muted small">{notAllowed(who.scopes, 'write', ns)}</span>
        )}
      </div>
      <Problem error={flags.error} />
      <Problem error={summary.error} title="Evaluation counts unavailable" />
      {flags.loading && !flags.data ? <Loading what="Loading the flags" /> : null}
      <div className="split flags-split">
        <div className="split-main">
          {flags.data && items.length === 0 ? (
            <p className="muted">
              No flags yet: a flag is an entry of content type <code>{flagContentType}</code> (see docs/flags.md).
            </p>
          ) : null}
          {flags.data && !flags.data.complete ? (
            <div className="notice">Only the first entries of this namespace were read; some flags may be missing.</div>
          ) : null}
          {items.length > 0 ? (
            <div className="table-scroll">
              <table className="table flags-table" data-testid="flags">
                <thead>
                  <tr>
                    <th>Flag</th>
                    <th>State</th>
                    <th>Variants</th>
                    {counts ? <th>Rollout</th> : null}
                    {counts ? <th className="num">Evaluations 1 h / 1 d</th> : null}
                    {counts ? <th>Last evaluated</th> : null}
                  </tr>
                </thead>
                <tbody>
                  {items.map((entry) => (
                    <FlagRow
                      key={rowKey(entry.key, entry.label)}
                      ns={ns}
                      entry={entry}
                      summary={counts ? counts.byRow.get(rowKey(entry.key, entry.label)) : undefined}
                      showCounts={counts !== null}
                      staleAfterDays={counts?.staleAfterDays ?? 0}
                      canWrite={canWrite}
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
                      onToggle={() => setToggling(entry)}
                    />
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
        </div>
        {selected ? (
          <div className="split-side">
            <FlagEditor
              key={selected === 'new' ? 'new' : rowKey(selected.key, selected.label)}
              ns={ns}
              target={selected === 'new' ? null : selected}
              justSaved={justSaved}
              evaluators={flags.data?.evaluators ?? null}
              onClose={() => setSelected(null)}
              onSaved={(entry) => {
                setJustSaved(entry);
                setSelected({ key: entry.key, label: entry.label });
                refresh();
              }}
            />
          </div>
        ) : null}
      </div>
      {toggling ? <ToggleReview ns={ns} entry={toggling} onClose={() => setToggling(null)} onSaved={refresh} /> : null}
    </div>
  );
}

function FlagRow(props: {
  ns: string;
  entry: Entry;
  summary: FlagSummary | undefined;
  showCounts: boolean;
  staleAfterDays: number;
  canWrite: boolean;
  selected: boolean;
  onSelect: () => void;
  onToggle: () => void;
}) {
  const { entry, summary } = props;
  const definition = definitionOf(entry);
  const enabled = definition.state === 'ENABLED';
  const variants = Object.entries(definition.variants ?? {});
  return (
    <tr
      className={props.selected ? 'selected clickable' : 'clickable'}
      onClick={props.onSelect}
      data-testid={`flag-${entry.key}`}
    >
      <td>
        <button className="link key" onClick={props.onSelect}>
          {entry.key}
        </button>
        {entry.label ? <span className="label-chip flag-label">{entry.label}</span> : null}
        {definition.targeting !== undefined && Object.keys(definition.targeting as object).length > 0 ? (
          <span className="chip" title="has a targeting rule (JSON Logic)">
            targeted
          </span>
        ) : null}
        {entry.locked ? <span className="chip chip-locked">locked</span> : null}
      </td>
      <td>
        <span className="flag-state">
          <span className={`flag-badge ${enabled ? 'flag-on' : 'flag-off'}`} data-testid="flag-state">
            {enabled ? 'enabled' : 'disabled'}
          </span>
          {props.canWrite && !entry.locked && !entry.redacted ? (
            <button
              className="small-button flag-toggle"
              aria-label={`${enabled ? 'Disable' : 'Enable'} ${entry.key}`}
              onClick={(event) => {
                event.stopPropagation();
                props.onToggle();
              }}
            >
              {enabled ? 'Disable' : 'Enable'}
            </button>
          ) : null}
        </span>
      </td>
      <td className="flag-variants" data-label="Variants">
        {variants.map(([name, value]) => (
          <span
            key={name}
            className={`variant ${name === definition.defaultVariant ? 'variant-default' : ''}`}
            title={name === definition.defaultVariant ? 'the default variant' : undefined}
          >
            <code>{name}</code>
            <span className="muted"> = </span>
            <code className="muted">{JSON.stringify(value)}</code>
            {name === definition.defaultVariant ? <span className="muted small"> (default)</span> : null}
          </span>
        ))}
      </td>
      {props.showCounts ? (
        <>
          <td data-label="Rollout">
            <RolloutCell ns={props.ns} summary={summary} />
          </td>
          <td className="num" data-testid="flag-evaluations" data-label="Evaluations 1 h / 1 d">
            {summary ? (
              <span title={breakdown(summary.evaluations)}>
                {total(summary.evaluations.hour)} / {total(summary.evaluations.day)}
              </span>
            ) : (
              <span className="muted">–</span>
            )}
          </td>
          <td className="small" data-label="Last evaluated">
            {summary?.lastEvaluatedAt ? ago(summary.lastEvaluatedAt) : <span className="muted">never</span>}
            {summary?.stale ? (
              <span className="chip chip-stale" title={`not evaluated for ${props.staleAfterDays} days`}>
                stale
              </span>
            ) : null}
          </td>
        </>
      ) : null}
    </tr>
  );
}

function RolloutCell({ ns, summary }: { ns: string; summary: FlagSummary | undefined }) {
  if (!summary?.rollout) return <span className="muted small">live everywhere</span>;
  const { rollout } = summary;
  return (
    <span className="small">
      <Link to={nsRoute(ns, 'rollout')} onClick={(event) => event.stopPropagation()}>
        <StateBadge state={rollout.state} />
      </Link>{' '}
      #{rollout.seq}
      {rollout.wave !== null ? ` · wave ${rollout.wave}` : ''}
      <span className="muted"> · stable: {rollout.stable.state.toLowerCase()}</span>
    </span>
  );
}

const total = (counts: Record<string, number>): number => Object.values(counts).reduce((sum, n) => sum + n, 0);

function breakdown(evaluations: FlagSummary['evaluations']): string {
  const line = (counts: Record<string, number>) =>
    Object.entries(counts)
      .map(([variant, n]) => `${variant} ${n}`)
      .join(', ') || 'none';
  return `last hour: ${line(evaluations.hour)}\nlast day: ${line(evaluations.day)}`;
}

/**
 * Enable or disable: the definition read fresh (the list may be seconds old), its diff, then one
 * ordinary commit guarded by that read's ETag, so a change made meanwhile is refused, not lost.
 */
function ToggleReview({
  ns,
  entry,
  onClose,
  onSaved,
}: {
  ns: string;
  entry: Entry;
  onClose: () => void;
  onSaved: () => void;
}) {
  const { api } = useSession();
  const enabling = definitionOf(entry).state !== 'ENABLED';
  const target = enabling ? 'ENABLED' : 'DISABLED';
  const url = `${nsPath(ns)}/entries/${keySegment(entry.key)}`;
  const [live, setLive] = useState<Entry | undefined>(undefined);
  const [loadError, setLoadError] = useState<unknown>(undefined);
  useEffect(() => {
    let cancelled = false;
    api.get<Entry>(url, { label: entry.label }).then(
      (fresh) => !cancelled && setLive(fresh),
      (error: unknown) => !cancelled && setLoadError(error),
    );
    return () => {
      cancelled = true;
    };
  }, [api, url, entry.label]);
  const next = live ? { ...definitionOf(live), state: target } : undefined;
  const already = live !== undefined && definitionOf(live).state === target;
  return (
    <Confirm
      title={`${enabling ? 'Enable' : 'Disable'} ${entry.key}?`}
      confirmLabel={enabling ? 'Save: enable' : 'Save: disable'}
      danger={!enabling}
      withReason
      reasonLabel="Commit message"
      busyLabel="Saving"
      disabled={live === undefined || already}
      onClose={onClose}
      onConfirm={async (reason) => {
        if (!live) return;
        const body: Record<string, unknown> = { value: next, contentType: live.contentType, tags: live.tags };
        if (live.secret) body.secret = true;
        if (reason.trim()) body.message = reason.trim();
        await api.put<Entry>(url, body, { 'if-match': `"${live.etag}"` }, { label: live.label });
        onSaved();
      }}
    >
      <Problem error={loadError} />
      {live ? (
        <>
          <p className="small">
            {labelName(live.label)} · revision {live.revision}. One commit, like any edit: instances get it with the
            namespace&apos;s next release (in waves under a staged policy).
          </p>
          {already ? (
            <div className="notice">Someone has saved this already: the flag is {target.toLowerCase()}.</div>
          ) : (
            <TextDiff
              before={valueText(live.value, flagContentType)}
              after={valueText(next, flagContentType)}
              testId="toggle-diff"
            />
          )}
        </>
      ) : loadError ? null : (
        <Loading what="Reading the flag" />
      )}
    </Confirm>
  );
}
