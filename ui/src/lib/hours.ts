// Opening hours as staff write them ("Mon-Fri 09:00-20:00; Sat 10:00-17:00; Sun closed"),
// parsed exactly like crates/core/src/hours.rs so the settings preview and the mock agree
// with what the back end will accept.

export const DAY_NAMES = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;
const DAYS = DAY_NAMES.map((d) => d.toLowerCase());

/** Open interval per weekday, Monday first, in minutes after midnight; null = closed. */
export type Hours = ([number, number] | null)[];

function dayIndex(s: string): number | null {
  const t = s.trim().toLowerCase();
  const i = DAYS.findIndex((d) => t.startsWith(d) && t.length <= 9);
  return i < 0 ? null : i;
}

export function parseClock(s: string): number | null {
  const m = /^\s*(\d{1,2}):(\d{1,2})\s*$/.exec(s);
  if (!m) return null;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (h > 24 || min >= 60 || h * 60 + min > 24 * 60) return null;
  return h * 60 + min;
}

export function formatClock(minutes: number): string {
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

export function parseHours(s: string): Parsed<Hours> {
  const hours: Hours = [null, null, null, null, null, null, null];
  for (const raw of s.split(';')) {
    const part = raw.trim();
    if (!part) continue;
    const sp = part.search(/\s/);
    if (sp < 0) {
      return { ok: false, error: `'${part}': expected days then times, e.g. 'Mon-Fri 09:00-17:00'` };
    }
    const days = part.slice(0, sp);
    const times = part.slice(sp + 1);
    let from: number;
    let to: number;
    const dash = days.indexOf('-');
    if (dash >= 0) {
      const a = dayIndex(days.slice(0, dash));
      const b = dayIndex(days.slice(dash + 1));
      if (a === null || b === null || a > b) {
        return { ok: false, error: `'${days}': not a day range like Mon-Fri` };
      }
      from = a;
      to = b;
    } else {
      const d = dayIndex(days);
      if (d === null) return { ok: false, error: `'${days}': not a day name` };
      from = to = d;
    }
    let interval: [number, number] | null;
    if (times.trim().toLowerCase() === 'closed') {
      interval = null;
    } else {
      const td = times.indexOf('-');
      if (td < 0) return { ok: false, error: `'${times}': expected HH:MM-HH:MM or 'closed'` };
      const a = times.slice(0, td);
      const b = times.slice(td + 1);
      const am = parseClock(a);
      if (am === null) return { ok: false, error: `'${a}': not a time` };
      const bm = parseClock(b);
      if (bm === null) return { ok: false, error: `'${b}': not a time` };
      if (am >= bm) return { ok: false, error: `'${times}': closes before it opens` };
      interval = [am, bm];
    }
    for (let d = from; d <= to; d++) hours[d] = interval;
  }
  return { ok: true, value: hours };
}

export function parseClosures(s: string): Parsed<string[]> {
  const out: string[] = [];
  for (const raw of s.split(',')) {
    const p = raw.trim();
    if (!p) continue;
    if (!isIsoDate(p)) return { ok: false, error: `'${p}': not a date YYYY-MM-DD` };
    out.push(p);
  }
  return { ok: true, value: out };
}

export function isIsoDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return d.getFullYear() === Number(m[1]) && d.getMonth() === Number(m[2]) - 1 && d.getDate() === Number(m[3]);
}

/** Monday = 0, like chrono's num_days_from_monday. */
export function weekdayIndex(isoDate: string): number {
  const [y, m, d] = isoDate.split('-').map(Number);
  return (new Date(y, m - 1, d).getDay() + 6) % 7;
}

/** The opening interval on a date, honouring closures; null when closed. */
export function openOn(
  hoursText: string | null | undefined,
  closuresText: string | null | undefined,
  isoDate: string,
): [number, number] | null {
  const h = parseHours(hoursText ?? '');
  const c = parseClosures(closuresText ?? '');
  if (c.ok && c.value.includes(isoDate)) return null;
  if (!h.ok) return null;
  return h.value[weekdayIndex(isoDate)];
}

/** "Mon-Fri 09:00-20:00; ..." back from a weekly table, grouping equal neighbours. */
export function formatHours(hours: Hours): string {
  const parts: string[] = [];
  let i = 0;
  while (i < 7) {
    let j = i;
    const same = (a: [number, number] | null, b: [number, number] | null) =>
      a === b || (a !== null && b !== null && a[0] === b[0] && a[1] === b[1]);
    while (j + 1 < 7 && same(hours[j + 1], hours[i])) j++;
    const days = i === j ? DAY_NAMES[i] : `${DAY_NAMES[i]}-${DAY_NAMES[j]}`;
    const h = hours[i];
    parts.push(`${days} ${h ? `${formatClock(h[0])}-${formatClock(h[1])}` : 'closed'}`);
    i = j + 1;
  }
  return parts.join('; ');
}
