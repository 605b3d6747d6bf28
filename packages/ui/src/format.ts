export function isJsonType(contentType: string): boolean {
  const base = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return base === 'application/json' || (base.startsWith('application/') && base.endsWith('+json'));
}

/** A value as the editor and the diff show it: pretty JSON, or the text itself. */
export function valueText(value: unknown, contentType: string): string {
  if (!isJsonType(contentType) && typeof value === 'string') return value;
  return JSON.stringify(value, null, 2) ?? '';
}

export function preview(value: unknown, contentType: string, max = 80): string {
  const text = isJsonType(contentType) ? (JSON.stringify(value) ?? '') : String(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function ago(at: string | number, now = Date.now()): string {
  const ms = now - (typeof at === 'number' ? at : Date.parse(at));
  if (!Number.isFinite(ms)) return '';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m}m ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h}h ago`;
  return `${Math.round(h / 24)}d ago`;
}

export function time(at: string | number): string {
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleString(undefined, { hour12: false });
}

export function duration(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

export const percent = (ratio: number, digits = 0): string => `${(ratio * 100).toFixed(digits)}%`;

/** An author as the API writes it, "name (tokenId)", shortened to the name. */
export function who(author: string): string {
  return author.replace(/\s*\([^)]*\)\s*$/u, '') || author;
}

export const labelName = (label: string): string => (label === '' ? '(default)' : label);
