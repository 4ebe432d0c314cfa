// The booking grid's arithmetic, kept pure so it can be tested without a screen:
// 15-minute slots from opening to closing, bookings placed on their station's row,
// which slots are free, and which are already in the past.

import type { BookingDay, RecordT } from '../types';
import { parseClock } from './hours';
import { minuteOfDay } from './time';

export const SLOT_MINUTES = 15;
const OUT_OF_SERVICE = new Set(['retired', 'lost', 'in-repair']);

export interface Block {
  booking: RecordT;
  /** First slot index the booking covers. */
  slot: number;
  /** Number of slots it covers (at least 1). */
  span: number;
  /** Another active booking overlaps this one on the same station (a sync conflict). */
  clash: boolean;
}

export interface GridRow {
  station: RecordT;
  tag: string;
  express: boolean;
  outOfService: boolean;
  blocks: Block[];
  /** Per slot: no active booking covers it. */
  free: boolean[];
}

export interface GridModel {
  open: number;
  close: number;
  /** Start minute of each slot. */
  slots: number[];
  /** Per slot: too late to book (start + grace is before now). */
  past: boolean[];
  rows: GridRow[];
  /** Bookings that no longer hold a station (cancelled, no-show). */
  inactive: RecordT[];
  closed: boolean;
}

export function isActiveBooking(b: RecordT): boolean {
  return b.fields.status !== 'cancelled' && b.fields.status !== 'no-show';
}

export function slotTimes(open: number, close: number, step = SLOT_MINUTES): number[] {
  const out: number[] = [];
  for (let m = open; m < close; m += step) out.push(m);
  return out;
}

/**
 * @param now local "YYYY-MM-DDTHH:MM"
 * @param grace minutes a booking may start late (the branch's grace_minutes)
 */
export function buildGrid(day: BookingDay, now: string, grace: number): GridModel {
  const open = day.hours ? parseClock(day.hours[0]) : null;
  const close = day.hours ? parseClock(day.hours[1]) : null;
  const inactive = day.bookings.filter((b) => !isActiveBooking(b));
  if (open === null || close === null) {
    return { open: 0, close: 0, slots: [], past: [], rows: [], inactive, closed: true };
  }
  const slots = slotTimes(open, close);
  const today = now.slice(0, 10);
  const nowMin = minuteOfDay(now);
  const past = slots.map((m) => (day.date < today ? true : day.date > today ? false : m + grace < nowMin));
  const active = day.bookings.filter(isActiveBooking);

  const rows = day.stations.map((st): GridRow => {
    const mine = active
      .filter((b) => b.fields.station === st.id)
      .sort((a, b) => String(a.fields.start).localeCompare(String(b.fields.start)));
    const free = slots.map(() => true);
    const blocks: Block[] = mine.map((b) => {
      const s = minuteOfDay(String(b.fields.start));
      const e = minuteOfDay(String(b.fields.end));
      const first = Math.max(0, Math.floor((s - open) / SLOT_MINUTES));
      const last = Math.min(slots.length, Math.ceil((e - open) / SLOT_MINUTES));
      for (let i = first; i < last; i++) free[i] = false;
      return { booking: b, slot: Math.min(first, Math.max(0, slots.length - 1)), span: Math.max(1, last - first), clash: false };
    });
    for (let i = 0; i < blocks.length; i++)
      for (let j = i + 1; j < blocks.length; j++) {
        const a = blocks[i].booking.fields;
        const b = blocks[j].booking.fields;
        if (String(a.start) < String(b.end) && String(b.start) < String(a.end)) {
          blocks[i].clash = true;
          blocks[j].clash = true;
        }
      }
    return {
      station: st,
      tag: String(st.fields.tag ?? st.id),
      express: st.fields.express === true,
      outOfService: OUT_OF_SERVICE.has(String(st.fields.status)),
      blocks,
      free,
    };
  });
  return { open, close, slots, past, rows, inactive, closed: false };
}

/** A sensible end for a new booking from `start`: the session length, cut at closing or the next booking. */
export function defaultEnd(row: GridRow, model: GridModel, startMin: number, session: number, express: number): number {
  let end = startMin + (row.express ? express : session);
  end = Math.min(end, model.close);
  for (const b of row.blocks) {
    const s = minuteOfDay(String(b.booking.fields.start));
    if (s > startMin && s < end) end = s;
  }
  return end;
}
