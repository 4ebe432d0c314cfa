// Public PC bookings for one branch and day: stations down, 15-minute slots across.
// Click (or Enter on) a free slot to book it; click a booking to check in, mark a
// no-show or cancel. Policy problems show while staff type, before they submit.

import { useEffect, useMemo, useRef, useState } from 'react';
import { api } from '../api';
import type { AppError, RecordT } from '../types';
import { useAppData } from '../lib/data';
import { useLive } from '../lib/live';
import { useNav } from '../lib/nav';
import { now as clockNow } from '../lib/clock';
import { buildGrid, defaultEnd, type Block, type GridModel, type GridRow } from '../lib/grid';
import { formatClock } from '../lib/hours';
import { hhmm, isoDateTime, longDate, shiftDate } from '../lib/time';
import { wordsOf } from '../lib/format';
import { plainMessage } from '../lib/errors';
import { Dialog } from '../components/Dialog';
import { SchemaForm } from '../components/SchemaForm';
import { StatusBadge } from '../components/Badge';
import { useNotice } from '../components/Notice';
import { BranchPicker } from './Dashboard';

// Width of one 15-minute slot on screen: fill the window, but never narrower than this.
const MIN_SLOT_PX = 18;
const STATION_PX = 130;

function useNow(): string {
  const [n, setN] = useState(() => isoDateTime(clockNow()));
  useEffect(() => {
    const t = setInterval(() => setN(isoDateTime(clockNow())), 30_000);
    return () => clearInterval(t);
  }, []);
  return n;
}

function patronText(v: unknown): string {
  const s = String(v ?? '');
  // Card numbers are stored hashed: show a short, stable stand-in rather than the hash.
  return s.startsWith('p:') ? `Card …${s.slice(-4)}` : s;
}

function patronShort(v: unknown): string {
  const s = String(v ?? '');
  return s.startsWith('p:') ? `…${s.slice(-4)}` : s;
}

interface NewBooking {
  station: string;
  start: string;
  end: string;
}

type Target = { kind: 'slot'; col: number } | { kind: 'block'; col: number; id: string };

function targetsOf(row: GridRow, model: GridModel): Target[] {
  if (row.outOfService) return [];
  const t: Target[] = [];
  const blockAt = new Map<number, Block>();
  for (const b of row.blocks) blockAt.set(b.slot, b);
  for (let i = 0; i < model.slots.length; i++) {
    const b = blockAt.get(i);
    if (b) t.push({ kind: 'block', col: i, id: b.booking.id });
    else if (row.free[i] && !model.past[i]) t.push({ kind: 'slot', col: i });
  }
  return t;
}

export function BookingGrid({
  model,
  date,
  onSlot,
  onBooking,
}: {
  model: GridModel;
  date: string;
  onSlot: (row: GridRow, col: number) => void;
  onBooking: (b: RecordT) => void;
}) {
  const refs = useRef(new Map<string, HTMLElement>());
  const wrap = useRef<HTMLDivElement>(null);
  const [avail, setAvail] = useState(1000);
  useEffect(() => {
    const el = wrap.current;
    if (!el) return;
    const measure = () => setAvail(el.clientWidth - STATION_PX - 2);
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const SLOT_PX = Math.max(MIN_SLOT_PX, Math.floor(avail / Math.max(1, model.slots.length)));
  const targets = useMemo(() => model.rows.map((r) => targetsOf(r, model)), [model]);
  const firstRow = targets.findIndex((t) => t.length > 0);
  const [focus, setFocus] = useState<{ row: number; idx: number }>({ row: Math.max(0, firstRow), idx: 0 });
  const cur = targets[focus.row]?.[focus.idx] ?? targets[firstRow]?.[0];
  const keyOf = (row: number, t: Target) => (t.kind === 'slot' ? `${row}:s${t.col}` : `${row}:b${t.id}`);
  const tabKey = cur ? keyOf(targets[focus.row]?.[focus.idx] ? focus.row : firstRow, cur) : null;

  const moveTo = (row: number, idx: number) => {
    const t = targets[row]?.[idx];
    if (!t) return;
    setFocus({ row, idx });
    refs.current.get(keyOf(row, t))?.focus();
  };

  const onKey = (e: React.KeyboardEvent, row: number, idx: number) => {
    const list = targets[row];
    const col = list[idx]?.col ?? 0;
    const nearest = (r: number) => {
      const l = targets[r];
      let best = 0;
      for (let i = 0; i < l.length; i++) if (Math.abs(l[i].col - col) < Math.abs(l[best].col - col)) best = i;
      return best;
    };
    const vertical = (dir: 1 | -1) => {
      for (let r = row + dir; r >= 0 && r < targets.length; r += dir) if (targets[r].length) return moveTo(r, nearest(r));
    };
    switch (e.key) {
      case 'ArrowRight':
        moveTo(row, Math.min(list.length - 1, idx + 1));
        break;
      case 'ArrowLeft':
        moveTo(row, Math.max(0, idx - 1));
        break;
      case 'ArrowDown':
        vertical(1);
        break;
      case 'ArrowUp':
        vertical(-1);
        break;
      case 'Home':
        moveTo(row, 0);
        break;
      case 'End':
        moveTo(row, list.length - 1);
        break;
      default:
        return;
    }
    e.preventDefault();
  };

  const width = model.slots.length * SLOT_PX;
  const hours = model.slots.map((m, i) => ({ m, i })).filter(({ m }) => m % 60 === 0 || m === model.open);

  return (
    <div className="grid-wrap" ref={wrap}>
      <div className="grid" role="grid" data-date={date} aria-label={`Bookings on ${longDate(date)}`} aria-rowcount={model.rows.length}>
        <div className="grid-head" role="row">
          <div className="grid-station" role="columnheader">
            Station
          </div>
          <div className="grid-track grid-hours" style={{ width }} role="presentation">
            {hours.map(({ m, i }) => (
              <span key={m} className="hour" style={{ left: i * SLOT_PX }}>
                {formatClock(m)}
              </span>
            ))}
          </div>
        </div>
        {model.rows.map((row, r) => {
          const list = targets[r];
          const idxOf = (t: Target) => list.findIndex((x) => x.kind === t.kind && x.col === t.col);
          return (
            <div key={row.station.id} className="grid-row" role="row" data-testid="grid-row" data-station={row.tag}>
              <div className="grid-station" role="rowheader">
                <span className="tag">{row.tag}</span>
                {(row.express || row.outOfService) && (
                  <span className="muted small">
                    {row.express ? 'express' : ''}
                    {row.express && row.outOfService ? ' · ' : ''}
                    {row.outOfService ? wordsOf(String(row.station.fields.status)) : ''}
                  </span>
                )}
              </div>
              <div
                className={`grid-track${row.outOfService ? ' out' : ''}`}
                style={{ width, gridTemplateColumns: `repeat(${model.slots.length}, ${SLOT_PX}px)` }}
              >
                {row.outOfService ? (
                  <span className="out-label" role="gridcell" style={{ gridColumn: `1 / span ${model.slots.length}` }}>
                    Out of service: not bookable
                  </span>
                ) : (
                  <>
                    {model.slots.map((m, i) => {
                      if (!row.free[i]) return null;
                      const time = formatClock(m);
                      if (model.past[i]) {
                        return (
                          <span
                            key={m}
                            role="gridcell"
                            className={`slot past${m % 60 === 0 ? ' hour-start' : ''}`}
                            style={{ gridColumn: i + 1, gridRow: 1 }}
                            data-testid="slot-past"
                            aria-label={`${row.tag} ${time}, past`}
                          />
                        );
                      }
                      const t: Target = { kind: 'slot', col: i };
                      const k = keyOf(r, t);
                      return (
                        <span key={m} role="gridcell" style={{ gridColumn: i + 1, gridRow: 1 }} className="cell">
                          <button
                            type="button"
                            ref={(el) => {
                              if (el) refs.current.set(k, el);
                              else refs.current.delete(k);
                            }}
                            className={`slot${m % 60 === 0 ? ' hour-start' : ''}`}
                            data-testid="slot"
                            data-station={row.tag}
                            data-time={time}
                            tabIndex={k === tabKey ? 0 : -1}
                            aria-label={`Book ${row.tag} at ${time}`}
                            onClick={() => onSlot(row, i)}
                            onFocus={() => setFocus({ row: r, idx: idxOf(t) })}
                            onKeyDown={(e) => onKey(e, r, idxOf(t))}
                          />
                        </span>
                      );
                    })}
                    {row.blocks.map((b) => {
                      const t: Target = { kind: 'block', col: b.slot, id: b.booking.id };
                      const k = keyOf(r, t);
                      const f = b.booking.fields;
                      const status = String(f.status);
                      return (
                        <span
                          key={b.booking.id}
                          role="gridcell"
                          className="cell"
                          style={{ gridColumn: `${b.slot + 1} / span ${b.span}`, gridRow: 1 }}
                        >
                          <button
                            type="button"
                            ref={(el) => {
                              if (el) refs.current.set(k, el);
                              else refs.current.delete(k);
                            }}
                            className={`booking booking-${status}${b.clash ? ' clash' : ''}`}
                            data-testid="booking"
                            data-id={b.booking.id}
                            data-station={row.tag}
                            data-status={status}
                            tabIndex={k === tabKey ? 0 : -1}
                            title={`${hhmm(String(f.start))}–${hhmm(String(f.end))} ${patronText(f.patron)} · ${wordsOf(status)}${b.clash ? ' · double booked' : ''}`}
                            aria-label={`${row.tag} ${hhmm(String(f.start))} to ${hhmm(String(f.end))}, ${patronText(f.patron)}, ${wordsOf(status)}${b.clash ? ', double booked' : ''}`}
                            onClick={() => onBooking(b.booking)}
                            onFocus={() => setFocus({ row: r, idx: list.findIndex((x) => x.kind === 'block' && x.id === b.booking.id) })}
                            onKeyDown={(e) => onKey(e, r, list.findIndex((x) => x.kind === 'block' && x.id === b.booking.id))}
                          >
                            <span className="booking-time">{hhmm(String(f.start))}</span>{' '}
                            <span className="booking-who">{patronShort(f.patron)}</span>
                            {status === 'checked-in' && <span className="booking-mark"> ✓ in</span>}
                            {b.clash && <span className="booking-mark"> ⚠ clash</span>}
                          </button>
                        </span>
                      );
                    })}
                  </>
                )}
              </div>
            </div>
          );
        })}
      </div>
    </div>
  );
}

function BookingActions({ booking, onClose }: { booking: RecordT; onClose: () => void }) {
  const data = useAppData();
  const notice = useNotice();
  const [error, setError] = useState<AppError | null>(null);
  const [busy, setBusy] = useState(false);
  const f = booking.fields;
  const status = String(f.status);
  const tag = data.nameOf('asset', String(f.station));
  const act = async (next: string, done: string) => {
    setBusy(true);
    setError(null);
    try {
      await api.update('booking', booking.id, { status: next });
      notice.notify(`${tag} ${hhmm(String(f.start))}: ${done}.`);
      onClose();
    } catch (e) {
      setError(e as AppError);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title={`Booking · ${tag} ${hhmm(String(f.start))}–${hhmm(String(f.end))}`} onClose={onClose} testId="booking-dialog">
      <dl className="field-list">
        <div>
          <dt>Patron</dt>
          <dd>{patronText(f.patron)}</dd>
        </div>
        <div>
          <dt>Status</dt>
          <dd>
            <StatusBadge status={status} />
          </dd>
        </div>
        <div>
          <dt>Booked by</dt>
          <dd>{wordsOf(String(f.source ?? 'desk'))}</dd>
        </div>
      </dl>
      {error && (
        <p className="form-error" role="alert" data-testid="form-error">
          {plainMessage(error)}
        </p>
      )}
      <div className="actions">
        {status === 'booked' && (
          <>
            <button type="button" className="primary" disabled={busy} data-testid="booking-checkin" onClick={() => void act('checked-in', 'checked in')}>
              Check in
            </button>
            <button type="button" disabled={busy} data-testid="booking-noshow" onClick={() => void act('no-show', 'marked as a no-show')}>
              No-show
            </button>
          </>
        )}
        {(status === 'booked' || status === 'checked-in') && (
          <button type="button" className="danger" disabled={busy} data-testid="booking-cancel" onClick={() => void act('cancelled', 'booking cancelled')}>
            Cancel booking
          </button>
        )}
        {status === 'checked-in' && (
          <button type="button" disabled={busy} onClick={() => void act('completed', 'session completed')}>
            Session ended
          </button>
        )}
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}

export function Bookings() {
  const data = useAppData();
  const nav = useNav();
  const notice = useNotice();
  const now = useNow();
  const [branch, setBranch] = useState(nav.params.branch ?? data.identity.branch);
  const [date, setDate] = useState(nav.params.date ?? now.slice(0, 10));
  const [creating, setCreating] = useState<NewBooking | null>(null);
  const [open, setOpen] = useState<RecordT | null>(null);
  const day = useLive(['booking', 'branch', 'asset'], () => api.bookingDay(branch, date), [branch, date]);

  const branchRec = day.data?.branch;
  const policy = {
    session: Number(branchRec?.fields.session_minutes ?? 60),
    cap: Number(branchRec?.fields.daily_cap_minutes ?? 120),
    express: Number(branchRec?.fields.express_minutes ?? 15),
    grace: Number(branchRec?.fields.grace_minutes ?? 10),
  };
  const model = useMemo(
    () => (day.data && day.data.date === date ? buildGrid(day.data, now, policy.grace) : null),
    [day.data, date, now, policy.grace],
  );

  // Keep the open booking's dialog in step with live changes (or close it if it vanished).
  const openLive = open ? (day.data?.bookings.find((b) => b.id === open.id) ?? open) : null;

  const bookSlot = (row: GridRow, col: number) => {
    if (!model) return;
    const start = model.slots[col];
    const end = defaultEnd(row, model, start, policy.session, policy.express);
    setCreating({ station: row.station.id, start: `${date}T${formatClock(start)}`, end: `${date}T${formatClock(end)}` });
  };

  const newBooking = () => {
    if (!model || model.rows.length === 0) {
      setCreating({ station: '', start: `${date}T${formatClock(Math.max(model?.open ?? 540, 0))}`, end: '' });
      return;
    }
    // The earliest free, bookable slot of any station.
    for (let i = 0; i < model.slots.length; i++) {
      if (model.past[i]) continue;
      const row = model.rows.find((r) => !r.outOfService && r.free[i]);
      if (row) return bookSlot(row, i);
    }
    setCreating({ station: model.rows[0].station.id, start: `${date}T${formatClock(model.open)}`, end: '' });
  };

  return (
    <section className="screen bookings" data-testid="bookings" data-ready={model ? 'true' : 'false'} aria-busy={!model}>
      <header className="screen-head">
        <h1>Bookings</h1>
        <div className="toolbar">
          <BranchPicker value={branch} onChange={setBranch} testId="grid-branch" />
          <button type="button" onClick={() => setDate(shiftDate(date, -1))} aria-label="Previous day">
            ‹ Prev
          </button>
          <span className="inline-field">
            <label htmlFor="grid-date">Day</label>
            <input
              id="grid-date"
              type="date"
              name="grid-date"
              value={date}
              data-testid="grid-date"
              onChange={(e) => e.target.value && setDate(e.target.value)}
            />
          </span>
          <button type="button" onClick={() => setDate(shiftDate(date, 1))} aria-label="Next day">
            Next ›
          </button>
          <button type="button" onClick={() => setDate(now.slice(0, 10))}>
            Today
          </button>
          <button type="button" className="primary" data-testid="new-booking" onClick={newBooking}>
            New booking
          </button>
        </div>
      </header>
      <p className="muted policy">
        {longDate(date)}
        {day.data?.hours ? ` · open ${day.data.hours[0]}–${day.data.hours[1]}` : ''} · sessions up to {policy.session} min
        (express {policy.express}) · {policy.cap} min a day per patron · no-show after {policy.grace} min
      </p>
      {day.error && (
        <p className="banner banner-bad" role="alert">
          {plainMessage(day.error)}
        </p>
      )}
      {!model && !day.error && <p className="loading">Loading bookings…</p>}
      {model?.closed && (
        <p className="banner banner-info" data-testid="grid-closed">
          {String(branchRec?.fields.name ?? branch)} is closed on {longDate(date)}.
        </p>
      )}
      {model && !model.closed && model.rows.length === 0 && <p className="muted">This branch has no bookable stations.</p>}
      {model && !model.closed && model.rows.length > 0 && (
        <>
          <div className="legend" aria-hidden="true">
            <span className="lg lg-free" /> free <span className="lg lg-booked" /> booked <span className="lg lg-in" /> checked in{' '}
            <span className="lg lg-past" /> past <span className="lg lg-clash" /> double booked
          </div>
          <BookingGrid key={`${branch}-${date}`} model={model} date={date} onSlot={bookSlot} onBooking={setOpen} />
        </>
      )}
      {model && model.inactive.length > 0 && (
        <details className="inactive">
          <summary>
            Cancelled and no-shows ({model.inactive.length})
          </summary>
          <ul className="plain">
            {model.inactive.map((b) => (
              <li key={b.id}>
                {data.nameOf('asset', String(b.fields.station))} {hhmm(String(b.fields.start))}–{hhmm(String(b.fields.end))}{' '}
                {patronText(b.fields.patron)} <StatusBadge status={String(b.fields.status)} />
              </li>
            ))}
          </ul>
        </details>
      )}
      {creating && (
        <Dialog title="New booking" onClose={() => setCreating(null)} testId="booking-form">
          <SchemaForm
            kind="booking"
            fields={['station', 'patron', 'start', 'end', 'source']}
            initial={{ station: creating.station, start: creating.start, end: creating.end, source: 'desk' }}
            labels={{ patron: 'Patron (library card or guest pass G-…)' }}
            refFilter={(r) => r.kind !== 'asset' || (r.fields.bookable === true && r.fields.branch === branch)}
            liveCheck
            autoFocus="patron"
            submitLabel="Book"
            onCancel={() => setCreating(null)}
            onSaved={(r) => {
              setCreating(null);
              notice.notify(
                `Booked ${data.nameOf('asset', String(r.fields.station))} ${hhmm(String(r.fields.start))}–${hhmm(String(r.fields.end))}.`,
              );
            }}
          />
        </Dialog>
      )}
      {openLive && <BookingActions booking={openLive} onClose={() => setOpen(null)} />}
    </section>
  );
}

export default Bookings;
