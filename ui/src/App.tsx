// The app shell: first run or the main window (navigation rail + one screen).

import { lazy, Suspense, useCallback, useEffect, useState, type ComponentType } from 'react';
import { api, toAppError } from './api';
import type { AppError, AppInfo, KindDef } from './types';
import { DataProvider, useAppData } from './lib/data';
import { NavProvider, useNav, type Screen } from './lib/nav';
import { useEvent } from './lib/live';
import { NoticeProvider } from './components/Notice';
import { ErrorBoundary } from './components/ErrorBoundary';
import { FirstRun } from './screens/FirstRun';
import { Dashboard } from './screens/Dashboard';
import { plainMessage } from './lib/errors';
import { afterStart } from './lib/ready';

const Inventory = lazy(() => import('./screens/Inventory'));
const Tickets = lazy(() => import('./screens/Tickets'));
const Bookings = lazy(() => import('./screens/Bookings'));
const Usage = lazy(() => import('./screens/Usage'));
const Transfers = lazy(() => import('./screens/Transfers'));
const Schedules = lazy(() => import('./screens/Schedules'));
const Pages = lazy(() => import('./screens/Pages'));
const Conflicts = lazy(() => import('./screens/Conflicts'));
const Sync = lazy(() => import('./screens/Sync'));
const Settings = lazy(() => import('./screens/Settings'));

const SCREENS: { id: Screen; label: string; component: ComponentType }[] = [
  { id: 'dashboard', label: 'Dashboard', component: Dashboard },
  { id: 'bookings', label: 'Bookings', component: Bookings },
  { id: 'tickets', label: 'Tickets', component: Tickets },
  { id: 'inventory', label: 'Inventory', component: Inventory },
  { id: 'usage', label: 'Daily use', component: Usage },
  { id: 'transfers', label: 'Transfers', component: Transfers },
  { id: 'schedules', label: 'Schedules', component: Schedules },
  { id: 'pages', label: 'Documentation', component: Pages },
  { id: 'conflicts', label: 'Conflicts', component: Conflicts },
  { id: 'sync', label: 'Devices & sync', component: Sync },
  { id: 'settings', label: 'Settings', component: Settings },
];

function Rail() {
  const { screen, go } = useNav();
  const data = useAppData();
  const [conflicts, setConflicts] = useState<number | null>(null);
  const [peers, setPeers] = useState<{ up: number; all: number } | null>(null);

  useEffect(() => {
    let live = true;
    // Counts for the rail can wait until the first screen is up.
    void afterStart().then(() => {
      if (!live) return;
      api.conflicts().then((c) => live && setConflicts(c.length), () => {});
      api.syncStatus().then(
        (s) => live && setPeers({ up: s.peers.filter((p) => p.connected).length, all: s.peers.length }),
        () => {},
      );
    });
    return () => {
      live = false;
    };
  }, []);
  useEvent('conflicts', (p) => setConflicts(p.count));
  useEvent('sync', (list) => setPeers({ up: list.filter((p) => p.connected).length, all: list.length }));

  return (
    <nav className="rail" aria-label="Main">
      <div className="brand">
        <span className="brand-name">Branchline</span>
        <span className="brand-system" title={data.identity.system_name}>
          {data.identity.system_name}
        </span>
        <span className="brand-device">
          {data.identity.device_name} · {data.identity.branch}
        </span>
        <DeskStaff />
      </div>
      <ul>
        {SCREENS.map((s) => (
          <li key={s.id}>
            <button
              type="button"
              className={screen === s.id ? 'nav-item active' : 'nav-item'}
              aria-current={screen === s.id ? 'page' : undefined}
              data-testid={`nav-${s.id}`}
              onClick={() => go(s.id)}
            >
              <span>{s.label}</span>
              {s.id === 'conflicts' && conflicts ? (
                <span className="count count-warn" aria-label={`${conflicts} open`}>
                  {conflicts}
                </span>
              ) : null}
              {s.id === 'sync' && peers && peers.all > 0 ? (
                <span
                  className={`count ${peers.up > 0 ? 'count-ok' : 'count-muted'}`}
                  aria-label={`${peers.up} of ${peers.all} peers connected`}
                >
                  {peers.up}/{peers.all}
                </span>
              ) : null}
            </button>
          </li>
        ))}
      </ul>
    </nav>
  );
}

function Main() {
  const { screen } = useNav();
  const S = SCREENS.find((s) => s.id === screen)?.component ?? Dashboard;
  return (
    <main className="main" id="main">
      <ErrorBoundary key={screen}>
        <Suspense fallback={<p className="loading">Loading…</p>}>
          <S />
        </Suspense>
      </ErrorBoundary>
    </main>
  );
}

type Boot =
  | { phase: 'loading' }
  | { phase: 'error'; error: AppError }
  | { phase: 'empty'; info: AppInfo }
  | { phase: 'ready'; info: AppInfo; schema: KindDef[] };

export function App() {
  const [boot, setBoot] = useState<Boot>({ phase: 'loading' });

  const start = useCallback(async () => {
    try {
      const info = await api.appInfo();
      if (info.state === 'empty' || !info.identity) {
        setBoot({ phase: 'empty', info });
        return;
      }
      const schema = await api.schema();
      setBoot({ phase: 'ready', info, schema });
    } catch (e) {
      setBoot({ phase: 'error', error: e as AppError });
    }
  }, []);

  useEffect(() => {
    void start();
  }, [start]);

  return (
    <NoticeProvider>
      {boot.phase === 'loading' && <p className="loading">Starting Branchline…</p>}
      {boot.phase === 'error' && (
        <div className="boot-error" role="alert">
          <h1>Branchline could not start</h1>
          <p>{plainMessage(boot.error)}</p>
          <button type="button" className="primary" onClick={() => void start()}>
            Try again
          </button>
        </div>
      )}
      {boot.phase === 'empty' && <FirstRun onReady={() => void start()} />}
      {boot.phase === 'ready' && boot.info.identity && (
        <DataProvider schema={boot.schema} identity={boot.info.identity} deferUntilReady>
          <NavProvider>
            <a className="skip" href="#main">
              Skip to content
            </a>
            <div className="shell">
              <Rail />
              <Main />
            </div>
          </NavProvider>
        </DataProvider>
      )}
    </NoticeProvider>
  );
}

const DESK_KEY = 'branchline.deskStaff';

/**
 * Who is at the desk. Their id goes on every change this app makes, so history and
 * the conflicts screen can say who did what. Remembered on this computer.
 */
function DeskStaff() {
  const data = useAppData();
  const [who, setWho] = useState<string>(() => localStorage.getItem(DESK_KEY) ?? '');
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    if (!who) return;
    // Tell the node after a restart; forget someone who no longer exists.
    api.setStaff(who).catch(() => {
      localStorage.removeItem(DESK_KEY);
      setWho('');
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  const here = data.identity.branch;
  const staff = data.lists.staff
    .filter((s) => s.fields.retired !== true)
    .sort((a, b) => {
      const ah = a.fields.branch === here ? 0 : 1;
      const bh = b.fields.branch === here ? 0 : 1;
      return ah - bh || String(a.fields.name).localeCompare(String(b.fields.name));
    });
  const choose = (id: string) => {
    setProblem(null);
    api.setStaff(id || null).then(
      () => {
        setWho(id);
        if (id) localStorage.setItem(DESK_KEY, id);
        else localStorage.removeItem(DESK_KEY);
      },
      (e: unknown) => setProblem(toAppError(e).message),
    );
  };
  return (
    <label className="desk-staff">
      <span>At the desk</span>
      <select data-testid="desk-staff" value={who} onChange={(e) => choose(e.target.value)}>
        <option value="">Nobody chosen</option>
        {staff.map((s) => (
          <option key={s.id} value={s.id}>
            {String(s.fields.name)}
            {s.fields.branch && s.fields.branch !== here ? ` (${String(s.fields.branch)})` : ''}
          </option>
        ))}
      </select>
      {problem && <span className="field-error">{problem}</span>}
    </label>
  );
}
