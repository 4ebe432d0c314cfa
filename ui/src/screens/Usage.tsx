// Daily use counts: per branch and day, how many sessions, prints, Wi-Fi and microform uses.

import { useMemo, useState } from 'react';
import { api } from '../api';
import type { RecordT } from '../types';
import { useAppData } from '../lib/data';
import { useLive } from '../lib/live';
import { useNav } from '../lib/nav';
import { now as clockNow } from '../lib/clock';
import { isoDate, longDate, shiftDate, shortDate } from '../lib/time';
import { plainMessage } from '../lib/errors';
import { VirtualTable, type Column } from '../components/VirtualTable';
import { Badge } from '../components/Badge';
import { Dialog } from '../components/Dialog';
import { SchemaForm } from '../components/SchemaForm';
import { UsageChart } from '../components/UsageChart';
import { useNotice } from '../components/Notice';
import { BranchPicker } from './Dashboard';

const COUNTS = ['sessions', 'minutes', 'walkups', 'bookings', 'no_shows', 'print_bw', 'print_colour', 'wifi_sessions', 'microform_uses'];
const SHORT: Record<string, string> = {
  sessions: 'Sessions',
  minutes: 'Minutes',
  walkups: 'Walk-ups',
  bookings: 'Booked',
  no_shows: 'No-shows',
  print_bw: 'B&W pages',
  print_colour: 'Colour pages',
  wifi_sessions: 'Wi-Fi',
  microform_uses: 'Microform',
};

export function Usage() {
  const data = useAppData();
  const nav = useNav();
  const notice = useNotice();
  const today = isoDate(clockNow());
  const [branch, setBranch] = useState(nav.params.branch ?? data.identity.branch);
  const [days, setDays] = useState(30);
  const [editing, setEditing] = useState<RecordT | null>(null);
  const [creating, setCreating] = useState(false);
  const from = shiftDate(today, -days);
  const list = useLive(['usage'], () => api.list('usage', { branch, from_day: from, to_day: today }), [branch, from, today]);
  const rows = useMemo(
    () =>
      (list.data ?? [])
        .filter((r) => r.fields.retired !== true)
        .sort((a, b) => String(b.fields.date).localeCompare(String(a.fields.date)) || String(a.fields.station).localeCompare(String(b.fields.station))),
    [list.data],
  );
  const hasToday = rows.some((r) => r.fields.date === today);
  const columns: Column<RecordT>[] = [
    { key: 'date', label: 'Day', width: '100px', render: (r) => <strong>{shortDate(String(r.fields.date))}</strong> },
    { key: 'station', label: 'Station / pool', width: '90px', render: (r) => String(r.fields.station ?? 'pool') },
    ...COUNTS.map((c): Column<RecordT> => ({ key: c, label: SHORT[c], width: '1fr', align: 'right', render: (r) => String(r.fields[c] ?? 0) })),
    { key: 'estimate', label: 'Kind', width: '80px', render: (r) => (r.fields.estimate === true ? <Badge tone="warn">Estimate</Badge> : 'Count') },
  ];
  return (
    <section className="screen usage fill">
      <header className="screen-head">
        <h1>Daily use</h1>
        <div className="toolbar">
          <BranchPicker value={branch} onChange={setBranch} testId="usage-branch" />
          <span className="inline-field">
            <label htmlFor="usage-days">Show</label>
            <select id="usage-days" value={days} onChange={(e) => setDays(Number(e.target.value))}>
              <option value={7}>last 7 days</option>
              <option value={30}>last 30 days</option>
              <option value={90}>last 90 days</option>
            </select>
          </span>
          <button type="button" className="primary" data-testid="new-usage" onClick={() => setCreating(true)}>
            Enter today’s counts
          </button>
        </div>
      </header>
      {!hasToday && list.data && <p className="banner banner-info">No counts entered for today yet.</p>}
      {list.error && <p className="banner banner-bad">{plainMessage(list.error)}</p>}
      <UsageChart records={rows} from={shiftDate(today, -Math.min(days, 31))} to={today} />
      <VirtualTable label="Daily use counts" rows={rows} columns={columns} onSelect={setEditing} empty="No counts in this period." />
      {creating && (
        <Dialog title={`Daily use · ${branch}`} onClose={() => setCreating(false)} wide>
          <SchemaForm
            kind="usage"
            columns={2}
            initial={{ branch, date: today, station: 'pool' }}
            onCancel={() => setCreating(false)}
            onSaved={(r) => {
              setCreating(false);
              notice.notify(`Counts for ${longDate(String(r.fields.date))} saved.`);
            }}
          />
        </Dialog>
      )}
      {editing && (
        <Dialog title={`Daily use · ${editing.fields.branch} · ${longDate(String(editing.fields.date))}`} onClose={() => setEditing(null)} wide>
          <SchemaForm
            kind="usage"
            record={editing}
            columns={2}
            onCancel={() => setEditing(null)}
            onSaved={() => {
              setEditing(null);
              notice.notify('Counts updated.');
            }}
          />
        </Dialog>
      )}
    </section>
  );
}

export default Usage;
