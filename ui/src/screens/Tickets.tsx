// Tickets: computer problems and repairs, from "reported" to "solved".

import { useId, useMemo, useState } from 'react';
import { api } from '../api';
import type { AppError, Filter, RecordT } from '../types';
import { useAppData } from '../lib/data';
import { useLive } from '../lib/live';
import { useNav } from '../lib/nav';
import { now as clockNow } from '../lib/clock';
import { isoDateTime, shortDateTime } from '../lib/time';
import { wordsOf } from '../lib/format';
import { fieldMessage, plainMessage } from '../lib/errors';
import { VirtualTable, type Column } from '../components/VirtualTable';
import { BranchFilter, FilterSelect, SearchBox } from '../components/Toolbar';
import { Badge, StatusBadge } from '../components/Badge';
import { Tabs } from '../components/Tabs';
import { SchemaForm } from '../components/SchemaForm';
import { FieldList, HistoryList } from '../components/RecordView';
import { ReportProblem } from '../components/ReportProblem';
import { useNotice } from '../components/Notice';
import { toneOf } from '../lib/format';

const OPEN = ['new', 'assigned', 'waiting-parts', 'waiting-vendor'];
type View = 'work' | 'parts' | 'assign' | 'vendor' | 'resolve' | 'edit' | 'history';

function WorkLog({ ticket }: { ticket: RecordT }) {
  const data = useAppData();
  const notice = useNotice();
  const id = useId().replace(/:/g, '');
  const [minutes, setMinutes] = useState('');
  const [text, setText] = useState('');
  const [error, setError] = useState<AppError | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const m = minutes.trim() === '' ? 0 : Number(minutes);
      if (!Number.isInteger(m) || m < 0) throw { code: 'invalid', message: 'must be a whole number of minutes', field: 'minutes' };
      await api.addWork(ticket.id, m, text);
      setMinutes('');
      setText('');
      notice.notify('Work logged.');
    } catch (err) {
      setError(err as AppError);
    } finally {
      setBusy(false);
    }
  };
  const fe = (n: string) => (error?.field === n ? fieldMessage(error) : null);
  const entries = [...(ticket.work ?? [])].reverse();
  return (
    <>
      <form className="schema-form" onSubmit={submit} noValidate>
        <div className="fields">
          <div className={`field field-wide${fe('text') ? ' has-error' : ''}`}>
            <label htmlFor={`${id}-text`}>What was done</label>
            <textarea id={`${id}-text`} name="text" rows={3} value={text} onChange={(e) => setText(e.target.value)} />
            {fe('text') && (
              <p className="field-error" data-testid="field-error-text">
                {fe('text')}
              </p>
            )}
          </div>
          <div className={`field${fe('minutes') ? ' has-error' : ''}`}>
            <label htmlFor={`${id}-min`}>Minutes spent</label>
            <input id={`${id}-min`} name="minutes" type="number" min={0} step={1} value={minutes} onChange={(e) => setMinutes(e.target.value)} />
            {fe('minutes') && (
              <p className="field-error" data-testid="field-error-minutes">
                {fe('minutes')}
              </p>
            )}
          </div>
        </div>
        {error && !error.field && (
          <p className="form-error" role="alert" data-testid="form-error">
            {plainMessage(error)}
          </p>
        )}
        <div className="actions">
          <button type="submit" className="primary" disabled={busy} data-testid="form-submit">
            Add to work log
          </button>
        </div>
      </form>
      <ol className="history" aria-label="Work log">
        {entries.map((w, i) => (
          <li key={i}>
            <div className="history-head">
              <strong>{shortDateTime(String(w.at ?? ''))}</strong>
              <span className="muted">
                {data.nameOf('staff', (w.staff as string) ?? null) || 'someone'}
                {w.device ? ` on ${data.nameOf('device', String(w.device))}` : ''} · {String(w.minutes ?? 0)} min
              </span>
            </div>
            <div className="pre">{String(w.text ?? '')}</div>
          </li>
        ))}
        {entries.length === 0 && <li className="muted">Nothing logged yet.</li>}
      </ol>
    </>
  );
}

function PartsUsed({ ticket }: { ticket: RecordT }) {
  const data = useAppData();
  const notice = useNotice();
  const id = useId().replace(/:/g, '');
  const [item, setItem] = useState('');
  const [qty, setQty] = useState('1');
  const [error, setError] = useState<AppError | null>(null);
  const parts = useLive(['movement'], () => api.list('movement', { fields: [['ticket', ticket.id]] }), [ticket.id]);
  const levels = useLive(['movement'], () => api.stockLevels(String(ticket.fields.branch ?? '')), [ticket.fields.branch]);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      if (!item) throw { code: 'invalid', message: 'choose the part that was used', field: 'item' };
      await api.usePart(ticket.id, item, Number(qty));
      notice.notify('Part recorded and taken out of stock.');
      setQty('1');
    } catch (err) {
      setError(err as AppError);
    }
  };
  const fe = (n: string) => (error?.field === n ? fieldMessage(error) : null);
  return (
    <>
      <ul className="plain">
        {(parts.data ?? []).map((m) => (
          <li key={m.id} className={m.fields.cancelled === true ? 'struck' : undefined}>
            {String(m.fields.qty)} × {data.nameOf('stock-item', String(m.fields.item))} from {String(m.fields.branch)}
          </li>
        ))}
        {(parts.data ?? []).length === 0 && <li className="muted">No parts used yet.</li>}
      </ul>
      <form className="schema-form" onSubmit={submit} noValidate>
        <div className="fields">
          <div className={`field${fe('item') ? ' has-error' : ''}`}>
            <label htmlFor={`${id}-item`}>Part or supply</label>
            <select id={`${id}-item`} name="item" value={item} onChange={(e) => setItem(e.target.value)}>
              <option value="">Choose…</option>
              {data.lists['stock-item']
                .filter((s) => s.fields.retired !== true)
                .map((s) => {
                  const lvl = levels.data?.find((l) => l.item === s.id)?.level ?? 0;
                  return (
                    <option key={s.id} value={s.id}>
                      {String(s.fields.name)} ({lvl} in stock)
                    </option>
                  );
                })}
            </select>
            {fe('item') && (
              <p className="field-error" data-testid="field-error-item">
                {fe('item')}
              </p>
            )}
          </div>
          <div className={`field${fe('qty') ? ' has-error' : ''}`}>
            <label htmlFor={`${id}-qty`}>Quantity</label>
            <input id={`${id}-qty`} name="qty" type="number" min={1} step={1} value={qty} onChange={(e) => setQty(e.target.value)} />
            {fe('qty') && (
              <p className="field-error" data-testid="field-error-qty">
                {fe('qty')}
              </p>
            )}
          </div>
        </div>
        {error && !['item', 'qty'].includes(error.field ?? '') && (
          <p className="form-error" role="alert" data-testid="form-error">
            {plainMessage(error)}
          </p>
        )}
        <div className="actions">
          <button type="submit" className="primary" data-testid="form-submit">
            Record part used
          </button>
        </div>
      </form>
    </>
  );
}

function TicketDetail({ ticket, onClose }: { ticket: RecordT; onClose: () => void }) {
  const data = useAppData();
  const notice = useNotice();
  const status = String(ticket.fields.status);
  const isOpen = OPEN.includes(status);
  const [view, setView] = useState<View>(isOpen ? 'work' : 'history');
  const stamp = () => isoDateTime(clockNow());
  const close = () =>
    api.update('ticket', ticket.id, { status: 'closed', closed_at: stamp() }).then(() => notice.notify(`Ticket ${ticket.fields.number} closed.`), notice.fail);
  const reopen = () => api.update('ticket', ticket.id, { status: 'assigned' }).then(() => notice.notify('Ticket reopened.'), notice.fail);
  const tabs: { id: View; label: string }[] = [
    { id: 'work', label: 'Work log' },
    { id: 'parts', label: 'Parts used' },
    { id: 'assign', label: 'Assign' },
    { id: 'vendor', label: 'Vendor repair' },
    { id: 'resolve', label: 'Resolve' },
    { id: 'edit', label: 'Edit' },
    { id: 'history', label: 'History' },
  ];
  return (
    <aside className="detail" aria-label={`Ticket ${ticket.fields.number}`}>
      <header className="detail-head">
        <div>
          <h2>
            {String(ticket.fields.number ?? '')} <span className="muted">· {String(ticket.fields.summary ?? '')}</span>
          </h2>
          <StatusBadge status={status} /> <Badge tone={toneOf(String(ticket.fields.urgency))}>{wordsOf(String(ticket.fields.urgency ?? 'normal'))} urgency</Badge>{' '}
          <span className="muted">
            {String(ticket.fields.branch)}
            {ticket.fields.asset ? ` · ${data.nameOf('asset', String(ticket.fields.asset))}` : ''} · opened {shortDateTime(String(ticket.fields.opened_at ?? ''))}
          </span>
        </div>
        <button type="button" className="icon-button" aria-label="Close details" onClick={onClose}>
          ×
        </button>
      </header>
      <FieldList record={ticket} only={['assignee', 'reported_by', 'category', 'description', 'vendor', 'vendor_cost', 'warranty', 'resolution', 'solved_at']} />
      <div className="actions left">
        {status === 'solved' && (
          <button type="button" onClick={() => void close()} data-testid="ticket-close">
            Close ticket
          </button>
        )}
        {!isOpen && (
          <button type="button" onClick={() => void reopen()}>
            Reopen
          </button>
        )}
      </div>
      <Tabs label="Ticket" value={view} onChange={setView} tabs={tabs} />
      <div className="detail-body">
        {view === 'work' && <WorkLog ticket={ticket} />}
        {view === 'parts' && <PartsUsed ticket={ticket} />}
        {view === 'assign' && (
          <SchemaForm
            kind="ticket"
            record={ticket}
            fields={['assignee', 'urgency']}
            labels={{ assignee: 'Assign to' }}
            refFilter={(r) => r.kind !== 'staff' || ['technician', 'coordinator', 'head-of-technology', 'head-of-systems'].includes(String(r.fields.role))}
            submitLabel="Assign"
            save={(f) => api.update('ticket', ticket.id, { ...f, ...(status === 'new' && f.assignee ? { status: 'assigned' } : {}) })}
            onSaved={(r) => notice.notify(`Assigned to ${data.nameOf('staff', r.fields.assignee as string)}.`)}
          />
        )}
        {view === 'vendor' && (
          <SchemaForm
            kind="ticket"
            record={ticket}
            fields={['vendor', 'vendor_cost', 'warranty']}
            submitLabel="Send to vendor"
            save={(f) => api.update('ticket', ticket.id, { ...f, status: 'waiting-vendor' })}
            onSaved={() => notice.notify('Ticket is waiting for the vendor.')}
          />
        )}
        {view === 'resolve' && (
          <SchemaForm
            kind="ticket"
            record={ticket}
            fields={['resolution', 'out_of_service_minutes']}
            labels={{ resolution: 'How it was fixed' }}
            submitLabel="Mark as solved"
            save={(f) => api.update('ticket', ticket.id, { ...f, status: 'solved', solved_at: stamp() })}
            onSaved={(r) => notice.notify(`Ticket ${r.fields.number} solved.`)}
          />
        )}
        {view === 'edit' && <SchemaForm kind="ticket" record={ticket} columns={2} onSaved={() => notice.notify('Ticket saved.')} />}
        {view === 'history' && <HistoryList recordId={ticket.id} kind="ticket" />}
      </div>
    </aside>
  );
}

export function Tickets() {
  const data = useAppData();
  const nav = useNav();
  const [search, setSearch] = useState('');
  const [branch, setBranch] = useState(nav.params.branch ?? '');
  const [status, setStatus] = useState(nav.params.id ? 'all' : 'open');
  const [selected, setSelected] = useState<string | null>(nav.params.id ?? null);
  const [creating, setCreating] = useState(!!nav.params.create);

  const filter: Filter = useMemo(
    () => ({
      ...(branch ? { branch } : {}),
      ...(search ? { search } : {}),
      ...(status && status !== 'open' && status !== 'all' ? { fields: [['status', status]] as [string, string][] } : {}),
    }),
    [branch, search, status],
  );
  const list = useLive(['ticket'], () => api.list('ticket', filter), [filter]);
  const rank: Record<string, number> = { critical: 0, high: 1, normal: 2, low: 3 };
  const rows = useMemo(
    () =>
      (list.data ?? [])
        .filter((t) => status !== 'open' || OPEN.includes(String(t.fields.status)))
        .sort(
          (a, b) =>
            (OPEN.includes(String(b.fields.status)) ? 1 : 0) - (OPEN.includes(String(a.fields.status)) ? 1 : 0) ||
            (rank[String(a.fields.urgency)] ?? 2) - (rank[String(b.fields.urgency)] ?? 2) ||
            String(b.fields.opened_at ?? '').localeCompare(String(a.fields.opened_at ?? '')),
        ),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [list.data, status],
  );
  const sel = (list.data ?? []).find((r) => r.id === selected) ?? null;
  const statuses = data.fieldDefs('ticket').find((d) => d.name === 'status')?.options ?? [];

  const allColumns: Column<RecordT>[] = [
    { key: 'number', label: 'Number', width: '100px', render: (r) => <strong>{String(r.fields.number ?? '')}</strong> },
    { key: 'status', label: 'Status', width: '130px', render: (r) => <StatusBadge status={String(r.fields.status)} /> },
    { key: 'urgency', label: 'Urgency', width: '80px', render: (r) => wordsOf(String(r.fields.urgency ?? '')) },
    { key: 'summary', label: 'Summary', width: '3fr', render: (r) => String(r.fields.summary ?? '') },
    { key: 'asset', label: 'Asset', width: '110px', render: (r) => data.nameOf('asset', r.fields.asset as string) },
    { key: 'assignee', label: 'Assigned', width: '1fr', render: (r) => data.nameOf('staff', r.fields.assignee as string) },
    { key: 'opened', label: 'Opened', width: '110px', render: (r) => shortDateTime(String(r.fields.opened_at ?? '')) },
  ];
  // With the detail panel open the list is narrow: keep the columns that identify a ticket.
  const columns = sel ? allColumns.filter((c) => ['number', 'status', 'summary', 'asset'].includes(c.key)) : allColumns;

  return (
    <section className="screen tickets fill">
      <header className="screen-head">
        <h1>Tickets</h1>
        <div className="toolbar">
          <SearchBox onSearch={setSearch} placeholder="Search tickets…" />
          <BranchFilter value={branch} onChange={setBranch} />
          <FilterSelect
            id="status"
            label="Status"
            value={status === 'all' ? '' : status}
            onChange={(v) => setStatus(v || 'all')}
            all="All statuses"
            options={[['open', 'Open (not solved)'], ...statuses.map((s): [string, string] => [s, wordsOf(s)])]}
          />
          <button type="button" className="primary" data-testid="new-ticket" onClick={() => setCreating(true)}>
            Report a problem
          </button>
        </div>
      </header>
      {list.error && <p className="banner banner-bad">{plainMessage(list.error)}</p>}
      <div className="split">
        <div className="list-pane">
          <p className="muted count-line">{list.data ? `${rows.length} tickets` : 'Loading…'}</p>
          <VirtualTable label="Tickets" rows={rows} columns={columns} selectedId={selected} onSelect={(r) => setSelected(r.id)} empty="No tickets match." />
        </div>
        {sel && <TicketDetail key={sel.id} ticket={sel} onClose={() => setSelected(null)} />}
      </div>
      {creating && (
        <ReportProblem
          initial={{ branch: branch || data.identity.branch, urgency: 'normal', ...(nav.params.create ?? {}) }}
          onClose={() => setCreating(false)}
          onSaved={(r) => setSelected(r.id)}
        />
      )}
    </section>
  );
}

export default Tickets;
