// Convergence as operators read it: for the newest release (and the one in rollout, when that is
// another), the share of the fleet on it against time since it was made, with the rollout's wave
// boundaries marked; older releases are drawn faded, or folded away. The legend names each line
// and, on hover, shows the values under the cursor (uPlot). Samples are the fleet answers taken in
// this browser while the namespace is open (fleet-samples.ts).
import { useEffect, useMemo, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { fleetSamples } from '../fleet-samples.js';
import { token, useTheme } from '../theme.js';
import type { Release, RolloutRecord, RolloutStatus } from '../types.js';

const paletteSize = 5;
export const seriesColour = (seq: number): string => token(`--s${seq % paletteSize}`);

/** A colour at an opacity, for the faded lines of older releases. */
function faded(colour: string): string {
  const hex = /^#([0-9a-f]{6})$/iu.exec(colour)?.[1];
  if (!hex) return colour;
  const [r, g, b] = [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return `rgba(${r}, ${g}, ${b}, 0.35)`;
}

export interface WaveBoundary {
  /** Seconds since the rollout's release was made. */
  x: number;
  label: string;
}

/** Where each wave of the rollout of `release` began, from its recorded transitions. */
export function waveBoundaries(
  release: Release | undefined,
  status: RolloutStatus | null | undefined,
  history: RolloutRecord[],
): WaveBoundary[] {
  if (!release || !status) return [];
  const record = history.find((r) => r.toSeq === release.seq);
  if (!record) return [];
  const createdAt = Date.parse(release.createdAt);
  const names = status.toSeq === release.seq ? status.waves.map((w) => w.name) : [];
  const out: WaveBoundary[] = [];
  let wave = -1;
  for (const step of [...(record.history ?? [])].sort((a, b) => a.at - b.at)) {
    if (step.wave > wave && step.at >= createdAt) {
      wave = step.wave;
      out.push({ x: Math.round((step.at - createdAt) / 1000), label: names[wave] ?? `wave ${wave + 1}` });
    }
  }
  return out;
}

export function ConvergenceChart({
  ns,
  releases,
  height,
  rollout,
  rollouts = [],
}: {
  ns: string;
  releases: Release[];
  height: number;
  rollout?: RolloutStatus | null;
  rollouts?: RolloutRecord[];
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [tick, setTick] = useState(0);
  const [showOlder, setShowOlder] = useState(true);
  const { theme } = useTheme();
  useEffect(() => {
    const timer = window.setInterval(() => setTick((n) => n + 1), 1000);
    return () => window.clearInterval(timer);
  }, []);
  const newest = releases[0];
  const inRollout = rollout ? releases.find((r) => r.seq === rollout.toSeq) : undefined;
  // Newest first, then the one in rollout, then older ones (faded) up to the palette's size.
  const recent = useMemo(() => {
    const main = [newest, inRollout].filter((r, i, all): r is Release => !!r && all.indexOf(r) === i);
    const older = showOlder ? releases.filter((r) => !main.includes(r)).slice(0, paletteSize - main.length) : [];
    return [...main.map((r) => ({ release: r, main: true })), ...older.map((r) => ({ release: r, main: false }))];
  }, [releases, newest?.seq, inRollout?.seq, showOlder]);
  const boundaries = waveBoundaries(inRollout ?? newest, rollout, rollouts);
  const boundariesRef = useRef(boundaries);
  boundariesRef.current = boundaries;
  const samples = fleetSamples(ns);
  const data = useMemo(() => {
    // One x axis (seconds since each release), the union of every series' points; gaps are null.
    const perRelease = recent.map(({ release }) => {
      const createdAt = Date.parse(release.createdAt);
      const points = new Map<number, number>();
      for (const s of samples) {
        if (s.at < createdAt || s.total === 0) continue;
        points.set(Math.round((s.at - createdAt) / 1000), (100 * (s.applied[release.seq] ?? 0)) / s.total);
      }
      return points;
    });
    const xs = [...new Set(perRelease.flatMap((p) => [...p.keys()]))].sort((a, b) => a - b);
    return [xs, ...perRelease.map((p) => xs.map((x) => p.get(x) ?? null))] as uPlot.AlignedData;
    // samples grow in place; `tick` re-reads them
  }, [ns, recent, tick, samples.length]);
  const seriesKey = recent.map((r) => `${r.release.seq}${r.main ? '*' : ''}`).join(',');
  const name = (release: Release, main: boolean): string =>
    release.seq === inRollout?.seq && rollout && rollout.state !== 'succeeded'
      ? `#${release.seq} in rollout (${rollout.state.replace('_', ' ')})`
      : release === newest
        ? `#${release.seq} newest`
        : `#${release.seq}${main ? '' : ' older'}`;

  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const axis = token('--axis');
    const grid = token('--grid');
    const marks = token('--muted');
    const options: uPlot.Options = {
      width: Math.max(260, element.clientWidth),
      height,
      legend: { show: true, live: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false }, y: { range: [0, 100] } },
      axes: [
        { label: 'seconds since release', stroke: axis, grid: { stroke: grid }, ticks: { stroke: grid } },
        {
          label: '% of fleet',
          stroke: axis,
          grid: { stroke: grid },
          ticks: { stroke: grid },
          values: (_u, ticks) => ticks.map((t) => `${t}%`),
        },
      ],
      series: [
        { label: 's' },
        ...recent.map(({ release, main }) => ({
          label: name(release, main),
          stroke: main ? seriesColour(release.seq) : faded(seriesColour(release.seq)),
          width: main ? 2.5 : 1,
          spanGaps: true,
          points: { show: main, size: 4 },
          value: (_u: uPlot, v: number | null) => (v === null ? '—' : `${v.toFixed(0)}%`),
        })),
      ],
      hooks: {
        // Wave boundaries: a dashed line and the wave's name where each wave began.
        draw: [
          (u) => {
            const ctx = u.ctx;
            ctx.save();
            ctx.strokeStyle = marks;
            ctx.fillStyle = marks;
            ctx.setLineDash([4, 4]);
            ctx.lineWidth = 1;
            ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
            for (const boundary of boundariesRef.current) {
              const x = u.valToPos(boundary.x, 'x', true);
              if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
              ctx.beginPath();
              ctx.moveTo(x, u.bbox.top);
              ctx.lineTo(x, u.bbox.top + u.bbox.height);
              ctx.stroke();
              ctx.fillText(boundary.label, x + 3, u.bbox.top + 12 * devicePixelRatio);
            }
            ctx.restore();
          },
        ],
      },
    };
    plot.current?.destroy();
    plot.current = new uPlot(options, data, element);
    const resize = () => plot.current?.setSize({ width: Math.max(260, element.clientWidth), height });
    const observer = new ResizeObserver(resize);
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // Rebuilt when the set of lines, their names or the theme change; data goes through setData below.
  }, [seriesKey, height, theme, recent.map(({ release, main }) => name(release, main)).join('|')]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  return (
    <div
      className="chart"
      data-testid="convergence-chart"
      data-points={recent
        .map(({ release }, i) => `#${release.seq}:${(data[i + 1] ?? []).filter((v) => v !== null).length}`)
        .join(' ')}
      data-boundaries={boundaries.map((b) => `${b.label}@${b.x}`).join(' ')}
      data-x={`${data[0][0] ?? ''}..${data[0].at(-1) ?? ''}`}
    >
      {releases.length === 0 ? <p className="muted small">No release yet.</p> : null}
      {releases.length > 0 && data[0].length === 0 ? <p className="muted small">Collecting samples…</p> : null}
      {releases.length > 1 ? (
        <label className="field inline small">
          <input type="checkbox" checked={showOlder} onChange={(e) => setShowOlder(e.target.checked)} /> older releases
          (faded)
        </label>
      ) : null}
      <div ref={box} className="chart-box" />
    </div>
  );
}
