// Transfers: equipment and supplies on their way between branches.

import { useMemo, useState } from 'react';
import { api } from '../api';
import type { RecordT } from '../types';
import { useAppData } from '../lib/data';
import { useLive } from '../lib/live';
import { wordsOf } from '../lib/format';
import { plainMessage } from '../lib/errors';
import { whenLocal } from '../lib/time';
import { VirtualTable, type Column } from '../components/VirtualTable';
import { BranchFilter, FilterSelect } from '../components/Toolbar';
import { StatusBadge } from '../components/Badge';
import { Dialog } from '../components/Dialog';
import { SchemaForm } from '../components/SchemaForm';
import { FieldList, HistoryList } from '../components/RecordView';
import { useNotice } from '../components/Notice';

const NEXT: Record<string, [string, string][]> = {
  prepared: [
    ['picked-up', 'Picked up'],
    ['in-transit', 'In transit'],
    ['received', 'Received'],
  ],
  'picked-up': [
    ['in-transit', 'In transit'],
    ['received', 'Received'],
  ],
  'in-transit': [['received', 'Received']],
};
const DONE = ['received', 'cancelled'];

function TransferDetail({ t, onClose }: { t: RecordT; onClose: () => void }) {
  const notice = useNotice();
  const [tab, setTab] = useState<'details' | 'history'>('details');
  const status = String(t.fields.status);
  const set = (s: string, words: string) =>
    api.update('transfer', t.id, { status: s }).then(() => notice.notify(`Transfer marked ${words.toLowerCase()}.`), notice.fail);
  return (
    <aside className="detail" aria-label="Transfer">
      <header className="detail-head">
        <div>
          <h2>
            {String(t.fields.from_branch)} → {String(t.fields.to_branch)}
          </h2>
          <StatusBadge status={status} />
        </div>
        <button type="button" className="icon-button" aria-label="Close details" onClick={onClose}>
          ×
        </button>
      </header>
      <div className="actions left">
        {(NEXT[status] ?? []).map(([s, words]) => (
          <button key={s} type="button" className={s === 'received' ? 'primary' : undefined} data-testid={`transfer-${s}`} onClick={() => void set(s, words)}>
            Mark {words.toLowerCase()}
          </button>
        ))}
        {!DONE.includes(status) && (
          <button type="button" className="danger" data-testid="transfer-cancel" onClick={() => void set('cancelled', 'Cancelled')}>
            Cancel transfer
          </button>
        )}
      </div>
      <div className="tabs" role="tablist" aria-label="Transfer">
        <button type="button" role="tab" aria-selected={tab === 'details'} className={tab === 'details' ? 'tab active' : 'tab'} onClick={() => setTab('details')}>
          Details
        </button>
        <button type="button" role="tab" aria-selected={tab === 'history'} className={tab === 'history' ? 'tab active' : 'tab'} onClick={() => setTab('history')}>
          History
        </button>
      </div>
      <div className="detail-body">
        {tab === 'details' && <FieldList record={t} />}
        {tab === 'history' && <HistoryList recordId={t.id} kind="transfer" />}
      </div>
    </aside>
  );
}

export function Transfers() {
  const data = useAppData();
  const notice = useNotice();
  const [branch, setBranch] = useState('');
  const [status, setStatus] = useState('open');
  const [selected, setSelected] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const list = useLive(['transfer'], () => api.list('transfer', {}), []);
  const rows = useMemo(
    () =>
      (list.data ?? [])
        .filter((t) => !branch || t.fields.from_branch === branch || t.fields.to_branch === branch)
        .filter((t) => (status === 'open' ? !DONE.includes(String(t.fields.status)) : !status || t.fields.status === status))
        .sort((a, b) => Number(b.fields.created_at ?? 0) - Number(a.fields.created_at ?? 0)),
    [list.data, branch, status],
  );
  const sel = (list.data ?? []).find((t) => t.id === selected) ?? null;
  const what = (t: RecordT) =>
    t.fields.asset ? data.nameOf('asset', String(t.fields.asset)) : `${t.fields.qty ?? ''} × ${data.nameOf('stock-item', String(t.fields.item ?? ''))}`;
  const columns: Column<RecordT>[] = [
    { key: 'route', label: 'From → to', width: '110px', render: (t) => <strong>{`${t.fields.from_branch} → ${t.fields.to_branch}`}</strong> },
    { key: 'what', label: 'What', width: '2fr', render: what },
    { key: 'status', label: 'Status', width: '120px', render: (t) => <StatusBadge status={String(t.fields.status)} /> },
    { key: 'carrier', label: 'Carried by', width: '1fr', render: (t) => data.nameOf('staff', t.fields.carried_by as string) },
    { key: 'created', label: 'Prepared', width: '150px', render: (t) => whenLocal(Number(t.fields.created_at ?? 0)) },
  ];
  const options = data.fieldDefs('transfer').find((d) => d.name === 'status')?.options ?? [];
  return (
    <section className="screen transfers fill">
      <header className="screen-head">
        <h1>Transfers</h1>
        <div className="toolbar">
          <BranchFilter value={branch} onChange={setBranch} />
          <FilterSelect
            id="status"
            label="Status"
            value={status}
            onChange={setStatus}
            all="All"
            options={[['open', 'Not yet received'], ...options.map((o): [string, string] => [o, wordsOf(o)])]}
          />
          <button type="button" className="primary" data-testid="new-transfer" onClick={() => setCreating(true)}>
            New transfer
          </button>
        </div>
      </header>
      {list.error && <p className="banner banner-bad">{plainMessage(list.error)}</p>}
      <div className="split">
        <div className="list-pane">
          <VirtualTable label="Transfers" rows={rows} columns={columns} selectedId={selected} onSelect={(r) => setSelected(r.id)} empty="No transfers." />
        </div>
        {sel && <TransferDetail key={sel.id} t={sel} onClose={() => setSelected(null)} />}
      </div>
      {creating && (
        <Dialog title="New transfer" onClose={() => setCreating(false)}>
          <p className="muted">Move one asset, or a quantity of one stock item.</p>
          <SchemaForm
            kind="transfer"
            fields={['asset', 'item', 'qty', 'from_branch', 'to_branch', 'carried_by', 'note']}
            initial={{ from_branch: data.identity.branch }}
            onCancel={() => setCreating(false)}
            onSaved={(r) => {
              setCreating(false);
              setSelected(r.id);
              notice.notify('Transfer prepared.');
            }}
          />
        </Dialog>
      )}
    </section>
  );
}

export default Transfers;
