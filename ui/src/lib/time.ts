// Dates as the back end stores them: "YYYY-MM-DD" and "YYYY-MM-DDTHH:MM" in the branch's
// local time (no zone). Timestamps (history, sync, conflicts) are ms since the epoch and
// are shown in this computer's local time.

import { addDays, format, formatDistanceStrict, parse } from 'date-fns';

export function isoDate(d: Date): string {
  return format(d, 'yyyy-MM-dd');
}

export function isoDateTime(d: Date): string {
  return format(d, "yyyy-MM-dd'T'HH:mm");
}

export function parseIsoDate(s: string): Date {
  return parse(s, 'yyyy-MM-dd', new Date(2000, 0, 1));
}

export function parseIsoDateTime(s: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(s);
  if (!m) return null;
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]));
}

export function shiftDate(iso: string, days: number): string {
  return isoDate(addDays(parseIsoDate(iso), days));
}

/** Minutes after midnight of a "YYYY-MM-DDTHH:MM" value. */
export function minuteOfDay(dt: string): number {
  const m = /T(\d{2}):(\d{2})/.exec(dt);
  return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
}

export function dayOf(dt: string): string {
  return dt.slice(0, 10);
}

export function hhmm(dt: string | null | undefined): string {
  if (!dt) return '';
  const m = /T(\d{2}:\d{2})/.exec(dt);
  return m ? m[1] : dt;
}

/** "Mon 23 Nov 2026" */
export function longDate(iso: string): string {
  return format(parseIsoDate(iso), 'EEE d MMM yyyy');
}

/** "Mon 23 Nov" */
export function shortDate(iso: string): string {
  return format(parseIsoDate(iso), 'EEE d MMM');
}

/** A stored local date-time, readable: "23 Nov 14:05". */
export function shortDateTime(dt: string | null | undefined): string {
  if (!dt) return '';
  const d = parseIsoDateTime(dt);
  return d ? format(d, 'd MMM HH:mm') : dt;
}

/** A moment (ms since epoch) in this computer's local time. */
export function whenLocal(ms: number | null | undefined): string {
  if (!ms) return 'never';
  return format(new Date(ms), 'd MMM yyyy, HH:mm');
}

export function ago(ms: number | null | undefined, now: number = Date.now()): string {
  if (!ms) return 'never';
  if (Math.abs(now - ms) < 45_000) return 'just now';
  const words = formatDistanceStrict(new Date(ms), new Date(now), { roundingMethod: 'floor' });
  return ms <= now ? `${words} ago` : `in ${words}`;
}
