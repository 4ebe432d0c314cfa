// Inventory: equipment (assets), software licences and stock (supplies and spare parts).

import { useId, useMemo, useState } from 'react';
import { api } from '../api';
import type { AppError, Filter, RecordT, StockLevel } from '../types';
import { useAppData } from '../lib/data';
import { useLive } from '../lib/live';
import { useNav } from '../lib/nav';
import { displayValue, wordsOf } from '../lib/format';
import { plainMessage, fieldMessage } from '../lib/errors';
import { Tabs } from '../components/Tabs';
import { VirtualTable, type Column } from '../components/VirtualTable';
import { BranchFilter, FilterSelect, SearchBox } from '../components/Toolbar';
import { Badge, StatusBadge } from '../components/Badge';
import { Dialog } from '../components/Dialog';
import { SchemaForm } from '../components/SchemaForm';
import { FieldList, HistoryList } from '../components/RecordView';
import { ReportProblem, ticketFromAsset } from '../components/ReportProblem';
import { useNotice } from '../components/Notice';

type Tab = 'assets' | 'licences' | 'stock';
type DetailView = 'details' | 'edit' | 'history';

function DetailTabs({ view, onChange, extra = [] }: { view: string; onChange: (v: DetailView) => void; extra?: { id: string; label: string }[] }) {
  return (
    <Tabs
      label="Record"
      value={view as DetailView}
      onChange={onChange}
      tabs={[{ id: 'details', label: 'Details' }, { id: 'edit', label: 'Edit' }, ...(extra as { id: DetailView; label: string }[]), { id: 'history', label: 'History' }]}
    />
  );
}

// --- assets ---------------------------------------------------------------------------

function MoveAsset({ asset, onClose }: { asset: RecordT; onClose: () => void }) {
  const data = useAppData();
  const notice = useNotice();
  const id = useId().replace(/:/g, '');
  const from = String(asset.fields.branch ?? '');
  const [to, setTo] = useState('');
  const [location, setLocation] = useState('');
  const [how, setHow] = useState<'transfer' | 'now'>('transfer');
  const [carrier, setCarrier] = useState('');
  const [error, setError] = useState<AppError | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (how === 'now') {
        await api.update('asset', asset.id, { branch: to || null, location: location.trim() || null });
        notice.notify(`${asset.fields.tag} is now at ${to}.`);
      } else {
        await api.create('transfer', {
          asset: asset.id,
          from_branch: from,
          to_branch: to || null,
          ...(carrier ? { carried_by: carrier } : {}),
        });
        notice.notify(`Transfer of ${asset.fields.tag} from ${from} to ${to} prepared.`);
      }
      onClose();
    } catch (err) {
      setError(err as AppError);
    } finally {
      setBusy(false);
    }
  };
  const errFor = (...names: string[]) => (error && error.field && names.includes(error.field) ? fieldMessage(error) : null);
  const toErr = errFor('branch', 'to_branch');
  return (
    <Dialog title={`Move ${asset.fields.tag} to another branch`} onClose={onClose}>
      <form className="schema-form" onSubmit={submit} noValidate>
        <div className="fields">
          <div className={`field${toErr ? ' has-error' : ''}`}>
            <label htmlFor={`${id}-to`}>To branch</label>
            <select id={`${id}-to`} name="to_branch" value={to} onChange={(e) => setTo(e.target.value)} aria-invalid={toErr ? true : undefined}>
              <option value="">Choose a branch…</option>
              {data.activeBranches
                .filter((b) => b.fields.code !== from)
                .map((b) => (
                  <option key={b.id} value={String(b.fields.code)}>
                    {String(b.fields.code)} · {String(b.fields.name)}
                  </option>
                ))}
            </select>
            {toErr && (
              <p className="field-error" data-testid="field-error-to_branch">
                {toErr}
              </p>
            )}
          </div>
          <fieldset className="field">
            <legend>How</legend>
            <span className="check">
              <input type="radio" id={`${id}-t`} name="how" value="transfer" checked={how === 'transfer'} onChange={() => setHow('transfer')} />
              <label htmlFor={`${id}-t`}>Send it as a transfer (someone carries it; it is in transit until received)</label>
            </span>
            <span className="check">
              <input type="radio" id={`${id}-n`} name="how" value="now" checked={how === 'now'} onChange={() => setHow('now')} />
              <label htmlFor={`${id}-n`}>It is already there: change its branch now</label>
            </span>
          </fieldset>
          {how === 'transfer' ? (
            <div className="field">
              <label htmlFor={`${id}-c`}>Carried by</label>
              <select id={`${id}-c`} name="carried_by" value={carrier} onChange={(e) => setCarrier(e.target.value)}>
                <option value="">—</option>
                {data.lists.staff
                  .filter((s) => s.fields.retired !== true)
                  .map((s) => (
                    <option key={s.id} value={s.id}>
                      {String(s.fields.name)}
                    </option>
                  ))}
              </select>
            </div>
          ) : (
            <div className="field">
              <label htmlFor={`${id}-l`}>Location in the new branch</label>
              <input id={`${id}-l`} name="location" value={location} onChange={(e) => setLocation(e.target.value)} placeholder="e.g. Gateway Center" />
            </div>
          )}
        </div>
        {error && (
          <p className="form-error" role="alert" data-testid="form-error">
            {plainMessage(error)}
          </p>
        )}
        <div className="actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy || !to} data-testid="form-submit">
            {how === 'now' ? 'Move now' : 'Prepare transfer'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function AssetDetail({ asset, onClose }: { asset: RecordT; onClose: () => void }) {
  const [view, setView] = useState<DetailView>('details');
  const [reporting, setReporting] = useState(false);
  const [moving, setMoving] = useState(false);
  const nav = useNav();
  const tickets = useLive(['ticket'], () => api.list('ticket', { fields: [['asset', asset.id]] }), [asset.id]);
  const open = (tickets.data ?? []).filter((t) => !['solved', 'closed'].includes(String(t.fields.status)));
  return (
    <aside className="detail" aria-label={`Asset ${asset.fields.tag}`}>
      <header className="detail-head">
        <div>
          <h2>
            {String(asset.fields.tag)} <span className="muted">· {String(asset.fields.name)}</span>
          </h2>
          <StatusBadge status={String(asset.fields.status)} /> <span className="muted">{String(asset.fields.branch)} {asset.fields.location ? `· ${asset.fields.location}` : ''}</span>
        </div>
        <button type="button" className="icon-button" aria-label="Close details" onClick={onClose}>
          ×
        </button>
      </header>
      <div className="actions left">
        <button type="button" className="primary" data-testid="report-problem" onClick={() => setReporting(true)}>
          Report problem
        </button>
        <button type="button" data-testid="move-asset" onClick={() => setMoving(true)}>
          Move to branch
        </button>
      </div>
      {open.length > 0 && (
        <p className="banner banner-warn">
          Open tickets:{' '}
          {open.map((t) => (
            <button key={t.id} type="button" className="link" onClick={() => nav.go('tickets', { id: t.id })}>
              {String(t.fields.number)} {String(t.fields.summary)}
            </button>
          ))}
        </p>
      )}
      <DetailTabs view={view} onChange={setView} />
      <div className="detail-body">
        {view === 'details' && <FieldList record={asset} skip={['tag']} />}
        {view === 'edit' && <SchemaForm kind="asset" record={asset} columns={2} onSaved={() => setView('details')} />}
        {view === 'history' && <HistoryList recordId={asset.id} kind="asset" />}
      </div>
      {reporting && <ReportProblem initial={ticketFromAsset(asset)} onClose={() => setReporting(false)} />}
      {moving && <MoveAsset asset={asset} onClose={() => setMoving(false)} />}
    </aside>
  );
}

function Assets({ initialId }: { initialId?: string }) {
  const data = useAppData();
  const notice = useNotice();
  const [search, setSearch] = useState('');
  const [branch, setBranch] = useState('');
  const [category, setCategory] = useState('');
  const [status, setStatus] = useState('');
  const [selected, setSelected] = useState<string | null>(initialId ?? null);
  const [creating, setCreating] = useState(false);
  const defs = data.fieldDefs('asset');
  const opts = (n: string) => defs.find((d) => d.name === n)?.options ?? [];

  const filter: Filter = useMemo(() => {
    const fields: [string, string][] = [];
    if (category) fields.push(['category', category]);
    if (status) fields.push(['status', status]);
    return { ...(branch ? { branch } : {}), ...(search ? { search } : {}), ...(fields.length ? { fields } : {}) };
  }, [branch, search, category, status]);
  const list = useLive(['asset'], () => api.list('asset', filter), [filter]);
  const rows = useMemo(
    () =>
      [...(list.data ?? [])]
        .filter((r) => status || r.fields.status !== 'retired')
        .sort((a, b) => String(a.fields.tag).localeCompare(String(b.fields.tag))),
    [list.data, status],
  );
  const sel = rows.find((r) => r.id === selected) ?? (list.data ?? []).find((r) => r.id === selected) ?? null;

  const columns: Column<RecordT>[] = [
    { key: 'tag', label: 'Tag', width: '120px', render: (r) => <strong>{String(r.fields.tag)}</strong> },
    { key: 'name', label: 'Name', width: '2fr', render: (r) => String(r.fields.name ?? '') },
    { key: 'category', label: 'Category', width: '1fr', render: (r) => wordsOf(String(r.fields.category ?? '')) },
    { key: 'status', label: 'Status', width: '1fr', render: (r) => <StatusBadge status={String(r.fields.status ?? '')} /> },
    { key: 'branch', label: 'Branch', width: '70px', render: (r) => String(r.fields.branch ?? '') },
    { key: 'location', label: 'Location', width: '1fr', render: (r) => String(r.fields.location ?? '') },
  ];

  return (
    <div className="split">
      <div className="list-pane">
        <div className="toolbar">
          <SearchBox onSearch={setSearch} placeholder="Search tag, name, serial…" />
          <BranchFilter value={branch} onChange={setBranch} />
          <FilterSelect id="category" label="Category" value={category} onChange={setCategory} options={opts('category')} all="All categories" />
          <FilterSelect id="status" label="Status" value={status} onChange={setStatus} options={opts('status')} all="All but retired" />
          <button type="button" className="primary" data-testid="new-asset" onClick={() => setCreating(true)}>
            New asset
          </button>
        </div>
        {list.error && <p className="banner banner-bad">{plainMessage(list.error)}</p>}
        <p className="muted count-line" aria-live="polite">
          {list.data ? `${rows.length} assets` : 'Loading…'}
        </p>
        <VirtualTable label="Assets" rows={rows} columns={columns} selectedId={selected} onSelect={(r) => setSelected(r.id)} empty="No assets match." />
      </div>
      {sel && <AssetDetail key={sel.id} asset={sel} onClose={() => setSelected(null)} />}
      {creating && (
        <Dialog title="New asset" onClose={() => setCreating(false)} wide>
          <SchemaForm
            kind="asset"
            columns={2}
            initial={{ branch: branch || data.identity.branch, status: 'deployed' }}
            onCancel={() => setCreating(false)}
            onSaved={(r) => {
              setCreating(false);
              setSelected(r.id);
              notice.notify(`Asset ${r.fields.tag} added.`);
            }}
          />
        </Dialog>
      )}
    </div>
  );
}

// --- licences -------------------------------------------------------------------------

function LicenceDetail({ licence, onClose }: { licence: RecordT; onClose: () => void }) {
  const data = useAppData();
  const notice = useNotice();
  const [view, setView] = useState<DetailView | 'seats'>('details');
  const seats = useLive(['seat'], () => api.list('seat', { fields: [['licence', licence.id]] }), [licence.id]);
  const used = (seats.data ?? []).filter((s) => s.fields.retired !== true);
  const total = Number(licence.fields.seats ?? 0);
  return (
    <aside className="detail" aria-label={`Licence ${licence.fields.product}`}>
      <header className="detail-head">
        <div>
          <h2>{String(licence.fields.product)}</h2>
          <span className="muted">
            {used.length} of {total} seats used
          </span>
        </div>
        <button type="button" className="icon-button" aria-label="Close details" onClick={onClose}>
          ×
        </button>
      </header>
      <DetailTabs view={view} onChange={setView} extra={[{ id: 'seats', label: 'Seats' }]} />
      <div className="detail-body">
        {view === 'details' && <FieldList record={licence} skip={['product']} />}
        {view === 'edit' && <SchemaForm kind="licence" record={licence} onSaved={() => setView('details')} />}
        {view === 'history' && <HistoryList recordId={licence.id} kind="licence" />}
        {view === 'seats' && (
          <>
            <ul className="plain">
              {used.map((s) => (
                <li key={s.id}>
                  {data.nameOf('asset', String(s.fields.asset))}{' '}
                  <button
                    type="button"
                    className="link"
                    onClick={() => api.retire('seat', s.id).then(() => notice.notify('Seat released.'), notice.fail)}
                  >
                    Release
                  </button>
                </li>
              ))}
              {used.length === 0 && <li className="muted">No seats assigned.</li>}
            </ul>
            <h3>Assign a seat</h3>
            <SchemaForm kind="seat" fields={['asset']} fixed={{ licence: licence.id }} submitLabel="Assign" onSaved={() => notice.notify('Seat assigned.')} />
          </>
        )}
      </div>
    </aside>
  );
}

function Licences() {
  const notice = useNotice();
  const [search, setSearch] = useState('');
  const [selected, setSelected] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const list = useLive(['licence'], () => api.list('licence', search ? { search } : {}), [search]);
  const rows = useMemo(() => [...(list.data ?? [])].sort((a, b) => String(a.fields.product).localeCompare(String(b.fields.product))), [list.data]);
  const data = useAppData();
  const sel = rows.find((r) => r.id === selected) ?? null;
  const today = new Date().toISOString().slice(0, 10);
  const columns: Column<RecordT>[] = [
    { key: 'product', label: 'Product', width: '2fr', render: (r) => <strong>{String(r.fields.product)}</strong> },
    { key: 'seats', label: 'Seats', width: '80px', align: 'right', render: (r) => String(r.fields.seats ?? '') },
    { key: 'vendor', label: 'Vendor', width: '1.5fr', render: (r) => data.nameOf('vendor', r.fields.vendor as string) },
    {
      key: 'expiry',
      label: 'Expires',
      width: '1fr',
      render: (r) => {
        const e = String(r.fields.expiry ?? '');
        if (!e) return '';
        return e < today ? <Badge tone="bad">Expired {e}</Badge> : e;
      },
    },
    { key: 'retired', label: 'State', width: '90px', render: (r) => (r.fields.retired === true ? <Badge tone="neutral">Retired</Badge> : '') },
  ];
  return (
    <div className="split">
      <div className="list-pane">
        <div className="toolbar">
          <SearchBox onSearch={setSearch} placeholder="Search licences…" />
          <button type="button" className="primary" data-testid="new-licence" onClick={() => setCreating(true)}>
            New licence
          </button>
        </div>
        <VirtualTable label="Licences" rows={rows} columns={columns} selectedId={selected} onSelect={(r) => setSelected(r.id)} empty="No licences." />
      </div>
      {sel && <LicenceDetail key={sel.id} licence={sel} onClose={() => setSelected(null)} />}
      {creating && (
        <Dialog title="New licence" onClose={() => setCreating(false)}>
          <SchemaForm
            kind="licence"
            onCancel={() => setCreating(false)}
            onSaved={(r) => {
              setCreating(false);
              setSelected(r.id);
              notice.notify(`Licence ${r.fields.product} added.`);
            }}
          />
        </Dialog>
      )}
    </div>
  );
}

// --- stock ----------------------------------------------------------------------------

function StockDetail({ item, levels, onClose }: { item: RecordT; levels: StockLevel[]; onClose: () => void }) {
  const data = useAppData();
  const notice = useNotice();
  const [view, setView] = useState<DetailView | 'levels'>('levels');
  const moves = useLive(['movement'], () => api.list('movement', { fields: [['item', item.id]] }), [item.id]);
  const mine = levels.filter((l) => l.item === item.id).sort((a, b) => a.branch.localeCompare(b.branch));
  const recent = [...(moves.data ?? [])]
    .sort((a, b) => Number(b.fields.created_at ?? 0) - Number(a.fields.created_at ?? 0))
    .slice(0, 15);
  return (
    <aside className="detail" aria-label={`Stock item ${item.fields.name}`}>
      <header className="detail-head">
        <div>
          <h2>{String(item.fields.name)}</h2>
          <span className="muted">
            {wordsOf(String(item.fields.kind ?? ''))} · reorder below {String(item.fields.reorder_level ?? 0)}
          </span>
        </div>
        <button type="button" className="icon-button" aria-label="Close details" onClick={onClose}>
          ×
        </button>
      </header>
      <DetailTabs view={view} onChange={setView} extra={[{ id: 'levels', label: 'Levels & movements' }]} />
      <div className="detail-body">
        {view === 'levels' && (
          <>
            <table className="table compact">
              <caption className="sr-only">Levels per branch</caption>
              <thead>
                <tr>
                  <th>Branch</th>
                  <th className="num">Level</th>
                  <th>State</th>
                </tr>
              </thead>
              <tbody>
                {mine.map((l) => (
                  <tr key={l.branch}>
                    <td>{l.branch}</td>
                    <td className="num">{l.level}</td>
                    <td>{l.level < 0 ? <Badge tone="bad">Below zero</Badge> : l.below_reorder ? <Badge tone="warn">Reorder</Badge> : <Badge tone="ok">OK</Badge>}</td>
                  </tr>
                ))}
                {mine.length === 0 && (
                  <tr>
                    <td colSpan={3} className="muted">
                      Not stocked anywhere yet.
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
            <h3>Receive or issue</h3>
            <SchemaForm
              kind="movement"
              fields={['branch', 'kind', 'qty', 'asset', 'note']}
              fixed={{ item: item.id }}
              initial={{ branch: data.identity.branch, kind: 'receive' }}
              labels={{ kind: 'What happened', asset: 'Issued to asset (optional)' }}
              submitLabel="Record"
              testId="movement-form"
              onSaved={(r) => notice.notify(`${wordsOf(String(r.fields.kind))} of ${r.fields.qty} recorded at ${r.fields.branch}.`)}
            />
            <h3>Recent movements</h3>
            <ul className="plain small">
              {recent.map((m) => (
                <li key={m.id} className={m.fields.cancelled === true ? 'struck' : undefined}>
                  {m.fields.branch} · {wordsOf(String(m.fields.kind))} {String(m.fields.qty)}
                  {m.fields.note ? ` · ${m.fields.note}` : ''}
                  {m.fields.cancelled === true ? ' (reversed)' : ''}
                </li>
              ))}
            </ul>
          </>
        )}
        {view === 'details' && <FieldList record={item} skip={['name']} />}
        {view === 'edit' && <SchemaForm kind="stock-item" record={item} onSaved={() => setView('details')} />}
        {view === 'history' && <HistoryList recordId={item.id} kind="stock-item" />}
      </div>
    </aside>
  );
}

function Stock() {
  const notice = useNotice();
  const [search, setSearch] = useState('');
  const [branch, setBranch] = useState('');
  const [lowOnly, setLowOnly] = useState(false);
  const [selected, setSelected] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const items = useLive(['stock-item'], () => api.list('stock-item', search ? { search } : {}), [search]);
  const levels = useLive(['movement', 'stock-item'], () => api.stockLevels(null), []);
  const all = levels.data ?? [];
  const rows = useMemo(() => {
    const out = (items.data ?? [])
      .filter((i) => i.fields.retired !== true)
      .map((i) => {
        const ls = all.filter((l) => l.item === i.id && (!branch || l.branch === branch));
        return { id: i.id, item: i, level: ls.reduce((n, l) => n + l.level, 0), low: ls.filter((l) => l.below_reorder).map((l) => l.branch) };
      })
      .filter((r) => !lowOnly || r.low.length > 0);
    return out.sort((a, b) => String(a.item.fields.name).localeCompare(String(b.item.fields.name)));
  }, [items.data, all, branch, lowOnly]);
  const sel = rows.find((r) => r.id === selected)?.item ?? null;
  type Row = (typeof rows)[number];
  const columns: Column<Row>[] = [
    { key: 'name', label: 'Item', width: '2fr', render: (r) => <strong>{String(r.item.fields.name)}</strong> },
    { key: 'kind', label: 'Kind', width: '1fr', render: (r) => wordsOf(String(r.item.fields.kind ?? '')) },
    { key: 'part', label: 'Part number', width: '1fr', render: (r) => displayValue(undefined, r.item.fields.part_number) },
    { key: 'level', label: branch ? `Level at ${branch}` : 'Level, all branches', width: '1fr', align: 'right', render: (r) => String(r.level) },
    {
      key: 'low',
      label: 'Below reorder level',
      width: '1.5fr',
      render: (r) => (r.low.length ? <Badge tone="warn">Low at {r.low.join(', ')}</Badge> : <span className="muted">—</span>),
    },
  ];
  return (
    <div className="split">
      <div className="list-pane">
        <div className="toolbar">
          <SearchBox onSearch={setSearch} placeholder="Search supplies and parts…" />
          <BranchFilter value={branch} onChange={setBranch} />
          <span className="check">
            <input type="checkbox" id="low-only" checked={lowOnly} onChange={(e) => setLowOnly(e.target.checked)} />
            <label htmlFor="low-only">Only below reorder level</label>
          </span>
          <button type="button" className="primary" data-testid="new-stock-item" onClick={() => setCreating(true)}>
            New stock item
          </button>
        </div>
        <VirtualTable label="Stock items" rows={rows} columns={columns} selectedId={selected} onSelect={(r) => setSelected(r.id)} empty="No stock items match." />
      </div>
      {sel && <StockDetail key={sel.id} item={sel} levels={all} onClose={() => setSelected(null)} />}
      {creating && (
        <Dialog title="New stock item" onClose={() => setCreating(false)}>
          <SchemaForm
            kind="stock-item"
            onCancel={() => setCreating(false)}
            onSaved={(r) => {
              setCreating(false);
              setSelected(r.id);
              notice.notify(`${r.fields.name} added. Record a receipt to give it a level.`);
            }}
          />
        </Dialog>
      )}
    </div>
  );
}

export function Inventory() {
  const nav = useNav();
  const [tab, setTab] = useState<Tab>((nav.params.tab as Tab) ?? 'assets');
  return (
    <section className="screen inventory fill">
      <header className="screen-head">
        <h1>Inventory</h1>
        <Tabs
          label="Inventory"
          value={tab}
          onChange={setTab}
          tabs={[
            { id: 'assets', label: 'Assets' },
            { id: 'licences', label: 'Licences' },
            { id: 'stock', label: 'Stock' },
          ]}
        />
      </header>
      <div role="tabpanel" aria-labelledby={`tab-${tab}`} className="tabpanel">
        {tab === 'assets' && <Assets initialId={nav.params.id} />}
        {tab === 'licences' && <Licences />}
        {tab === 'stock' && <Stock />}
      </div>
    </section>
  );
}

export default Inventory;
