// Settings: this computer (read-only) and the branch's opening hours, closures and public
// PC booking policies.

import { useCallback, useEffect, useState } from 'react';
import { api } from '../api';
import type { AppInfo } from '../types';
import { useAppData } from '../lib/data';
import { DAY_NAMES, formatClock, parseClosures, parseHours } from '../lib/hours';
import type { InputValues } from '../lib/formValues';
import { SchemaForm } from '../components/SchemaForm';
import { useNotice } from '../components/Notice';
import { BranchPicker } from './Dashboard';

function HoursPreview({ hours, closures }: { hours: string; closures: string }) {
  const h = parseHours(hours);
  const c = parseClosures(closures);
  return (
    <div className="hours-preview" aria-live="polite">
      <h3>Opening hours as understood</h3>
      {h.ok ? (
        <table className="table compact">
          <tbody>
            {DAY_NAMES.map((d, i) => (
              <tr key={d}>
                <th scope="row">{d}</th>
                <td>{h.value[i] ? `${formatClock(h.value[i]![0])}–${formatClock(h.value[i]![1])}` : 'Closed'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p className="field-error">{h.error}</p>
      )}
      {c.ok ? (
        c.value.length > 0 && <p className="muted">Also closed on {c.value.join(', ')}.</p>
      ) : (
        <p className="field-error">{c.error}</p>
      )}
    </div>
  );
}

export function Settings() {
  const data = useAppData();
  const notice = useNotice();
  const [info, setInfo] = useState<AppInfo | null>(null);
  const [code, setCode] = useState(data.identity.branch);
  const [preview, setPreview] = useState({ hours: '', closures: '' });
  useEffect(() => {
    api.appInfo().then(setInfo, () => {});
  }, []);
  const branch = data.lists.branch.find((b) => b.fields.code === code) ?? null;
  const onValues = useCallback(
    (v: InputValues) => setPreview({ hours: String(v.hours ?? ''), closures: String(v.closures ?? '') }),
    [],
  );
  return (
    <section className="screen settings">
      <header className="screen-head">
        <h1>Settings</h1>
      </header>
      <div className="panels two">
        <section className="panel">
          <h2>This computer</h2>
          <dl className="field-list">
            <div>
              <dt>Library system</dt>
              <dd>{data.identity.system_name}</dd>
            </div>
            <div>
              <dt>Computer name</dt>
              <dd>{data.identity.device_name}</dd>
            </div>
            <div>
              <dt>Branch</dt>
              <dd>{data.identity.branch}</dd>
            </div>
            {info && (
              <div>
                <dt>Data folder</dt>
                <dd className="mono small">{info.data_dir}</dd>
              </div>
            )}
          </dl>
          <p className="muted small">A computer’s branch is set when it joins the library system.</p>
        </section>
        <section className="panel">
          <div className="panel-head">
            <h2>Branch hours and booking rules</h2>
            <BranchPicker value={code} onChange={setCode} testId="settings-branch" />
          </div>
          {!branch && <p className="loading">Loading…</p>}
          {branch && (
            <div className="settings-body">
              <SchemaForm
                key={branch.id}
                kind="branch"
                record={branch}
                fields={['name', 'address', 'phone', 'hours', 'closures', 'session_minutes', 'daily_cap_minutes', 'express_minutes', 'grace_minutes', 'book_ahead_days']}
                onValues={onValues}
                testId="branch-form"
                onSaved={() => notice.notify(`${branch.fields.name}: settings saved.`)}
              />
              <HoursPreview hours={preview.hours} closures={preview.closures} />
            </div>
          )}
        </section>
      </div>
    </section>
  );
}

export default Settings;
