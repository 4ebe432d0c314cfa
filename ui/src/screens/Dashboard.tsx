// The branch at a glance: is it open, which PCs are free, what needs doing, who to call,
// and whether this computer is in touch with the others.

import { useEffect, useState } from 'react';
import { api } from '../api';
import type { Dashboard as DashboardT, PeerStatus, RecordT } from '../types';
import { useAppData } from '../lib/data';
import { afterPaint, useEvent, useLive } from '../lib/live';
import { markReady } from '../lib/ready';
import { useNav } from '../lib/nav';
import { ago, hhmm, isoDate, longDate, shiftDate } from '../lib/time';
import { plural, wordsOf } from '../lib/format';
import { plainMessage } from '../lib/errors';
import { Badge, StatusBadge } from '../components/Badge';
import { UsageChart } from '../components/UsageChart';

const KINDS = ['booking', 'ticket', 'movement', 'stock-item', 'task', 'task-run', 'oncall', 'branch', 'asset', 'device'];

let readySent = false;

/** Tell the shell (and the end-to-end test) when the first dashboard can be used. */
function announceReady() {
  if (readySent) return;
  readySent = true;
  window.__blReady = true;
  markReady();
  void api.uiReady(performance.now()).catch(() => {
    /* older shells may not know ui_ready; nothing depends on the answer */
  });
}

export function BranchPicker({
  value,
  onChange,
  testId,
  label = 'Branch',
}: {
  value: string;
  onChange: (code: string) => void;
  testId?: string;
  label?: string;
}) {
  const data = useAppData();
  const id = `branch-pick-${testId ?? 'x'}`;
  return (
    <span className="inline-field">
      <label htmlFor={id}>{label}</label>
      <select id={id} name="branch-picker" value={value} onChange={(e) => onChange(e.target.value)} data-testid={testId}>
        {data.activeBranches.map((b) => (
          <option key={b.id} value={String(b.fields.code)}>
            {String(b.fields.code)} · {String(b.fields.name)}
          </option>
        ))}
        {!data.activeBranches.some((b) => b.fields.code === value) && <option value={value}>{value}</option>}
      </select>
    </span>
  );
}

function SyncBadge({ d, peers }: { d: DashboardT['sync']; peers: PeerStatus[] | null }) {
  const connected = peers ? peers.filter((p) => p.connected).length : d.connected;
  const waiting = peers ? peers.reduce((n, p) => n + p.docs_waiting, 0) : d.waiting;
  const last = peers
    ? peers.reduce<number | null>((m, p) => (p.last_synced && (!m || p.last_synced > m) ? p.last_synced : m), d.last_synced)
    : d.last_synced;
  const tone = connected > 0 ? (waiting > 0 ? 'warn' : 'ok') : d.known > 0 ? 'bad' : 'neutral';
  const text =
    connected > 0
      ? `Connected to ${plural(connected, 'device')}`
      : d.known > 0
        ? 'Not connected to any other device'
        : 'No other devices yet';
  return (
    <div className="sync-health" data-testid="sync-health">
      <Badge tone={tone}>{text}</Badge>
      <span className="muted">Last synced {ago(last)}</span>
      {waiting > 0 && <span className="muted">{plural(waiting, 'document')} waiting to sync</span>}
    </div>
  );
}

function StationList({ stations }: { stations: DashboardT['stations'] }) {
  return (
    <ul className="station-list" aria-label="Stations">
      {stations.map((s) => {
        const out = s.status !== 'deployed';
        const state = out ? wordsOf(s.status) : s.now ? `In use until ${hhmm(String(s.now.fields.end))}` : 'Free';
        const tone = out ? 'warn' : s.now ? 'info' : 'ok';
        return (
          <li key={s.id} className={`station station-${tone}`}>
            <span className="station-tag">
              {s.tag}
              {s.express && <span className="muted"> · express</span>}
            </span>
            <span className="station-state">{state}</span>
            {!out && s.next && <span className="muted station-next">next {hhmm(String(s.next.fields.start))}</span>}
          </li>
        );
      })}
    </ul>
  );
}

export function Dashboard() {
  const data = useAppData();
  const nav = useNav();
  const [branch, setBranch] = useState(nav.params.branch ?? data.identity.branch);
  const dash = useLive(KINDS, () => api.dashboard(branch, null), [branch]);
  const [peers, setPeers] = useState<PeerStatus[] | null>(null);
  const [conflicts, setConflicts] = useState<number | null>(null);
  useEvent('sync', setPeers);
  useEvent('conflicts', (p) => setConflicts(p.count));
  const today = dash.data?.date ?? isoDate(new Date());
  const usage = useLive(
    ['usage'],
    () => api.list('usage', { branch, from_day: shiftDate(today, -14), to_day: today }),
    [branch, today],
  );

  // "Free now" goes stale as the clock moves: look again every minute.
  const reload = dash.reload;
  useEffect(() => {
    const t = setInterval(reload, 60_000);
    return () => clearInterval(t);
  }, [reload]);

  const ready = !!dash.data;
  useEffect(() => {
    if (ready) return afterPaint(announceReady);
  }, [ready]);

  const d = dash.data;
  const staffName = (id: unknown) => data.nameOf('staff', typeof id === 'string' ? id : null);
  const inUse = d ? d.stations.filter((s) => s.now).length : 0;
  const out = d ? d.stations.filter((s) => s.status !== 'deployed').length : 0;
  const free = d ? d.stations.length - inUse - out : 0;
  const conflictCount = conflicts ?? d?.conflicts ?? 0;

  return (
    <section className="screen dashboard" data-testid="dashboard" data-ready={ready ? 'true' : 'false'} aria-busy={!ready}>
      <header className="screen-head">
        <h1>{d ? String(d.branch.fields.name) : 'Dashboard'}</h1>
        <div className="toolbar">
          <BranchPicker value={branch} onChange={setBranch} testId="dashboard-branch" />
        </div>
      </header>
      {dash.error && (
        <p className="banner banner-bad" role="alert">
          {plainMessage(dash.error)}
        </p>
      )}
      {!d && !dash.error && <p className="loading">Loading the dashboard…</p>}
      {d && (
        <>
          <div className="cards">
            <article className="card">
              <h2>Today</h2>
              <p className="big">{d.hours_today ? `${d.hours_today[0]}–${d.hours_today[1]}` : 'Closed'}</p>
              <p className="muted">
                {longDate(d.date)} · now {hhmm(d.now)}
              </p>
            </article>
            <article className="card">
              <h2>Public PCs now</h2>
              <p className="big">
                <span data-testid="stations-free">{free}</span> free · <span data-testid="stations-in-use">{inUse}</span> in use
              </p>
              <p className="muted">{out > 0 ? `${plural(out, 'station')} out of service` : `${plural(d.stations.length, 'station')}`}</p>
            </article>
            <article className="card">
              <h2>Bookings today</h2>
              <p className="big" data-testid="bookings-today">
                {d.bookings_today}
              </p>
              <button type="button" className="link" onClick={() => nav.go('bookings', { branch })}>
                Open the booking grid
              </button>
            </article>
            <article className="card">
              <h2>Open tickets</h2>
              <p className="big" data-testid="open-tickets">
                {d.open_tickets.length}
              </p>
              <button type="button" className="link" onClick={() => nav.go('tickets', { branch })}>
                See tickets
              </button>
            </article>
            <article className={`card${conflictCount > 0 ? ' card-warn' : ''}`}>
              <h2>Conflicts</h2>
              <p className="big" data-testid="conflict-count">
                {conflictCount}
              </p>
              <button type="button" className="link" onClick={() => nav.go('conflicts')}>
                {conflictCount > 0 ? 'Settle conflicts' : 'Nothing to settle'}
              </button>
            </article>
            <article className="card">
              <h2>Sync</h2>
              <SyncBadge d={d.sync} peers={peers} />
              <button type="button" className="link" onClick={() => nav.go('sync')}>
                Devices &amp; sync
              </button>
            </article>
          </div>

          <div className="panels">
            <article className="panel">
              <h2>Stations</h2>
              {d.stations.length === 0 ? <p className="muted">This branch has no bookable PCs.</p> : <StationList stations={d.stations} />}
            </article>
            <article className="panel">
              <h2>On call now</h2>
              {d.oncall.length === 0 ? (
                <p className="muted">Nobody is on call right now.</p>
              ) : (
                <ul className="plain">
                  {d.oncall.map((o) => (
                    <li key={o.id}>
                      <strong>{staffName(o.fields.staff)}</strong>
                      {o.fields.phone ? ` · ${String(o.fields.phone)}` : ''}
                      <span className="muted"> until {String(o.fields.end).replace('T', ' ')}</span>
                    </li>
                  ))}
                </ul>
              )}
              <h2>Tickets</h2>
              <TicketMini tickets={d.open_tickets} onOpen={(id) => nav.go('tickets', { id })} />
            </article>
            <article className="panel">
              <h2>Stock below reorder level</h2>
              {d.low_stock.length === 0 ? (
                <p className="muted">All supplies are above their reorder level.</p>
              ) : (
                <ul className="plain">
                  {d.low_stock.map((l) => (
                    <li key={l.item + l.branch}>
                      <Badge tone="warn">Low</Badge> {l.item_name}: {l.level} left (reorder at {l.reorder_level})
                    </li>
                  ))}
                </ul>
              )}
              <h2>Maintenance &amp; backups due</h2>
              {d.tasks_due.length === 0 ? (
                <p className="muted">Nothing due in the next 7 days.</p>
              ) : (
                <ul className="plain">
                  {d.tasks_due.map((t) => (
                    <li key={t.id}>
                      <Badge tone={String(t.fields.next_due) <= d.date ? 'warn' : 'info'}>
                        {String(t.fields.next_due) < d.date ? 'Overdue' : String(t.fields.next_due) === d.date ? 'Today' : 'Due'}
                      </Badge>{' '}
                      {String(t.fields.title)} <span className="muted">· {String(t.fields.next_due)}</span>
                    </li>
                  ))}
                </ul>
              )}
            </article>
          </div>
          <article className="panel">
            <h2>PC sessions, last 14 days</h2>
            <UsageChart records={usage.data ?? []} from={shiftDate(d.date, -14)} to={shiftDate(d.date, -1)} />
          </article>
        </>
      )}
    </section>
  );
}

function TicketMini({ tickets, onOpen }: { tickets: RecordT[]; onOpen: (id: string) => void }) {
  if (tickets.length === 0) return <p className="muted">No open tickets.</p>;
  const rank: Record<string, number> = { critical: 0, high: 1, normal: 2, low: 3 };
  const top = [...tickets]
    .sort((a, b) => (rank[String(a.fields.urgency)] ?? 2) - (rank[String(b.fields.urgency)] ?? 2))
    .slice(0, 5);
  return (
    <ul className="plain">
      {top.map((t) => (
        <li key={t.id}>
          <button type="button" className="link" onClick={() => onOpen(t.id)}>
            {String(t.fields.number)} {String(t.fields.summary)}
          </button>{' '}
          <StatusBadge status={String(t.fields.status)} />
        </li>
      ))}
    </ul>
  );
}

export default Dashboard;
