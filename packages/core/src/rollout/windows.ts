import { TZDate } from '@date-fns/tz';
import { HeraldError } from '../errors.js';

/**
 * Change windows: times during which releases do not start and rollout waves do not advance
 * (unless overridden with a reason). A window is weekly, in an IANA time zone (Friday 16:00 to
 * Monday 08:00 Europe/Berlin, so it follows that zone's daylight saving time), or one range of
 * instants. Wall-clock arithmetic is @date-fns/tz's, never our own.
 */
export type ChangeWindow =
  { name: string; weekly: { from: string; to: string; timeZone: string } } | { name: string; from: string; to: string };

/** The window that blocks an instant, and when it ends (ms since the epoch). */
export interface WindowBlock {
  window: ChangeWindow;
  /** Where the window was set: a namespace or `*`, every namespace. */
  scope: string;
  until: number;
  /** For people: `"weekend" (Fri 16:00 → Mon 08:00 Europe/Berlin) until 2026-12-07T07:00:00.000Z`. */
  describe: string;
}

const days = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const minutesPerWeek = 7 * 24 * 60;
const maxWindows = 50;

/** `Fri 16:00` → minutes since Sunday 00:00; `invalid_request` naming the path when it is not one. */
function minuteOfWeek(text: string, path: string): number {
  const match = /^([a-z]{3})[a-z]*\s+(\d{1,2}):(\d{2})$/iu.exec(text.trim());
  const day = match ? days.indexOf(match[1]?.toLowerCase() as (typeof days)[number]) : -1;
  const hours = Number(match?.[2]);
  const minutes = Number(match?.[3]);
  if (!match || day < 0 || hours > 23 || minutes > 59)
    throw new HeraldError('invalid_request', `${path}: "${text}" is not a day and time such as "Fri 16:00"`);
  return day * 1440 + hours * 60 + minutes;
}

function checkTimeZone(timeZone: string, path: string): void {
  try {
    new Intl.DateTimeFormat('en', { timeZone });
  } catch {
    throw new HeraldError('invalid_request', `${path}: "${timeZone}" is not an IANA time zone`);
  }
}

function instant(text: string, path: string): number {
  // An offset is required: a range without one would mean different instants on different nodes.
  if (!/(Z|[+-]\d{2}:\d{2})$/u.test(text) || Number.isNaN(Date.parse(text)))
    throw new HeraldError('invalid_request', `${path}: "${text}" is not an ISO 8601 time with an offset`);
  return Date.parse(text);
}

/** Checks a list of windows as given by a user (JSON), and returns it typed. */
export function parseWindows(input: unknown): ChangeWindow[] {
  if (!Array.isArray(input)) throw new HeraldError('invalid_request', 'windows must be a list');
  if (input.length > maxWindows) throw new HeraldError('invalid_request', `at most ${maxWindows} windows`);
  return input.map((item: unknown, i) => {
    const path = `windows[${i}]`;
    if (typeof item !== 'object' || item === null)
      throw new HeraldError('invalid_request', `${path} must be an object`);
    const w = item as Record<string, unknown>;
    const name = typeof w.name === 'string' && w.name.length > 0 && w.name.length <= 100 ? w.name : `window ${i + 1}`;
    if (w.weekly !== undefined) {
      const weekly = w.weekly as Record<string, unknown>;
      if (typeof weekly !== 'object' || weekly === null)
        throw new HeraldError('invalid_request', `${path}.weekly must be an object`);
      const { from, to, timeZone } = weekly;
      if (typeof from !== 'string' || typeof to !== 'string' || typeof timeZone !== 'string')
        throw new HeraldError('invalid_request', `${path}.weekly needs from, to and timeZone (strings)`);
      if (minuteOfWeek(from, `${path}.weekly.from`) === minuteOfWeek(to, `${path}.weekly.to`))
        throw new HeraldError('invalid_request', `${path}.weekly: from and to are the same time`);
      checkTimeZone(timeZone, `${path}.weekly.timeZone`);
      return { name, weekly: { from, to, timeZone } };
    }
    if (typeof w.from !== 'string' || typeof w.to !== 'string')
      throw new HeraldError('invalid_request', `${path} needs weekly {from, to, timeZone}, or from and to (ISO 8601)`);
    if (instant(w.from, `${path}.from`) >= instant(w.to, `${path}.to`))
      throw new HeraldError('invalid_request', `${path}: from must be before to`);
    return { name, from: w.from, to: w.to };
  });
}

/** When the window ends, if `at` is inside it. */
function endOf(window: ChangeWindow, at: number): number | undefined {
  if (!('weekly' in window)) {
    const from = Date.parse(window.from);
    const to = Date.parse(window.to);
    return at >= from && at < to ? to : undefined;
  }
  const { timeZone } = window.weekly;
  const from = minuteOfWeek(window.weekly.from, 'from');
  const to = minuteOfWeek(window.weekly.to, 'to');
  const local = new TZDate(at, timeZone);
  const now = local.getDay() * 1440 + local.getHours() * 60 + local.getMinutes();
  const inside = from < to ? now >= from && now < to : now >= from || now < to;
  if (!inside) return undefined;
  // The end is the next local `to` time: so many whole days ahead, at its wall-clock time in the zone.
  const minutesAhead = (to - now + minutesPerWeek) % minutesPerWeek || minutesPerWeek;
  const daysAhead = Math.floor(((now % 1440) + minutesAhead) / 1440);
  return new TZDate(
    local.getFullYear(),
    local.getMonth(),
    local.getDate() + daysAhead,
    Math.floor((to % 1440) / 60),
    to % 60,
    0,
    timeZone,
  ).getTime();
}

function describeWindow(window: ChangeWindow): string {
  return 'weekly' in window
    ? `"${window.name}" (${window.weekly.from} → ${window.weekly.to} ${window.weekly.timeZone})`
    : `"${window.name}" (${window.from} → ${window.to})`;
}

/**
 * The first window, of the sets given (each with its scope), that blocks `at`; undefined when
 * changes may go ahead. Windows that touch or overlap are followed, so `until` is when changes may
 * go ahead again.
 */
export function blockingWindow(
  sets: ReadonlyArray<{ scope: string; windows: readonly ChangeWindow[] }>,
  at: number,
): WindowBlock | undefined {
  const all = sets.flatMap((set) => set.windows.map((window) => ({ scope: set.scope, window })));
  const first = all.map((w) => ({ ...w, until: endOf(w.window, at) })).find((w) => w.until !== undefined);
  if (first?.until === undefined) return undefined;
  let until = first.until;
  // Bounded: each round moves `until` past one more window.
  for (let round = 0; round < all.length; round += 1) {
    const next = all.map((w) => endOf(w.window, until)).find((end) => end !== undefined);
    if (next === undefined || next <= until) break;
    until = next;
  }
  return {
    window: first.window,
    scope: first.scope,
    until,
    describe: `${describeWindow(first.window)} until ${new Date(until).toISOString()}`,
  };
}
