// Schedules: who is on call, training sessions, and the recurring maintenance and backup
// tasks with their runs.

import { useMemo, useState } from 'react';
import { api } from '../api';
import type { RecordT } from '../types';
import { useAppData } from '../lib/data';
import { useLive } from '../lib/live';
import { useNav } from '../lib/nav';
import { now as clockNow } from '../lib/clock';
import { isoDate, isoDateTime, shiftDate, shortDateTime } from '../lib/time';
import { wordsOf } from '../lib/format';
import { plainMessage } from '../lib/errors';
import { Tabs } from '../components/Tabs';
import { VirtualTable, type Column } from '../components/VirtualTable';
import { Badge, StatusBadge } from '../components/Badge';
import { Dialog } from '../components/Dialog';
import { SchemaForm } from '../components/SchemaForm';
import { HistoryList } from '../components/RecordView';
import { useNotice } from '../components/Notice';

type Tab = 'oncall' | 'training' | 'tasks';

function EditDialog({ kind, record, title, onClose }: { kind: string; record: RecordT; title: string; onClose: () => void }) {
  const notice = useNotice();
  const data = useAppData();
  const retireField = data.kindDef(kind)?.retire;
  const retired = retireField ? record.fields[retireField] === true : false;
  return (
    <Dialog title={title} onClose={onClose}>
      <SchemaForm kind={kind} record={record} onCancel={onClose} onSaved={() => (notice.notify('Saved.'), onClose())} />
      {retireField && !retired && (
        <div className="actions left">
          <button
            type="button"
            className="danger"
            onClick={() =>
              api.retire(kind, record.id).then(() => {
                notice.notify('Cancelled.');
                onClose();
              }, notice.fail)
            }
          >
            Cancel this {kind === 'oncall' ? 'shift' : 'session'}
          </button>
        </div>
      )}
    </Dialog>
  );
}

function OnCall() {
  const data = useAppData();
  const notice = useNotice();
  const nowS = isoDateTime(clockNow());
  const from = shiftDate(nowS.slice(0, 10), -14);
  const list = useLive(['oncall'], () => api.list('oncall', { from_day: from }), [from]);
  const [editing, setEditing] = useState<RecordT | null>(null);
  const [creating, setCreating] = useState(false);
  const rows = useMemo(() => [...(list.data ?? [])].sort((a, b) => String(a.fields.start).localeCompare(String(b.fields.start))), [list.data]);
  const columns: Column<RecordT>[] = [
    {
      key: 'staff',
      label: 'On call',
      width: '1.5fr',
      render: (r) => (
        <>
          <strong>{data.nameOf('staff', r.fields.staff as string)}</strong>{' '}
          {r.fields.cancelled === true ? (
            <Badge tone="neutral">Cancelled</Badge>
          ) : String(r.fields.start) <= nowS && nowS < String(r.fields.end) ? (
            <Badge tone="ok">Now</Badge>
          ) : null}
        </>
      ),
    },
    { key: 'branches', label: 'Branches', width: '1fr', render: (r) => String(r.fields.branches ?? '').replace(/,/g, ', ') },
    { key: 'start', label: 'From', width: '1fr', render: (r) => shortDateTime(String(r.fields.start)) },
    { key: 'end', label: 'Until', width: '1fr', render: (r) => shortDateTime(String(r.fields.end)) },
    { key: 'phone', label: 'Phone', width: '1fr', render: (r) => String(r.fields.phone ?? '') },
  ];
  return (
    <>
      <div className="toolbar">
        <button type="button" className="primary" data-testid="new-oncall" onClick={() => setCreating(true)}>
          New on-call shift
        </button>
      </div>
      {list.error && <p className="banner banner-bad">{plainMessage(list.error)}</p>}
      <VirtualTable label="On-call shifts" rows={rows} columns={columns} onSelect={setEditing} empty="No shifts planned." />
      {creating && (
        <Dialog title="New on-call shift" onClose={() => setCreating(false)}>
          <SchemaForm
            kind="oncall"
            initial={{ branches: data.activeBranches.map((b) => String(b.fields.code)).join(',') }}
            onCancel={() => setCreating(false)}
            onSaved={() => (setCreating(false), notice.notify('Shift added.'))}
          />
        </Dialog>
      )}
      {editing && <EditDialog kind="oncall" record={editing} title="On-call shift" onClose={() => setEditing(null)} />}
    </>
  );
}

function Training() {
  const data = useAppData();
  const notice = useNotice();
  const list = useLive(['training'], () => api.list('training', {}), []);
  const [editing, setEditing] = useState<RecordT | null>(null);
  const [creating, setCreating] = useState(false);
  const rows = useMemo(() => [...(list.data ?? [])].sort((a, b) => String(b.fields.start).localeCompare(String(a.fields.start))), [list.data]);
  const columns: Column<RecordT>[] = [
    {
      key: 'title',
      label: 'Title',
      width: '2fr',
      render: (r) => (
        <>
          <strong>{String(r.fields.title)}</strong> {r.fields.cancelled === true && <Badge tone="neutral">Cancelled</Badge>}
        </>
      ),
    },
    { key: 'branch', label: 'Branch', width: '80px', render: (r) => String(r.fields.branch ?? '') },
    { key: 'start', label: 'When', width: '1fr', render: (r) => shortDateTime(String(r.fields.start)) },
    { key: 'trainer', label: 'Trainer', width: '1fr', render: (r) => data.nameOf('staff', r.fields.trainer as string) },
    { key: 'attendees', label: 'Attendees', width: '90px', align: 'right', render: (r) => String(r.fields.attendees ?? 0) },
  ];
  return (
    <>
      <div className="toolbar">
        <button type="button" className="primary" data-testid="new-training" onClick={() => setCreating(true)}>
          New training session
        </button>
      </div>
      {list.error && <p className="banner banner-bad">{plainMessage(list.error)}</p>}
      <VirtualTable label="Training sessions" rows={rows} columns={columns} onSelect={setEditing} empty="No training sessions." />
      {creating && (
        <Dialog title="New training session" onClose={() => setCreating(false)}>
          <SchemaForm
            kind="training"
            initial={{ branch: data.identity.branch }}
            onCancel={() => setCreating(false)}
            onSaved={() => (setCreating(false), notice.notify('Training session added.'))}
          />
        </Dialog>
      )}
      {editing && <EditDialog kind="training" record={editing} title="Training session" onClose={() => setEditing(null)} />}
    </>
  );
}

function TaskDetail({ task, onClose }: { task: RecordT; onClose: () => void }) {
  const data = useAppData();
  const notice = useNotice();
  const [view, setView] = useState<'runs' | 'edit' | 'history'>('runs');
  const runs = useLive(['task-run'], () => api.list('task-run', { fields: [['task', task.id]] }), [task.id]);
  const sorted = [...(runs.data ?? [])].sort((a, b) => String(b.fields.date).localeCompare(String(a.fields.date))).slice(0, 30);
  const backup = task.fields.kind === 'backup';
  return (
    <aside className="detail" aria-label={`Task ${task.fields.title}`}>
      <header className="detail-head">
        <div>
          <h2>{String(task.fields.title)}</h2>
          <span className="muted">
            {wordsOf(String(task.fields.kind))} · {String(task.fields.rule)} · next due {String(task.fields.next_due)}
          </span>
        </div>
        <button type="button" className="icon-button" aria-label="Close details" onClick={onClose}>
          ×
        </button>
      </header>
      <Tabs
        label="Task"
        value={view}
        onChange={setView}
        tabs={[
          { id: 'runs', label: 'Runs' },
          { id: 'edit', label: 'Edit' },
          { id: 'history', label: 'History' },
        ]}
      />
      <div className="detail-body">
        {view === 'runs' && (
          <>
            <h3>Record a run</h3>
            <SchemaForm
              kind="task-run"
              fields={backup ? ['date', 'staff', 'result', 'media', 'size_mb', 'restore_verified', 'notes'] : ['date', 'staff', 'result', 'notes']}
              fixed={{ task: task.id }}
              initial={{ date: isoDate(clockNow()), result: 'ok' }}
              labels={{ staff: 'Done by' }}
              submitLabel="Record run"
              testId="task-run-form"
              onSaved={(r) => notice.notify(`Run on ${r.fields.date} recorded; the next due date moves on.`)}
            />
            <h3>Recent runs</h3>
            <table className="table compact">
              <thead>
                <tr>
                  <th>Date</th>
                  <th>Result</th>
                  <th>By</th>
                  {backup && <th>Restore verified</th>}
                </tr>
              </thead>
              <tbody>
                {sorted.map((r) => (
                  <tr key={r.id}>
                    <td>{String(r.fields.date)}</td>
                    <td>
                      <StatusBadge status={String(r.fields.result)} />
                    </td>
                    <td>{data.nameOf('staff', r.fields.staff as string)}</td>
                    {backup && <td>{r.fields.restore_verified === true ? 'Yes' : 'No'}</td>}
                  </tr>
                ))}
                {sorted.length === 0 && (
                  <tr>
                    <td colSpan={4} className="muted">
                      No runs recorded.
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
          </>
        )}
        {view === 'edit' && (
          <SchemaForm kind="task" record={task} onSaved={() => setView('runs')} />
        )}
        {view === 'history' && <HistoryList recordId={task.id} kind="task" />}
      </div>
    </aside>
  );
}

function Tasks() {
  const data = useAppData();
  const notice = useNotice();
  const today = isoDate(clockNow());
  const list = useLive(['task'], () => api.list('task', {}), []);
  const [selected, setSelected] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const rows = useMemo(
    () => (list.data ?? []).filter((t) => t.fields.retired !== true).sort((a, b) => String(a.fields.next_due).localeCompare(String(b.fields.next_due))),
    [list.data],
  );
  const sel = rows.find((t) => t.id === selected) ?? null;
  const columns: Column<RecordT>[] = [
    { key: 'title', label: 'Task', width: '2fr', render: (r) => <strong>{String(r.fields.title)}</strong> },
    { key: 'kind', label: 'Kind', width: '1fr', render: (r) => wordsOf(String(r.fields.kind)) },
    { key: 'rule', label: 'Repeats', width: '1fr', render: (r) => String(r.fields.rule) },
    {
      key: 'due',
      label: 'Next due',
      width: '1.2fr',
      render: (r) => {
        const d = String(r.fields.next_due);
        return d < today ? <Badge tone="bad">Overdue · {d}</Badge> : d === today ? <Badge tone="warn">Today</Badge> : d <= shiftDate(today, 7) ? <Badge tone="info">{d}</Badge> : d;
      },
    },
    { key: 'branch', label: 'Branch', width: '70px', render: (r) => String(r.fields.branch ?? 'All') },
    { key: 'assignee', label: 'Assigned', width: '1fr', render: (r) => data.nameOf('staff', r.fields.assignee as string) },
  ];
  return (
    <>
      <div className="toolbar">
        <button type="button" className="primary" data-testid="new-task" onClick={() => setCreating(true)}>
          New recurring task
        </button>
      </div>
      {list.error && <p className="banner banner-bad">{plainMessage(list.error)}</p>}
      <div className="split">
        <div className="list-pane">
          <VirtualTable label="Recurring tasks" rows={rows} columns={columns} selectedId={selected} onSelect={(r) => setSelected(r.id)} empty="No recurring tasks." />
        </div>
        {sel && <TaskDetail key={sel.id} task={sel} onClose={() => setSelected(null)} />}
      </div>
      {creating && (
        <Dialog title="New recurring task" onClose={() => setCreating(false)}>
          <SchemaForm
            kind="task"
            initial={{ branch: data.identity.branch, next_due: today }}
            onCancel={() => setCreating(false)}
            onSaved={(r) => (setCreating(false), setSelected(r.id), notice.notify('Task added.'))}
          />
        </Dialog>
      )}
    </>
  );
}

export function Schedules() {
  const nav = useNav();
  const [tab, setTab] = useState<Tab>((nav.params.tab as Tab) ?? 'oncall');
  return (
    <section className="screen schedules fill">
      <header className="screen-head">
        <h1>Schedules</h1>
        <Tabs
          label="Schedules"
          value={tab}
          onChange={setTab}
          tabs={[
            { id: 'oncall', label: 'On-call' },
            { id: 'training', label: 'Training' },
            { id: 'tasks', label: 'Maintenance & backups' },
          ]}
        />
      </header>
      <div role="tabpanel" aria-labelledby={`tab-${tab}`} className="tabpanel">
        {tab === 'oncall' && <OnCall />}
        {tab === 'training' && <Training />}
        {tab === 'tasks' && <Tasks />}
      </div>
    </section>
  );
}

export default Schedules;
