// Live data: every screen loads through useLive, which re-fetches when a `changed` event
// names a kind the screen shows, so nothing ever needs a manual refresh.
//
// For remote changes we also measure change-to-screen latency for the end-to-end test:
// once every screen that re-fetched because of an event has painted (two animation
// frames after the commit), Date.now() - event.at goes onto window.__blLatencies.

import { useCallback, useEffect, useRef, useState } from 'react';
import { subscribe, toAppError } from '../api';
import type { AppError, ChangedEvent, EventMap, EventName } from '../types';

export const DEBOUNCE_MS = 16;

declare global {
  interface Window {
    __blLatencies?: number[];
    __blReady?: boolean;
    /** For the end-to-end test's failure reports: screens' repaints still owed, and
     * remote events seen by any screen. */
    __blOwed?: number;
    __blRemoteSeen?: number;
  }
}

// How many screens still owe a repaint for each event object.
const owed = new WeakMap<ChangedEvent, number>();

const seen = new WeakSet<ChangedEvent>();

function owe(ev: ChangedEvent) {
  owed.set(ev, (owed.get(ev) ?? 0) + 1);
  if (typeof window === 'undefined') return;
  window.__blOwed = (window.__blOwed ?? 0) + 1;
  if (ev.remote && !seen.has(ev)) {
    seen.add(ev);
    window.__blRemoteSeen = (window.__blRemoteSeen ?? 0) + 1;
  }
}

function paid(ev: ChangedEvent) {
  if (typeof window !== 'undefined' && owed.has(ev)) window.__blOwed = (window.__blOwed ?? 1) - 1;
  const n = (owed.get(ev) ?? 1) - 1;
  if (n > 0) {
    owed.set(ev, n);
    return;
  }
  owed.delete(ev);
  if (ev.remote && typeof window !== 'undefined') {
    (window.__blLatencies ??= []).push(Date.now() - ev.at);
  }
}

export function afterPaint(fn: () => void): () => void {
  let a = 0;
  let b = 0;
  a = requestAnimationFrame(() => {
    b = requestAnimationFrame(fn);
  });
  return () => {
    cancelAnimationFrame(a);
    cancelAnimationFrame(b);
  };
}

// Which kinds live in which documents (DESIGN.md's partitioning), for events that name
// only documents.
const DOC_KINDS: [RegExp, string[]][] = [
  [/^bookings\//, ['booking']],
  [/^tickets\//, ['ticket']],
  [/^usage\//, ['usage']],
  [/^pages\//, ['page']],
  [/^schedule/, ['task', 'task-run', 'oncall', 'training', 'retrieval']],
  [/^inventory/, ['asset', 'licence', 'seat', 'stock-item', 'movement', 'vendor', 'replacement', 'transfer']],
  [/^system/, ['branch', 'location', 'staff', 'device']],
];

export function kindsOf(ev: Pick<ChangedEvent, 'kinds' | 'docs'>): string[] | null {
  if (ev.kinds && ev.kinds.length > 0) return ev.kinds;
  const out = new Set<string>();
  for (const d of ev.docs ?? []) {
    const hit = DOC_KINDS.find(([re]) => re.test(d));
    if (!hit) return null; // a document we cannot place: treat as "anything may have changed"
    hit[1].forEach((k) => out.add(k));
  }
  return out.size > 0 ? [...out] : null;
}

export function relevant(watch: readonly string[], ev: Pick<ChangedEvent, 'kinds' | 'docs'>): boolean {
  if (watch.includes('*')) return true;
  const changed = kindsOf(ev);
  if (changed === null) return true;
  return changed.some((k) => watch.includes(k));
}

export interface Live<T> {
  data: T | undefined;
  error: AppError | null;
  loading: boolean;
  reload: () => void;
}

/**
 * Load `load()` now, again whenever `deps` change, and again (debounced) when a
 * `changed` event names one of `kinds` ('*' = any kind).
 */
export interface LiveOptions {
  /** Count this re-fetch in the change-to-screen latency (false for background caches). */
  track?: boolean;
  debounceMs?: number;
}

export function useLive<T>(
  kinds: readonly string[],
  load: () => Promise<T>,
  deps: readonly unknown[],
  opts: LiveOptions = {},
): Live<T> {
  const track = opts.track ?? true;
  const debounceMs = opts.debounceMs ?? DEBOUNCE_MS;
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<AppError | null>(null);
  const [loading, setLoading] = useState(true);
  // Events whose re-fetch has landed, waiting for the screen to paint it. A queue, not
  // state: two answers can land before React renders once, and the render it then makes
  // shows both; state holding each answer's events would keep only the last.
  const toPaint = useRef<ChangedEvent[]>([]);
  const [painted, setPainted] = useState(0);

  const loadRef = useRef(load);
  loadRef.current = load;
  const kindsRef = useRef(kinds);
  kindsRef.current = kinds;
  const seq = useRef(0);
  const inflight = useRef(false);
  const again = useRef(false);
  const pending = useRef<ChangedEvent[]>([]);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const alive = useRef(true);

  const run = useCallback(() => {
    if (inflight.current) {
      again.current = true;
      return;
    }
    inflight.current = true;
    again.current = false;
    const events = pending.current.splice(0);
    const my = ++seq.current;
    setLoading(true);
    loadRef
      .current()
      .then(
        (d) => {
          if (!alive.current || my !== seq.current) {
            events.forEach(paid);
            return;
          }
          setData(d);
          setError(null);
          setLoading(false);
          toPaint.current.push(...events);
          setPainted((p) => p + 1);
        },
        (e: unknown) => {
          events.forEach(paid);
          if (!alive.current || my !== seq.current) return;
          setError(toAppError(e));
          setLoading(false);
        },
      )
      .finally(() => {
        inflight.current = false;
        if (again.current && alive.current) run();
      });
  }, []);

  // Initial load and reload when the inputs change; an answer for the old inputs that is
  // still on its way is dropped rather than shown for a moment.
  useEffect(() => {
    seq.current++;
    run();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);

  useEffect(() => {
    alive.current = true;
    const off = subscribe('changed', (ev) => {
      if (!relevant(kindsRef.current, ev)) return;
      if (track) {
        owe(ev);
        pending.current.push(ev);
      }
      // The first event sets the time of the re-fetch and later ones join it: restarting
      // the wait on each event would let a burst (a peer's batch, then the same change
      // seen again by the node's poll) hold the screen back.
      if (timer.current) return;
      timer.current = setTimeout(() => {
        timer.current = null;
        run();
      }, debounceMs);
    });
    return () => {
      alive.current = false;
      off();
      if (timer.current) clearTimeout(timer.current);
      pending.current.splice(0).forEach(paid);
      toPaint.current.splice(0).forEach(paid);
    };
  }, [run, track, debounceMs]);

  // Once the new data is on screen, settle the events that caused the re-fetch.
  useEffect(() => {
    const events = toPaint.current.splice(0);
    if (events.length === 0) return;
    let done = false;
    const cancel = afterPaint(() => {
      done = true;
      events.forEach(paid);
    });
    return () => {
      cancel();
      if (!done) events.forEach(paid);
    };
  }, [painted]);

  return { data, error, loading, reload: run };
}

/** Subscribe to a back-end event for the life of the component. */
export function useEvent<E extends EventName>(event: E, handler: (p: EventMap[E]) => void): void {
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => subscribe(event, (p) => ref.current(p)), [event]);
}

/** A value that follows `value` after `ms` of quiet (for typing in search and forms). */
export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}
