// First run: this computer holds no library system yet. Join one with an invite, start a
// new one, or explore the demo.

import { useId, useState } from 'react';
import { api } from '../api';
import type { AppError } from '../types';
import { fieldMessage, plainMessage } from '../lib/errors';
import { PlainField } from '../components/PlainField';

type Choice = 'join' | 'new' | null;

// The start_new command names its fields differently from the form labels.
const LABELS: Record<string, string> = {
  system: 'Library system name',
  branch: 'Branch code',
  branchName: 'Branch name',
  device: 'Name of this computer',
  code: 'Invite code',
  peer: 'Address of a device already in the system',
};

function useSubmit(onReady: () => void) {
  const [error, setError] = useState<AppError | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (f: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await f();
      onReady();
    } catch (e) {
      setError(e as AppError);
    } finally {
      setBusy(false);
    }
  };
  const fieldErr = (name: string) => (error && error.field === name ? fieldMessage(error, LABELS[name]) : null);
  return { error, busy, run, fieldErr };
}

function FormError({ error, fields }: { error: AppError | null; fields: string[] }) {
  if (!error) return null;
  const onField = error.field && fields.includes(error.field);
  return (
    <p className="form-error" role="alert" data-testid="form-error">
      {onField ? `Please check ${LABELS[error.field as string] ?? error.field}.` : plainMessage(error)}
    </p>
  );
}

function JoinForm({ onReady, onBack }: { onReady: () => void; onBack: () => void }) {
  const id = useId().replace(/:/g, '');
  const [v, setV] = useState({ code: '', device: '', branch: '', peer: '' });
  const s = useSubmit(onReady);
  const set = (k: keyof typeof v) => (e: React.ChangeEvent<HTMLInputElement>) => setV({ ...v, [k]: e.target.value });
  return (
    <form
      className="firstrun-form"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void s.run(() =>
          api.joinSystem({
            code: v.code.trim(),
            device: v.device.trim(),
            branch: v.branch.trim().toUpperCase(),
            peer: v.peer.trim() || null,
          }),
        );
      }}
    >
      <h2>Join a library system</h2>
      <p className="muted">Ask the coordinator for an invite code from Devices &amp; sync on their computer.</p>
      <PlainField id={`${id}-code`} name="code" label={LABELS.code} value={v.code} onChange={set('code')} error={s.fieldErr('code')} autoFocus autoComplete="off" className="mono" />
      <PlainField id={`${id}-device`} name="device" label={LABELS.device} hint="e.g. Northside desk 2" value={v.device} onChange={set('device')} error={s.fieldErr('device')} />
      <PlainField id={`${id}-branch`} name="branch" label={LABELS.branch} hint="The branch this computer sits in, e.g. NOR" value={v.branch} onChange={set('branch')} error={s.fieldErr('branch')} />
      <PlainField id={`${id}-peer`} name="peer" label={`${LABELS.peer} (optional)`} hint="host:port, only needed when it is not on this network, e.g. 192.0.2.10:7733" value={v.peer} onChange={set('peer')} error={s.fieldErr('peer')} />
      <FormError error={s.error} fields={['code', 'device', 'branch', 'peer']} />
      {s.busy && <p role="status">Joining… contacting the other device.</p>}
      <div className="actions">
        <button type="button" onClick={onBack}>
          Back
        </button>
        <button type="submit" className="primary" disabled={s.busy} data-testid="form-submit">
          Join
        </button>
      </div>
    </form>
  );
}

function NewForm({ onReady, onBack }: { onReady: () => void; onBack: () => void }) {
  const id = useId().replace(/:/g, '');
  const [v, setV] = useState({ system: '', branch: '', branchName: '', device: '' });
  const s = useSubmit(onReady);
  const set = (k: keyof typeof v) => (e: React.ChangeEvent<HTMLInputElement>) => setV({ ...v, [k]: e.target.value });
  return (
    <form
      className="firstrun-form"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void s.run(() =>
          api.startNew({
            system: v.system.trim(),
            branch: v.branch.trim().toUpperCase(),
            branchName: v.branchName.trim(),
            device: v.device.trim(),
          }),
        );
      }}
    >
      <h2>Start a new library system</h2>
      <p className="muted">This computer becomes the first device; you can invite the others afterwards.</p>
      <PlainField id={`${id}-system`} name="system" label={LABELS.system} hint="e.g. Riverton Public Library" value={v.system} onChange={set('system')} error={s.fieldErr('system')} autoFocus />
      <PlainField id={`${id}-branch`} name="branch" label={LABELS.branch} hint="2–8 capital letters or digits, e.g. CEN" value={v.branch} onChange={set('branch')} error={s.fieldErr('branch')} />
      <PlainField id={`${id}-branchName`} name="branchName" label={LABELS.branchName} hint="e.g. Central Library" value={v.branchName} onChange={set('branchName')} error={s.fieldErr('branchName')} />
      <PlainField id={`${id}-device`} name="device" label={LABELS.device} hint="e.g. Central desk 1" value={v.device} onChange={set('device')} error={s.fieldErr('device')} />
      <FormError error={s.error} fields={['system', 'branch', 'branchName', 'device']} />
      <div className="actions">
        <button type="button" onClick={onBack}>
          Back
        </button>
        <button type="submit" className="primary" disabled={s.busy} data-testid="form-submit">
          Start
        </button>
      </div>
    </form>
  );
}

export function FirstRun({ onReady }: { onReady: () => void }) {
  const [choice, setChoice] = useState<Choice>(null);
  const [demo, setDemo] = useState<'idle' | 'running' | AppError>('idle');

  const startDemo = async () => {
    setDemo('running');
    try {
      await api.startDemo();
      onReady();
    } catch (e) {
      setDemo(e as AppError);
    }
  };

  return (
    <div className="firstrun">
      <header>
        <h1>Welcome to Branchline</h1>
        <p className="muted">
          Branchline keeps the library’s equipment, tickets, bookings and schedules on this computer and shares them
          with the other branches whenever they can reach each other.
        </p>
      </header>
      {choice === 'join' && <JoinForm onReady={onReady} onBack={() => setChoice(null)} />}
      {choice === 'new' && <NewForm onReady={onReady} onBack={() => setChoice(null)} />}
      {choice === null && (
        <div className="choices">
          <section className="choice">
            <h2>Join a library system</h2>
            <p>Your library already uses Branchline. You have an invite code.</p>
            <button type="button" className="primary" data-testid="firstrun-join" onClick={() => setChoice('join')} disabled={demo === 'running'}>
              Join with an invite code
            </button>
          </section>
          <section className="choice">
            <h2>Start a new one</h2>
            <p>This is the first computer of your library system.</p>
            <button type="button" data-testid="firstrun-new" onClick={() => setChoice('new')} disabled={demo === 'running'}>
              Start a new library system
            </button>
          </section>
          <section className="choice">
            <h2>Explore the demo</h2>
            <p>A made-up library system with branches, PCs, bookings and tickets to try things out.</p>
            <button type="button" data-testid="firstrun-demo" onClick={() => void startDemo()} disabled={demo === 'running'}>
              Explore the demo system
            </button>
            {demo === 'running' && (
              <p role="status" className="progress">
                <span className="spinner" aria-hidden="true" /> Setting up the demo library system. This takes a few
                seconds…
              </p>
            )}
            {typeof demo === 'object' && (
              <p className="form-error" role="alert" data-testid="form-error">
                {plainMessage(demo)}
              </p>
            )}
          </section>
        </div>
      )}
    </div>
  );
}
