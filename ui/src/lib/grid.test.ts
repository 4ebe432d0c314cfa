import { describe, expect, it } from 'vitest';
import { buildGrid, defaultEnd, slotTimes } from './grid';
import type { BookingDay, RecordT } from '../types';

const st = (id: string, tag: string, extra: Record<string, unknown> = {}): RecordT => ({
  kind: 'asset',
  id,
  fields: { tag, bookable: true, status: 'deployed', express: false, ...extra } as RecordT['fields'],
});
const bk = (id: string, station: string, start: string, end: string, status = 'booked'): RecordT => ({
  kind: 'booking',
  id,
  fields: { station, start: `2026-11-23T${start}`, end: `2026-11-23T${end}`, status, patron: 'G-1' },
});

const day = (over: Partial<BookingDay> = {}): BookingDay => ({
  branch: { kind: 'branch', id: 'b', fields: { code: 'CEN' } },
  date: '2026-11-23',
  hours: ['09:00', '21:00'],
  stations: [st('s1', 'CEN-PU-001'), st('s2', 'CEN-PU-002'), st('s3', 'CEN-PU-003', { status: 'in-repair' })],
  bookings: [bk('b1', 's2', '10:00', '11:00'), bk('b2', 's1', '14:15', '14:45', 'checked-in'), bk('b3', 's1', '16:00', '17:00', 'cancelled')],
  ...over,
});

describe('booking grid model', () => {
  it('computes 15-minute slots from opening to closing', () => {
    const g = buildGrid(day(), '2026-11-23T08:00', 10);
    expect(g.slots).toHaveLength(48);
    expect(g.slots[0]).toBe(9 * 60);
    expect(g.slots[47]).toBe(20 * 60 + 45);
    expect(slotTimes(600, 1020)).toHaveLength(28);
  });

  it('places each booking on its station row at the right slots', () => {
    const g = buildGrid(day(), '2026-11-23T08:00', 10);
    const row1 = g.rows.find((r) => r.tag === 'CEN-PU-001')!;
    const row2 = g.rows.find((r) => r.tag === 'CEN-PU-002')!;
    expect(row2.blocks).toHaveLength(1);
    expect(row2.blocks[0].slot).toBe(4); // 10:00 is the fifth slot after 09:00
    expect(row2.blocks[0].span).toBe(4);
    expect(row2.free.slice(4, 8)).toEqual([false, false, false, false]);
    expect(row2.free[3]).toBe(true);
    // 14:15-14:45 → slots 21 and 22; the cancelled booking does not hold the station.
    expect(row1.blocks.map((b) => [b.slot, b.span])).toEqual([[21, 2]]);
    expect(row1.free[28]).toBe(true);
    expect(g.inactive.map((b) => b.id)).toEqual(['b3']);
  });

  it('marks slots that are too late to book, allowing the grace period', () => {
    const g = buildGrid(day(), '2026-11-23T10:07', 10);
    // 10:00 + 10 min grace is after 10:07, so 10:00 is still bookable; 09:45 is not.
    expect(g.past[3]).toBe(true);
    expect(g.past[4]).toBe(false);
    const other = buildGrid(day({ date: '2026-11-22' }), '2026-11-23T10:07', 10);
    expect(other.past.every(Boolean)).toBe(true);
    const future = buildGrid(day({ date: '2026-11-24' }), '2026-11-23T10:07', 10);
    expect(future.past.some(Boolean)).toBe(false);
  });

  it('says when the branch is closed and which stations are out of service', () => {
    expect(buildGrid(day({ hours: null }), '2026-11-23T10:00', 10).closed).toBe(true);
    const g = buildGrid(day(), '2026-11-23T10:00', 10);
    expect(g.rows.find((r) => r.tag === 'CEN-PU-003')!.outOfService).toBe(true);
  });

  it('flags overlapping bookings of one station as a clash', () => {
    const g = buildGrid(day({ bookings: [bk('x', 's1', '10:00', '11:00'), bk('y', 's1', '10:30', '11:30')] }), '2026-11-23T08:00', 10);
    expect(g.rows[0].blocks.every((b) => b.clash)).toBe(true);
  });

  it('suggests an end cut at the next booking and at closing', () => {
    const g = buildGrid(day(), '2026-11-23T08:00', 10);
    const row2 = g.rows.find((r) => r.tag === 'CEN-PU-002')!;
    expect(defaultEnd(row2, g, 9 * 60 + 30, 60, 15)).toBe(10 * 60);
    expect(defaultEnd(row2, g, 20 * 60 + 30, 60, 15)).toBe(21 * 60);
    expect(defaultEnd({ ...row2, express: true }, g, 12 * 60, 60, 15)).toBe(12 * 60 + 15);
  });
});
