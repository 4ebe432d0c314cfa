// What every screen needs to show names instead of ids: the schema, this device's
// identity, and cached lists of the records people pick from (branches, staff, vendors,
// stock items, assets, tasks, licences, devices). Each list follows its own kind live.

import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { isReady, whenReady } from './ready';
import { api } from '../api';
import type { FieldDef, Identity, KindDef, RecordT } from '../types';
import { useLive } from './live';

export const LOOKUP_KINDS = ['branch', 'staff', 'vendor', 'stock-item', 'asset', 'task', 'licence', 'device'] as const;
export type LookupKind = (typeof LOOKUP_KINDS)[number];

const NATURAL: Record<string, string> = {
  branch: 'code',
  asset: 'tag',
  staff: 'name',
  vendor: 'name',
  'stock-item': 'name',
  device: 'name',
  licence: 'product',
  ticket: 'number',
  task: 'title',
  page: 'title',
};

export function naturalKey(kind: string): string | undefined {
  return NATURAL[kind];
}

/** The words a person recognises a record by. */
export function titleOf(r: RecordT): string {
  const f = r.fields;
  switch (r.kind) {
    case 'asset':
      return `${f.tag ?? ''} · ${f.name ?? ''}`;
    case 'branch':
      return `${f.code ?? ''} · ${f.name ?? ''}`;
    case 'ticket':
      return `${f.number ?? ''} · ${f.summary ?? ''}`;
    default: {
      const nk = NATURAL[r.kind];
      const v = (nk && f[nk]) ?? f.name ?? f.title ?? r.id.slice(0, 8);
      return String(v);
    }
  }
}

export interface AppData {
  schema: KindDef[];
  identity: Identity;
  lists: Record<LookupKind, RecordT[]>;
  kindDef(kind: string): KindDef | undefined;
  fieldDefs(kind: string): FieldDef[];
  byId(id: string | null | undefined): RecordT | undefined;
  /** A record's recognisable name from its id; the id itself if unknown. */
  nameOf(kind: string, id: string | null | undefined): string;
  activeBranches: RecordT[];
}

const Ctx = createContext<AppData | null>(null);

export function useAppData(): AppData {
  const v = useContext(Ctx);
  if (!v) throw new Error('useAppData outside DataProvider');
  return v;
}

// These lists only supply names and pickers: they follow changes a little later than
// the screen itself, so the visible list is fetched first, and they do not count in the
// change-to-screen latency.
function useList(kind: LookupKind, go: boolean) {
  return useLive([kind], () => (go ? api.list(kind, {}) : Promise.resolve(undefined)), [kind, go], {
    track: false,
    // Name caches wait until the visible screen has re-read and painted, and during a
    // burst of changes re-read at most once a second: a full list is the heaviest read.
    debounceMs: 1000,
  });
}

// Start loading the lists once the first screen is up (or after a short while anyway).
function useStart(defer: boolean): boolean {
  const [go, setGo] = useState(!defer || isReady());
  useEffect(() => {
    if (go) return;
    let live = true;
    const start = () => live && setGo(true);
    void whenReady().then(start);
    const t = setTimeout(start, 1500);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [go]);
  return go;
}

export function DataProvider({
  schema,
  identity,
  children,
  deferUntilReady = false,
}: {
  schema: KindDef[];
  identity: Identity;
  children: ReactNode;
  /** Let the first dashboard load before the lists (app start-up). */
  deferUntilReady?: boolean;
}) {
  const go = useStart(deferUntilReady);
  // Branches are small and every screen's pickers need them: always load them at once.
  const branch = useList('branch', true);
  // Fixed order of hooks: one live list per kind, so a change re-fetches only that kind.
  const staff = useList('staff', go);
  const vendor = useList('vendor', go);
  const stock = useList('stock-item', go);
  const asset = useList('asset', go);
  const task = useList('task', go);
  const licence = useList('licence', go);
  const device = useList('device', go);

  const lists = useMemo(
    () => ({
      branch: branch.data ?? [],
      staff: staff.data ?? [],
      vendor: vendor.data ?? [],
      'stock-item': stock.data ?? [],
      asset: asset.data ?? [],
      task: task.data ?? [],
      licence: licence.data ?? [],
      device: device.data ?? [],
    }),
    [branch.data, staff.data, vendor.data, stock.data, asset.data, task.data, licence.data, device.data],
  );

  const index = useMemo(() => {
    const m = new Map<string, RecordT>();
    for (const list of Object.values(lists)) for (const r of list) m.set(r.id, r);
    return m;
  }, [lists]);

  const kindDef = useCallback((k: string) => schema.find((d) => d.kind === k), [schema]);

  const value = useMemo<AppData>(
    () => ({
      schema,
      identity,
      lists,
      kindDef,
      fieldDefs: (k) => kindDef(k)?.fields ?? [],
      byId: (id) => (id ? index.get(id) : undefined),
      nameOf: (kind, id) => {
        if (!id) return '';
        const r = index.get(id);
        if (!r) return kind === 'branch' ? id : id.length > 12 ? `${id.slice(0, 8)}…` : id;
        if (kind === 'asset') return String(r.fields.tag ?? id);
        return String((NATURAL[kind] && r.fields[NATURAL[kind]]) ?? r.fields.name ?? id);
      },
      activeBranches: lists.branch
        .filter((b) => b.fields.retired !== true)
        .sort((a, b) => String(a.fields.code).localeCompare(String(b.fields.code))),
    }),
    [schema, identity, lists, index, kindDef],
  );

  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

/** For tests: provide data directly. */
export const DataContext = Ctx;
