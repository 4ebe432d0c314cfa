// Conflicts: things that clashed while branches could not reach each other (a PC booked
// twice, an asset sent two ways, stock issued twice). Staff look at both sides and keep one.

import { useId, useState } from 'react';
import { api } from '../api';
import type { AppError, Conflict, Side } from '../types';
import { useAppData } from '../lib/data';
import { useEvent, useLive } from '../lib/live';
import { whenLocal } from '../lib/time';
import { plainMessage } from '../lib/errors';
import { useNotice } from '../components/Notice';

const TITLES: Record<Conflict['kind'], string> = {
  'double-booking': 'A PC was booked twice',
  'asset-field': 'Equipment was changed in two places',
  'negative-stock': 'More stock was issued than there was',
  'duplicate-number': 'Two tickets got the same number',
};

const HELP: Record<Conflict['kind'], string> = {
  'double-booking': 'Keep the booking that should stand; the others are cancelled. Tell those patrons.',
  'asset-field': 'Keep the value that is true now; it replaces the other one everywhere.',
  'negative-stock': 'Keep the issue that really happened (the others are reversed), or count the shelf and record the count.',
  'duplicate-number': 'Keep the number on one ticket; the others get new numbers.',
};

function sentence(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1) + (s.endsWith('.') ? '' : '.');
}

function patronIn(what: string): string {
  // "09:00-10:00 for p:3f2a…" → keep the time, shorten the card hash.
  return what.replace(/p:[0-9a-f]{12}([0-9a-f]{4})/i, 'card …$1');
}

function SideCard({ side, index, onKeep, busy }: { side: Side; index: number; onKeep: () => void; busy: boolean }) {
  return (
    <div className="side" role="group" aria-label={`Side ${index + 1}`}>
      <p className="side-what">{patronIn(side.what)}</p>
      <dl className="field-list">
        <div>
          <dt>Who</dt>
          <dd>{side.staff ?? 'Not recorded'}</dd>
        </div>
        <div>
          <dt>Device</dt>
          <dd>{side.device ?? side.actor?.slice(0, 8) ?? 'Unknown'}</dd>
        </div>
        <div>
          <dt>When</dt>
          <dd>{side.at ? whenLocal(side.at) : 'Unknown'}</dd>
        </div>
      </dl>
      <button type="button" className="primary" data-testid="keep" data-key={side.key} disabled={busy} onClick={onKeep}>
        Keep this
      </button>
    </div>
  );
}

function CountInstead({ c, onDone }: { c: Conflict; onDone: (msg: string) => void }) {
  const id = useId().replace(/:/g, '');
  const [n, setN] = useState('');
  const [error, setError] = useState<AppError | null>(null);
  return (
    <form
      className="count-instead"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        setError(null);
        api.resolveConflict(c.id, `count=${n.trim()}`).then(onDone, (err: AppError) => setError(err));
      }}
    >
      <label htmlFor={`${id}-n`}>Or record what is on the shelf at {c.field}:</label>
      <input id={`${id}-n`} name="count" type="number" min={0} step={1} value={n} onChange={(e) => setN(e.target.value)} />
      <button type="submit" data-testid="record-count">
        Record count
      </button>
      {error && (
        <p className="field-error" data-testid="field-error-count">
          {plainMessage(error)}
        </p>
      )}
    </form>
  );
}

export function Conflicts() {
  const data = useAppData();
  const notice = useNotice();
  const list = useLive(['booking', 'asset', 'movement', 'ticket', 'stock-item'], () => api.conflicts(), []);
  const [busy, setBusy] = useState<string | null>(null);
  const reload = list.reload;
  useEvent('conflicts', () => reload());

  const keep = async (c: Conflict, side: Side) => {
    setBusy(c.id);
    try {
      await api.resolveConflict(c.id, side.key);
      // The node's reply names record ids; staff recognise the side they chose.
      notice.notify(`Settled: kept ${side.what}.`);
    } catch (e) {
      notice.fail(e as AppError);
    } finally {
      setBusy(null);
    }
  };

  const what = (c: Conflict) => {
    if (c.kind === 'double-booking' || c.kind === 'asset-field') return data.nameOf('asset', c.record);
    if (c.kind === 'negative-stock') return `${data.nameOf('stock-item', c.record)} at ${c.field}`;
    return `Ticket ${c.record}`;
  };

  return (
    <section className="screen conflicts">
      <header className="screen-head">
        <h1>Conflicts</h1>
      </header>
      <p className="muted">
        When branches cannot reach each other, both keep working. If the same thing was changed in two ways, it shows up
        here so a person can decide.
      </p>
      {list.error && <p className="banner banner-bad">{plainMessage(list.error)}</p>}
      {list.data && list.data.length === 0 && (
        <p className="empty-state" data-testid="no-conflicts">
          No conflicts. Everything that changed while branches were apart fitted together.
        </p>
      )}
      {(list.data ?? []).map((c) => (
        <article key={c.id} className="conflict" data-testid="conflict" data-id={c.id} aria-busy={busy === c.id || undefined}>
          <header>
            <h2>
              {TITLES[c.kind] ?? c.kind} · {what(c)}
            </h2>
            <p>{sentence(c.summary)}</p>
            <p className="muted">{HELP[c.kind]}</p>
          </header>
          <div className="sides">
            {c.sides.map((s, i) => (
              <SideCard key={s.key} side={s} index={i} busy={busy !== null} onKeep={() => void keep(c, s)} />
            ))}
          </div>
          {c.kind === 'negative-stock' && <CountInstead c={c} onDone={(m) => notice.notify(`Settled: ${m}.`)} />}
        </article>
      ))}
    </section>
  );
}

export default Conflicts;
