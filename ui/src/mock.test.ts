import { describe, expect, it } from 'vitest';
import { MockBackend } from './mock';
import type { AppError, BookingDay, RecordT } from './types';

const now = new Date(2026, 10, 23, 10, 7); // Monday
const mk = () => new MockBackend({ now: () => now, demoDelay: 0 });

async function station(m: MockBackend, tag: string): Promise<RecordT> {
  return (await m.invoke('get', { kind: 'asset', key: tag })) as RecordT;
}

async function reject(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (e) {
    return e as AppError;
  }
  throw new Error('expected a rejection');
}

describe('mock back end', () => {
  it('rejects bookings like the real node, naming the field', async () => {
    const m = mk();
    const s = await station(m, 'CEN-PU-004');
    const book = (start: string, end: string, patron = 'G-77', st = s.id) =>
      m.invoke('create', { kind: 'booking', fields: { station: st, patron, start: `2026-11-23T${start}`, end: `2026-11-23T${end}` } });

    let e = await reject(book('12:00', '11:00'));
    expect(e).toMatchObject({ code: 'invalid', field: 'end' });
    expect(e.message).toMatch(/before the start/);

    e = await reject(book('20:30', '21:30'));
    expect(e).toMatchObject({ field: 'start' });
    expect(e.message).toMatch(/outside opening hours \(09:00-21:00\)/);

    e = await reject(book('12:00', '13:30'));
    expect(e).toMatchObject({ field: 'end' });
    expect(e.message).toMatch(/90 minutes is longer than the 60 minutes/);

    const day = (await m.invoke('booking_day', { branch: 'CEN', date: '2026-11-23' })) as BookingDay;
    const taken = day.bookings.find((b) => b.fields.station === s.id && b.fields.status === 'booked')!;
    const t0 = String(taken.fields.start).slice(11, 16);
    e = await reject(
      m.invoke('create', { kind: 'booking', fields: { station: s.id, patron: 'G-78', start: taken.fields.start, end: taken.fields.end } }),
    );
    expect(e).toMatchObject({ field: 'start' });
    expect(e.message).toContain(`already booked ${t0}`);

    e = await reject(book('09:00', '09:30'));
    expect(e.message).toMatch(/in the past/);

    const ok = (await book('20:00', '21:00', 'G-79')) as RecordT;
    expect(ok.fields).toMatchObject({ branch: 'CEN', status: 'booked', patron: 'G-79' });
  });

  it('checks without writing and returns null when fine', async () => {
    const m = mk();
    const s = await station(m, 'CEN-PU-004');
    const before = (await m.invoke('list', { kind: 'booking', filter: {} })) as RecordT[];
    const res = await m.invoke('check', { kind: 'booking', key: null, fields: { station: s.id, patron: 'G-1', start: '2026-11-23T12:00', end: '2026-11-23T13:30' } });
    expect(res).toMatchObject({ code: 'invalid', field: 'end' });
    const after = (await m.invoke('list', { kind: 'booking', filter: {} })) as RecordT[];
    expect(after).toHaveLength(before.length);
  });

  it('finds the seeded double booking and settles it by keeping one side', async () => {
    const m = mk();
    const list = (await m.invoke('conflicts')) as { id: string; kind: string; sides: { key: string }[] }[];
    const dbl = list.find((c) => c.kind === 'double-booking')!;
    expect(dbl.sides).toHaveLength(2);
    const events: unknown[] = [];
    m.listen('conflicts', (p) => events.push(p));
    await m.invoke('resolve_conflict', { id: dbl.id, keep: dbl.sides[0].key });
    const again = (await m.invoke('conflicts')) as { kind: string }[];
    expect(again.some((c) => c.kind === 'double-booking')).toBe(false);
    expect(events.length).toBe(1);
  });

  it('keeps stock as a ledger and refuses to issue what is not there', async () => {
    const m = mk();
    const item = (await m.invoke('get', { kind: 'stock-item', key: 'HP 89A toner' })) as RecordT;
    const levels = (await m.invoke('stock_levels', { branch: 'NOR' })) as { item: string; level: number; below_reorder: boolean }[];
    const toner = levels.find((l) => l.item === item.id)!;
    expect(toner.below_reorder).toBe(true);
    const e = await reject(m.invoke('create', { kind: 'movement', fields: { item: item.id, branch: 'NOR', kind: 'issue', qty: toner.level + 1 } }));
    expect(e).toMatchObject({ field: 'qty' });
    expect(e.message).toContain(`NOR has only ${toner.level} in stock`);
  });

  it('numbers tickets per branch and fills the branch from the asset', async () => {
    const m = mk();
    const a = await station(m, 'SOU-PU-002');
    const t = (await m.invoke('create', { kind: 'ticket', fields: { asset: a.id, category: 'hardware', summary: 'Screen dark' } })) as RecordT;
    expect(t.fields.branch).toBe('SOU');
    expect(t.fields.number).toMatch(/^SOU-\d{4}$/);
    expect(t.fields.opened_at).toBe('2026-11-23T10:07');
  });

  it('announces every write as a local change with its kinds', async () => {
    const m = mk();
    const seen: { kinds: string[]; remote: boolean }[] = [];
    m.listen('changed', (p) => seen.push(p as { kinds: string[]; remote: boolean }));
    await m.invoke('create', { kind: 'page', fields: { title: 'Hello' } });
    expect(seen).toEqual([expect.objectContaining({ kinds: ['page'], remote: false })]);
  });
});
