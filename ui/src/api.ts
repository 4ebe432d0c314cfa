// Typed wrappers for every command of CONTRACT.md, and one event bus.
//
// Inside the Tauri web view the calls go to the Rust shell; in a plain browser or a
// unit test (no window.__TAURI_INTERNALS__) they go to the in-memory mock, which is
// loaded lazily so the desktop bundle never carries it.

import type {
  AppError,
  AppInfo,
  BookingDay,
  Conflict,
  Dashboard,
  EventMap,
  EventName,
  Fields,
  Filter,
  HistoryEntry,
  Identity,
  Invite,
  KindDef,
  RecordT,
  StockLevel,
  SyncStatus,
} from './types';

export interface Backend {
  invoke(cmd: string, args?: Record<string, unknown>): Promise<unknown>;
  /** Returns an unsubscribe function. */
  listen(event: string, handler: (payload: unknown) => void): () => void;
}

let backend: Backend | null = null;
let loading: Promise<Backend> | null = null;

export function isTauri(): boolean {
  return typeof window !== 'undefined' && '__TAURI_INTERNALS__' in window;
}

function tauriBackend(): Backend {
  // Imported on demand: @tauri-apps/api reads window.__TAURI_INTERNALS__ at call time.
  const core = import('@tauri-apps/api/core');
  const ev = import('@tauri-apps/api/event');
  return {
    invoke: async (cmd, args) => (await core).invoke(cmd, args),
    listen: (event, handler) => {
      let stop: (() => void) | null = null;
      let cancelled = false;
      void ev.then((m) =>
        m.listen(event, (e) => handler(e.payload)).then((un) => {
          if (cancelled) un();
          else stop = un;
        }),
      );
      return () => {
        cancelled = true;
        stop?.();
      };
    },
  };
}

async function getBackend(): Promise<Backend> {
  if (backend) return backend;
  if (!loading) {
    loading = (async () => {
      if (isTauri()) return tauriBackend();
      const { MockBackend } = await import('./mock');
      const empty =
        typeof location !== 'undefined' && new URLSearchParams(location.search).has('firstrun');
      const m = new MockBackend({ state: empty ? 'empty' : 'ready' });
      if (typeof window !== 'undefined') (window as unknown as { __blMock: unknown }).__blMock = m;
      return m;
    })();
  }
  backend = await loading;
  attachBus(backend);
  return backend;
}

/** Tests (and a dev harness) install their own backend. */
export function setBackend(b: Backend | null): void {
  detachBus();
  backend = b;
  loading = b ? Promise.resolve(b) : null;
  if (b) attachBus(b);
}

// --- errors -------------------------------------------------------------------------

export function isAppError(e: unknown): e is AppError {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as AppError).code === 'string' &&
    typeof (e as AppError).message === 'string'
  );
}

/** Whatever was thrown, as an AppError; a raw Error never reaches the screen as a stack. */
export function toAppError(e: unknown): AppError {
  if (isAppError(e)) return { code: e.code, message: e.message, field: e.field ?? null };
  if (typeof e === 'string') {
    // The contract promises objects; a JSON string from an older shell is still readable.
    try {
      const parsed: unknown = JSON.parse(e);
      if (isAppError(parsed)) return toAppError(parsed);
    } catch {
      /* plain text */
    }
    return { code: 'unknown', message: e, field: null };
  }
  if (e instanceof Error) return { code: 'unknown', message: e.message, field: null };
  return { code: 'unknown', message: 'Something went wrong.', field: null };
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  const b = await getBackend();
  try {
    return (await b.invoke(cmd, args)) as T;
  } catch (e) {
    throw toAppError(e);
  }
}

// --- commands -----------------------------------------------------------------------

export const api = {
  appInfo: () => call<AppInfo>('app_info'),
  startDemo: () => call<Identity>('start_demo'),
  startNew: (a: { system: string; branch: string; branchName: string; device: string }) =>
    call<Identity>('start_new', a),
  joinSystem: (a: { code: string; device: string; branch: string; peer: string | null }) =>
    call<Identity>('join_system', a),
  schema: () => call<KindDef[]>('schema'),
  list: (kind: string, filter: Filter = {}) => call<RecordT[]>('list', { kind, filter }),
  get: (kind: string, key: string) => call<RecordT>('get', { kind, key }),
  create: (kind: string, fields: Fields) => call<RecordT>('create', { kind, fields }),
  update: (kind: string, key: string, fields: Fields) =>
    call<RecordT>('update', { kind, key, fields }),
  retire: (kind: string, key: string) => call<RecordT>('retire', { kind, key }),
  check: (kind: string, key: string | null, fields: Fields) =>
    call<AppError | null>('check', { kind, key, fields }),
  addWork: (ticket: string, minutes: number, text: string) =>
    call<RecordT>('add_work', { ticket, minutes, text }),
  usePart: (ticket: string, item: string, qty: number) =>
    call<RecordT>('use_part', { ticket, item, qty }),
  stockLevels: (branch: string | null) => call<StockLevel[]>('stock_levels', { branch }),
  conflicts: () => call<Conflict[]>('conflicts'),
  resolveConflict: (id: string, keep: string) => call<string>('resolve_conflict', { id, keep }),
  history: (key: string) =>
    call<{ record: RecordT; entries: HistoryEntry[] }>('history', { key }),
  dashboard: (branch: string, date: string | null) =>
    call<Dashboard>('dashboard', { branch, date }),
  bookingDay: (branch: string, date: string) => call<BookingDay>('booking_day', { branch, date }),
  syncStatus: () => call<SyncStatus>('sync_status'),
  invite: (role: 'peer' | 'authority', expiresHours: number) =>
    call<Invite>('invite', { role, expiresHours }),
  revokeDevice: (id: string) => call<RecordT>('revoke_device', { id }),
  addPeer: (addr: string) => call<null>('add_peer', { addr }),
  uiReady: (ms: number) => call<null>('ui_ready', { ms }),
  setStaff: (key: string | null) => call<null>('set_staff', { key }),
};

// --- events -------------------------------------------------------------------------
// One underlying listener per event name, fanned out here, so every subscriber sees the
// same payload object (the live-update code counts repaints per event object).

type Handler = (payload: never) => void;
const handlers = new Map<string, Set<Handler>>();
let unlisteners: (() => void)[] = [];
let attachedTo: Backend | null = null;
const EVENTS: EventName[] = ['changed', 'sync', 'conflicts'];

function dispatch(event: string, payload: unknown) {
  for (const h of [...(handlers.get(event) ?? [])]) {
    try {
      (h as (p: unknown) => void)(payload);
    } catch (err) {
      // One broken screen must not stop the others from updating.
      console.error(err);
    }
  }
}

function attachBus(b: Backend) {
  if (attachedTo === b) return;
  detachBus();
  attachedTo = b;
  unlisteners = EVENTS.map((ev) => b.listen(ev, (p) => dispatch(ev, p)));
}

function detachBus() {
  unlisteners.forEach((u) => u());
  unlisteners = [];
  attachedTo = null;
}

export function subscribe<E extends EventName>(
  event: E,
  handler: (payload: EventMap[E]) => void,
): () => void {
  let set = handlers.get(event);
  if (!set) handlers.set(event, (set = new Set()));
  set.add(handler as Handler);
  // Make sure the backend (and so the bus) exists even if nothing was called yet.
  void getBackend();
  return () => {
    set?.delete(handler as Handler);
  };
}
