// How the CLI writes times, durations and tables for people: "2 min 5 s", "in 3 days",
// "5 min ago", columns padded under a header. (--json output keeps the API's own forms.)

/** A duration in the largest units that matter: "45 s", "2 min 5 s", "3 h 10 min", "2 days 4 h". */
export function humanDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return seconds % 60 === 0 ? `${minutes} min` : `${minutes} min ${seconds % 60} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? `${days} days` : `${days} days ${hours % 24} h`;
}

/** A moment relative to now: "in 3 days", "5 min ago", "just now". */
export function relativeTime(at: number | string, now = Date.now()): string {
  const time = typeof at === 'number' ? at : Date.parse(at);
  const delta = time - now;
  if (Math.abs(delta) < 1000) return 'just now';
  return delta > 0 ? `in ${humanDuration(delta)}` : `${humanDuration(-delta)} ago`;
}

/** A moment as a short local-free timestamp: "2026-12-02 05:12:29" (UTC). */
export function shortTime(at: number | string): string {
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? String(at) : date.toISOString().slice(0, 19).replace('T', ' ');
}

/** Rows under a header, each column as wide as its widest cell (two spaces between columns). */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}
