// Devices & sync: which other computers this one talks to, whether changes are flowing,
// why not when they are not, and enrolling or revoking devices.

import { useEffect, useId, useRef, useState } from 'react';
import QRCode from 'qrcode';
import { api } from '../api';
import type { AppError, Invite, PeerStatus, RecordT } from '../types';
import { useAppData } from '../lib/data';
import { useEvent, useLive } from '../lib/live';
import { ago, whenLocal } from '../lib/time';
import { formatBytes, plural, wordsOf } from '../lib/format';
import { fieldMessage, plainMessage, syncReason } from '../lib/errors';
import { Badge } from '../components/Badge';
import { Confirm } from '../components/Dialog';
import { useNotice } from '../components/Notice';

export function PeerCard({ p }: { p: PeerStatus }) {
  const reason = !p.connected || p.last_error ? syncReason(p.last_error) : null;
  const state = p.connected ? (p.caught_up && p.docs_waiting === 0 ? 'Connected, up to date' : 'Connected, syncing') : 'Not connected';
  return (
    <li className={`peer ${p.connected ? 'peer-up' : 'peer-down'}`} data-testid="peer" data-connected={p.connected ? 'true' : 'false'} data-device={p.device_id}>
      <div className="peer-head">
        <strong>{p.name || p.device_id.slice(0, 8)}</strong>
        <span className="muted mono">{p.addr}</span>
        <Badge tone={p.connected ? (p.docs_waiting > 0 ? 'warn' : 'ok') : 'bad'}>{state}</Badge>
      </div>
      <div className="peer-stats">
        <span>Last synced {ago(p.last_synced)}</span>
        <span>{p.docs_waiting > 0 ? `${plural(p.docs_waiting, 'document')} waiting` : 'Nothing waiting'}</span>
        <span>
          Changes sent {p.changes_sent ?? 0} · received {p.changes_received}
        </span>
        <span>
          Data sent {formatBytes(p.bytes_sent)} · received {formatBytes(p.bytes_received)}
        </span>
      </div>
      {reason && (
        <p className="peer-reason" data-testid="peer-reason">
          {reason}
        </p>
      )}
    </li>
  );
}

function InvitePanel() {
  const id = useId().replace(/:/g, '');
  const [role, setRole] = useState<'peer' | 'authority'>('peer');
  const [hours, setHours] = useState(24);
  const [invite, setInvite] = useState<Invite | null>(null);
  const [svg, setSvg] = useState('');
  const [error, setError] = useState<AppError | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!invite) return;
    let live = true;
    QRCode.toString(invite.code, { type: 'svg', margin: 1, errorCorrectionLevel: 'M' }).then(
      (s) => live && setSvg(s),
      () => live && setSvg(''),
    );
    return () => {
      live = false;
    };
  }, [invite]);

  const make = async () => {
    setBusy(true);
    setError(null);
    try {
      setInvite(await api.invite(role, hours));
    } catch (e) {
      setError(e as AppError);
    } finally {
      setBusy(false);
    }
  };
  // The shell sends an RFC 3339 time ("2026-11-24T10:07:00+01:00"); show it in local words.
  const expiresMs = invite ? (typeof invite.expires === 'number' ? invite.expires : Date.parse(invite.expires)) : NaN;
  const expires = invite ? (Number.isNaN(expiresMs) ? String(invite.expires) : whenLocal(expiresMs)) : '';

  return (
    <section className="panel">
      <h2>Invite a device</h2>
      <p className="muted">On the new computer, choose “Join a library system” and type or scan this code.</p>
      <div className="toolbar">
        <span className="inline-field">
          <label htmlFor={`${id}-role`}>It will be</label>
          <select id={`${id}-role`} name="role" value={role} onChange={(e) => setRole(e.target.value as 'peer' | 'authority')}>
            <option value="peer">a branch computer (peer)</option>
            <option value="authority">able to invite others too (authority)</option>
          </select>
        </span>
        <span className="inline-field">
          <label htmlFor={`${id}-hours`}>Code valid for</label>
          <select id={`${id}-hours`} name="expiresHours" value={hours} onChange={(e) => setHours(Number(e.target.value))}>
            <option value={1}>1 hour</option>
            <option value={24}>24 hours</option>
            <option value={72}>3 days</option>
            <option value={168}>7 days</option>
          </select>
        </span>
        <button type="button" className="primary" data-testid="invite" disabled={busy} onClick={() => void make()}>
          {busy ? 'Creating…' : 'Create invite code'}
        </button>
      </div>
      {error && (
        <p className="form-error" role="alert" data-testid="form-error">
          {plainMessage(error)}
        </p>
      )}
      {invite && (
        <div className="invite">
          <div>
            <p className="invite-code mono" data-testid="invite-code">
              {invite.code}
            </p>
            <p className="muted">Valid until {expires}. It can be used once.</p>
            <button
              type="button"
              onClick={() => {
                void navigator.clipboard?.writeText(invite.code);
              }}
            >
              Copy code
            </button>
          </div>
          {svg && <div className="qr" role="img" aria-label="QR code of the invite code" dangerouslySetInnerHTML={{ __html: svg }} />}
        </div>
      )}
    </section>
  );
}

function AddPeer() {
  const id = useId().replace(/:/g, '');
  const notice = useNotice();
  const [addr, setAddr] = useState('');
  const [error, setError] = useState<AppError | null>(null);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await api.addPeer(addr.trim());
      notice.notify(`Added ${addr.trim()}. Branchline will try to connect.`);
      setAddr('');
    } catch (err) {
      setError(err as AppError);
    }
  };
  const fe = error && (error.field === 'addr' || error.code === 'invalid') ? fieldMessage({ ...error, field: 'addr' }, 'Address') : null;
  return (
    <form className="schema-form inline-form" onSubmit={submit} noValidate>
      <div className={`field${fe ? ' has-error' : ''}`}>
        <label htmlFor={`${id}-addr`}>Add a peer address</label>
        <input id={`${id}-addr`} name="addr" value={addr} placeholder="host:port, e.g. 192.0.2.10:7733" onChange={(e) => setAddr(e.target.value)} aria-invalid={fe ? true : undefined} />
        <small className="hint">Only needed for branches on another network (the local network is found by itself).</small>
        {fe && (
          <p className="field-error" data-testid="field-error-addr">
            {fe}
          </p>
        )}
      </div>
      {error && !fe && (
        <p className="form-error" role="alert" data-testid="form-error">
          {plainMessage(error)}
        </p>
      )}
      <div className="actions">
        <button type="submit" className="primary" data-testid="form-submit">
          Add
        </button>
      </div>
    </form>
  );
}

function Devices({ peers }: { peers: PeerStatus[] }) {
  const data = useAppData();
  const notice = useNotice();
  const [revoking, setRevoking] = useState<RecordT | null>(null);
  const devices = [...data.lists.device].sort((a, b) => String(a.fields.name).localeCompare(String(b.fields.name)));
  return (
    <section className="panel">
      <h2>Devices in this library system</h2>
      <table className="table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Branch</th>
            <th>Role</th>
            <th>State</th>
            <th>
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {devices.map((d) => {
            const me = d.id === data.identity.device_id;
            const peer = peers.find((p) => p.device_id === d.id);
            return (
              <tr key={d.id} data-testid="device" data-id={d.id}>
                <td>
                  <strong>{String(d.fields.name)}</strong>
                  {me && <span className="muted"> (this computer)</span>}
                </td>
                <td>{String(d.fields.branch ?? '')}</td>
                <td>{wordsOf(String(d.fields.role ?? 'peer'))}</td>
                <td>
                  {d.fields.revoked === true ? (
                    <Badge tone="bad">Revoked</Badge>
                  ) : me ? (
                    <Badge tone="ok">This computer</Badge>
                  ) : peer?.connected ? (
                    <Badge tone="ok">Connected</Badge>
                  ) : (
                    <Badge tone="neutral">Enrolled</Badge>
                  )}
                </td>
                <td className="num">
                  {!me && d.fields.revoked !== true && (
                    <button type="button" className="danger small" data-testid="revoke" onClick={() => setRevoking(d)}>
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {revoking && (
        <Confirm
          title={`Revoke ${revoking.fields.name}?`}
          text={`${revoking.fields.name} will no longer be able to sync with any branch. Use this for a lost or retired computer. It cannot be undone: to use it again, enrol it with a new invite.`}
          confirmLabel="Revoke device"
          danger
          onCancel={() => setRevoking(null)}
          onConfirm={() => {
            const d = revoking;
            setRevoking(null);
            api.revokeDevice(d.id).then(() => notice.notify(`${d.fields.name} was revoked.`), notice.fail);
          }}
        />
      )}
    </section>
  );
}

export function Sync() {
  // A status read that started before the latest `sync` event must not put older
  // peer figures back on screen: remember when each read started.
  const lastEvent = useRef(0);
  const status = useLive(
    ['device'],
    () => {
      const started = performance.now();
      return api.syncStatus().then((st) => ({ ...st, started }));
    },
    [],
  );
  const [peers, setPeers] = useState<PeerStatus[] | null>(null);
  useEvent('sync', (p: PeerStatus[]) => {
    lastEvent.current = performance.now();
    setPeers(p);
  });
  const reload = status.reload;
  // Known addresses and last-seen times change without events: look again now and then.
  useEffect(() => {
    const t = setInterval(reload, 15_000);
    return () => clearInterval(t);
  }, [reload]);
  useEffect(() => {
    if (status.data && status.data.started >= lastEvent.current) setPeers(status.data.peers);
  }, [status.data]);
  const s = status.data;
  const list = peers ?? s?.peers ?? [];
  return (
    <section className="screen sync">
      <header className="screen-head">
        <h1>Devices &amp; sync</h1>
      </header>
      {status.error && <p className="banner banner-bad">{plainMessage(status.error)}</p>}
      {s && (
        <div className="panels two">
          <section className="panel">
            <h2>This computer</h2>
            <dl className="field-list">
              <div>
                <dt>Library system</dt>
                <dd>{s.identity.system_name}</dd>
              </div>
              <div>
                <dt>Name</dt>
                <dd>{s.identity.device_name}</dd>
              </div>
              <div>
                <dt>Branch</dt>
                <dd>{s.identity.branch}</dd>
              </div>
              <div>
                <dt>Listening on</dt>
                <dd className="mono">{s.listen ?? 'not listening'}</dd>
              </div>
              <div>
                <dt>Device id</dt>
                <dd className="mono small">{s.identity.device_id}</dd>
              </div>
            </dl>
          </section>
          <section className="panel">
            <h2>Other devices</h2>
            {list.length === 0 ? (
              <p className="muted">No other device has been in touch yet.</p>
            ) : (
              <ul className="peers">
                {list.map((p) => (
                  <PeerCard key={p.device_id || p.addr} p={p} />
                ))}
              </ul>
            )}
          </section>
        </div>
      )}
      {s && s.known.length > 0 && (
        <section className="panel">
          <h2>Known addresses</h2>
          <table className="table compact">
            <thead>
              <tr>
                <th>Address</th>
                <th>Found by</th>
                <th>Last seen</th>
                <th>Problem</th>
              </tr>
            </thead>
            <tbody>
              {s.known.map((k) => (
                <tr key={k.addr}>
                  <td className="mono">{k.addr}</td>
                  <td>{k.source === 'mdns' ? 'local network' : k.source === 'manual' ? 'added by hand' : wordsOf(k.source)}</td>
                  <td>{ago(k.last_seen)}</td>
                  <td>{k.last_error ? syncReason(k.last_error) : ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      <AddPeer />
      <InvitePanel />
      <Devices peers={list} />
    </section>
  );
}

export default Sync;
