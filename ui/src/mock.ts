// An in-memory back end with the commands and events of CONTRACT.md, for developing in a
// plain browser and for unit tests. It validates like the real node (same rules, same
// fields, same messages) and rejects with {code, message, field}.

import type { Backend } from './api';
import type {
  AppError,
  BookingDay,
  Conflict,
  Dashboard,
  Fields,
  Filter,
  HistoryEntry,
  Identity,
  KnownPeer,
  PeerStatus,
  RecordT,
  Side,
  StockLevel,
  Value,
} from './types';
import { SCHEMA, NATURAL_KEY } from './mock/schema';
import { seed, newId } from './mock/seed';
import { Invalid, validate, bookingIsActive, type Ctx, type Lookup } from './mock/validate';
import { isoDate, isoDateTime, shiftDate } from './lib/time';
import { openOn, formatClock } from './lib/hours';
import { format } from 'date-fns';

export interface MockOptions {
  state?: 'empty' | 'ready';
  /** The wall clock; tests pin it. */
  now?: () => Date;
  /** Milliseconds start_demo pretends to work. */
  demoDelay?: number;
}

interface StaticConflict {
  conflict: Conflict;
  asset: string;
  field: string;
}

const err = (code: string, message: string, field: string | null = null): AppError => ({ code, message, field });

function movementDelta(f: Fields): number {
  if (f.cancelled === true) return 0;
  const q = typeof f.qty === 'number' ? f.qty : 0;
  switch (f.kind) {
    case 'receive':
    case 'transfer-in':
    case 'adjust':
      return q;
    case 'issue':
    case 'transfer-out':
      return -q;
    default:
      return 0;
  }
}

function recordDay(f: Fields): string | null {
  for (const k of ['start', 'date', 'opened_at', 'requested_at']) {
    const v = f[k];
    if (typeof v === 'string') return v.slice(0, 10);
  }
  return null;
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export class MockBackend implements Backend {
  state: 'empty' | 'ready';
  identity: Identity | null = null;
  records = new Map<string, RecordT>();
  histories = new Map<string, HistoryEntry[]>();
  peers: PeerStatus[] = [];
  known: KnownPeer[] = [];
  staticConflicts: StaticConflict[] = [];
  uiReadyMs: number | null = null;
  /** Who the app said is at the desk (set_staff). */
  deskStaff: string | null = null;
  /** Every command called, for tests. */
  calls: { cmd: string; args?: Record<string, unknown> }[] = [];
  private listeners = new Map<string, Set<(p: unknown) => void>>();
  private now: () => Date;
  private demoDelay: number;
  private startedMs = Date.now();
  private lastConflictCount = -1;

  constructor(opts: MockOptions = {}) {
    this.now = opts.now ?? (() => new Date());
    this.demoDelay = opts.demoDelay ?? 1200;
    this.state = opts.state ?? 'ready';
    if (this.state === 'ready') this.fill('Central desk 1', 'CEN');
  }

  // --- Backend --------------------------------------------------------------------

  listen(event: string, handler: (payload: unknown) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(handler);
    return () => set?.delete(handler);
  }

  emit(event: string, payload: unknown): void {
    for (const h of [...(this.listeners.get(event) ?? [])]) h(payload);
  }

  async invoke(cmd: string, args: Record<string, unknown> = {}): Promise<unknown> {
    this.calls.push({ cmd, args });
    // Answer asynchronously, like IPC, so screens never rely on synchronous replies.
    await Promise.resolve();
    try {
      return clone(await this.handle(cmd, args));
    } catch (e) {
      if (e instanceof Invalid) throw err('invalid', e.message, e.field);
      throw e;
    }
  }

  // --- test and dev helpers -------------------------------------------------------

  /** Pretend a peer changed records of these kinds (for live-update tests and demos). */
  remoteChange(kinds: string[], docs: string[] = [], at: number = Date.now()): void {
    this.emit('changed', { docs, kinds, remote: true, at });
  }

  /** A booking made at another desk, arriving by sync. */
  remoteBooking(fields: Fields): RecordT {
    const r = this.write('booking', null, fields, { device: this.identity ? this.findDevice('Tech laptop') : null });
    this.remoteChange(['booking'], [`bookings/${r.fields.branch}/${String(r.fields.start).slice(0, 10)}`]);
    return r;
  }

  setPeers(peers: PeerStatus[]): void {
    this.peers = peers;
    this.emit('sync', clone(peers));
  }

  // --- internals ------------------------------------------------------------------

  private ctx(): Ctx {
    return { now: isoDateTime(this.now()), systemId: this.identity?.system_id ?? 'mock' };
  }

  private fill(device: string, branch: string, systemName = 'Riverton Public Library') {
    const s = seed(this.now());
    for (const r of s.records) {
      this.records.set(r.id, r);
      this.histories.set(r.id, [
        {
          time: (r.fields.created_at as number) ?? Date.now(),
          device: 'Central desk 1 (CEN)',
          staff: 'Ben Chen',
          op: 'create',
          fields: Object.fromEntries(Object.entries(r.fields).filter(([k]) => !k.startsWith('created_'))),
          change: newId().replace(/-/g, '').slice(0, 16),
        },
      ]);
    }
    const me = this.records.get(s.thisDevice);
    if (me) {
      me.fields.name = device;
      me.fields.branch = branch;
    }
    this.identity = {
      system_id: 'sys-7f3a9c2e',
      system_name: systemName,
      device_id: s.thisDevice,
      device_name: device,
      branch,
      actor: 'a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1',
    };
    const nowMs = this.now().getTime();
    this.peers = [
      {
        device_id: s.devices.tech,
        name: 'Tech laptop',
        addr: '192.0.2.21:7733',
        connected: true,
        caught_up: true,
        last_synced: nowMs - 20_000,
        bytes_sent: 1_482_113,
        bytes_received: 2_093_551,
        changes_received: 412,
        changes_sent: 388,
        docs_waiting: 0,
        last_error: null,
      },
      {
        device_id: s.devices.north,
        name: 'Northside desk',
        addr: '198.51.100.7:7733',
        connected: false,
        caught_up: false,
        last_synced: nowMs - 3 * 3_600_000,
        bytes_sent: 220_410,
        bytes_received: 198_002,
        changes_received: 57,
        changes_sent: 61,
        docs_waiting: 4,
        last_error: 'net.timed_out',
      },
    ];
    this.known = [
      { addr: '192.0.2.21:7733', source: 'mdns', device: s.devices.tech, last_seen: nowMs - 20_000, last_error: null },
      {
        addr: '198.51.100.7:7733',
        source: 'static',
        device: s.devices.north,
        last_seen: nowMs - 3 * 3_600_000,
        last_error: 'connection timed out',
      },
    ];
    const a = s.assetFieldConflict;
    const tag = this.records.get(a.asset)?.fields.tag;
    this.staticConflicts = [
      {
        asset: a.asset,
        field: 'branch',
        conflict: {
          id: '5e0c1d2a9b8f7e61',
          kind: 'asset-field',
          doc: 'inventory',
          record: a.asset,
          field: 'branch',
          summary: `asset ${tag} had its branch set to different values on different devices`,
          sides: a.sides.map((x) => ({
            key: x.value,
            what: x.value,
            staff: this.nameOf(x.staff),
            device: this.deviceLabel(x.device),
            actor: null,
            at: x.at,
          })),
        },
      },
    ];
    this.state = 'ready';
  }

  private findDevice(name: string): string | null {
    for (const r of this.records.values()) if (r.kind === 'device' && r.fields.name === name) return r.id;
    return null;
  }

  private nameOf(id: string | null | undefined): string | null {
    if (!id) return null;
    const r = this.records.get(id);
    return r ? String(r.fields.name ?? id) : id;
  }

  private deviceLabel(id: string | null | undefined): string | null {
    if (!id) return null;
    const r = this.records.get(id);
    return r ? `${r.fields.name} (${r.fields.branch})` : id;
  }

  private of(kind: string): RecordT[] {
    const out: RecordT[] = [];
    for (const r of this.records.values()) if (r.kind === kind) out.push(r);
    return out;
  }

  private lookup(): Lookup {
    return {
      record: (kind, id) => {
        const r = this.records.get(id);
        return r && r.kind === kind ? r.fields : undefined;
      },
      resolve: (kind, key) => this.resolve(kind, key),
      find: (kind, field, value) =>
        this.of(kind)
          .filter((r) => r.fields[field] === value)
          .map((r) => [r.id, r.fields]),
      stockLevel: (item, branch) => this.level(item, branch),
      bookingsOn: (branch, date) =>
        this.of('booking')
          .filter((r) => r.fields.branch === branch && String(r.fields.start ?? '').startsWith(date))
          .map((r) => [r.id, r.fields]),
    };
  }

  private resolve(kind: string, key: string): string | null {
    const direct = this.records.get(key);
    if (direct && direct.kind === kind) return key;
    const nk = NATURAL_KEY[kind];
    if (!nk) return null;
    const k = kind === 'branch' ? key.toUpperCase() : key;
    const hit = this.of(kind).find((r) => r.fields[nk] === k);
    return hit ? hit.id : null;
  }

  private mustGet(kind: string, key: string): RecordT {
    const id = this.resolve(kind, key);
    const r = id ? this.records.get(id) : undefined;
    if (!r) throw err('not_found', `no ${kind} matches '${key}'`);
    return r;
  }

  private level(item: string, branch: string): number {
    let n = 0;
    for (const m of this.of('movement')) if (m.fields.item === item && m.fields.branch === branch) n += movementDelta(m.fields);
    return n;
  }

  private requireReady() {
    if (this.state !== 'ready') throw err('not_initialised', 'no replica: start a library system first');
  }

  private kindOk(kind: unknown): string {
    if (typeof kind !== 'string' || !SCHEMA.some((k) => k.kind === kind)) {
      throw err('usage', `unknown kind '${String(kind)}'`);
    }
    return kind;
  }

  private write(kind: string, id: string | null, input: Fields, who: { device?: string | null; op?: string } = {}): RecordT {
    const lk = this.lookup();
    const ctx = this.ctx();
    const nowMs = this.now().getTime();
    const staff = this.identity ? this.staffOfDevice() : null;
    const device = who.device ?? this.identity?.device_id ?? null;
    if (id === null) {
      const fields = validate(kind, input, ctx, lk);
      if (kind === 'ticket' && !fields.number) fields.number = this.nextTicketNumber(String(fields.branch));
      Object.assign(fields, { created_at: nowMs, created_by: staff, created_device: device });
      for (const k of Object.keys(fields)) if (fields[k] === null) delete fields[k];
      const rec: RecordT = { kind, id: globalThis.crypto?.randomUUID?.() ?? newId(), fields };
      this.records.set(rec.id, rec);
      this.addHistory(rec.id, who.op ?? 'create', input, device);
      this.afterCreate(rec);
      return rec;
    }
    const rec = this.records.get(id);
    if (!rec) throw err('not_found', `no ${kind} matches '${id}'`);
    const changes = validate(kind, input, ctx, lk, { id, fields: rec.fields });
    if (Object.keys(changes).length === 0) return rec;
    for (const [k, v] of Object.entries(changes)) {
      if (v === null) delete rec.fields[k];
      else rec.fields[k] = v;
    }
    const before = rec.fields.status;
    Object.assign(rec.fields, { updated_at: nowMs, updated_by: staff, updated_device: device });
    this.addHistory(rec.id, who.op ?? 'update', changes, device);
    if (kind === 'transfer') this.afterTransferUpdate(before, rec);
    return rec;
  }

  private staffOfDevice(): string | null {
    // The mock's operator is the gateway manager of this device's branch.
    const branch = this.identity?.branch;
    const s = this.of('staff').find((r) => r.fields.branch === branch && r.fields.role === 'gateway-manager');
    return s?.id ?? null;
  }

  private addHistory(id: string, op: string, fields: Fields, device: string | null) {
    const list = this.histories.get(id) ?? [];
    list.push({
      time: this.now().getTime(),
      device: this.deviceLabel(device) ?? 'this device',
      staff: this.nameOf(this.staffOfDevice()),
      op,
      fields: clone(fields),
      change: newId().replace(/-/g, '').slice(0, 16),
    });
    this.histories.set(id, list);
  }

  private afterCreate(rec: RecordT) {
    if (rec.kind === 'task-run') {
      const task = this.records.get(String(rec.fields.task));
      if (task) {
        const rule = String(task.fields.rule ?? '').toLowerCase();
        const date = String(rec.fields.date);
        const step: Record<string, number> = { daily: 1, weekly: 7, monthly: 30, quarterly: 91, yearly: 365 };
        const m = /^every (\d+) days$/.exec(rule);
        const n = m ? Number(m[1]) : step[rule];
        if (n) {
          const next = shiftDate(date, n);
          if (!task.fields.next_due || String(task.fields.next_due) < next) this.write('task', task.id, { next_due: next });
        }
      }
    } else if (rec.kind === 'transfer') {
      if (rec.fields.asset) this.write('asset', String(rec.fields.asset), { status: 'in-transit' });
      if (rec.fields.item)
        this.write('movement', null, {
          item: rec.fields.item,
          branch: rec.fields.from_branch,
          kind: 'transfer-out',
          qty: rec.fields.qty,
          transfer: rec.id,
        });
    }
  }

  // Like the node: a received transfer puts the asset or stock at its destination; a
  // cancelled one puts it back.
  private afterTransferUpdate(before: Value | undefined, rec: RecordT) {
    const status = rec.fields.status;
    if (before === status || (status !== 'received' && status !== 'cancelled')) return;
    const branch = status === 'received' ? rec.fields.to_branch : rec.fields.from_branch;
    if (rec.fields.asset) this.write('asset', String(rec.fields.asset), { branch, status: 'in-stock' });
    if (rec.fields.item)
      this.write('movement', null, { item: rec.fields.item, branch, kind: 'transfer-in', qty: rec.fields.qty, transfer: rec.id });
  }

  private nextTicketNumber(branch: string): string {
    let max = 0;
    for (const t of this.of('ticket')) {
      if (t.fields.branch !== branch) continue;
      const n = parseInt(String(t.fields.number ?? '').split('-').pop() ?? '', 10);
      if (n > max) max = n;
    }
    return `${branch}-${String(max + 1).padStart(4, '0')}`;
  }

  private changed(kinds: string[], docs: string[] = []) {
    this.emit('changed', { docs, kinds: [...new Set(kinds)], remote: false, at: Date.now() });
    const n = this.conflictList().length;
    if (n !== this.lastConflictCount) {
      this.lastConflictCount = n;
      this.emit('conflicts', { count: n });
    }
  }

  private list(kind: string, filter: Filter): RecordT[] {
    let out = this.of(kind);
    if (filter.branch) {
      const b = filter.branch.toUpperCase();
      out = out.filter((r) => (r.fields.branch ?? r.fields.from_branch) === b);
    }
    if (filter.search) {
      const q = filter.search.toLowerCase();
      out = out.filter((r) =>
        Object.entries(r.fields).some(
          ([k, v]) => typeof v === 'string' && !k.startsWith('created_') && v.toLowerCase().includes(q),
        ),
      );
    }
    if (filter.from_day) out = out.filter((r) => (recordDay(r.fields) ?? '') >= String(filter.from_day));
    if (filter.to_day) out = out.filter((r) => (recordDay(r.fields) ?? '\uffff') <= String(filter.to_day));
    for (const [k, v] of filter.fields ?? []) {
      out = out.filter((r) => {
        const x = r.fields[k];
        return x !== undefined && x !== null && (typeof x === 'boolean' ? String(x) === v : String(x) === v);
      });
    }
    if (filter.limit) out = out.slice(0, filter.limit);
    return out;
  }

  private stockLevels(branch: string | null): StockLevel[] {
    const levels = new Map<string, number>();
    for (const m of this.of('movement')) {
      const key = `${m.fields.item}\u0000${m.fields.branch}`;
      levels.set(key, (levels.get(key) ?? 0) + movementDelta(m.fields));
    }
    const out: StockLevel[] = [];
    for (const [key, level] of levels) {
      const [item, b] = key.split('\u0000');
      if (branch && b.toUpperCase() !== branch.toUpperCase()) continue;
      const rec = this.records.get(item);
      const reorder = typeof rec?.fields.reorder_level === 'number' ? rec.fields.reorder_level : 0;
      out.push({
        item,
        item_name: String(rec?.fields.name ?? item),
        branch: b,
        level,
        reorder_level: reorder,
        below_reorder: level < reorder,
      });
    }
    return out.sort((a, b) => a.item_name.localeCompare(b.item_name) || a.branch.localeCompare(b.branch));
  }

  private side(r: RecordT, what: string): Side {
    return {
      key: r.id,
      what,
      staff: this.nameOf(r.fields.created_by as string),
      device: this.deviceLabel(r.fields.created_device as string),
      actor: null,
      at: (r.fields.created_at as number) ?? 0,
    };
  }

  conflictList(): Conflict[] {
    const out: Conflict[] = [];
    const byStation = new Map<string, RecordT[]>();
    for (const b of this.of('booking')) {
      if (!bookingIsActive(b.fields)) continue;
      const k = `${b.fields.station}|${String(b.fields.start).slice(0, 10)}`;
      byStation.set(k, [...(byStation.get(k) ?? []), b]);
    }
    for (const [k, list] of byStation) {
      list.sort((a, b) => String(a.fields.start).localeCompare(String(b.fields.start)) || a.id.localeCompare(b.id));
      let cluster: RecordT[] = [];
      let end = '';
      const flush = () => {
        if (cluster.length > 1) {
          const ids = cluster.map((c) => c.id).sort();
          out.push({
            id: `db-${ids.map((i) => i.slice(0, 4)).join('')}`,
            kind: 'double-booking',
            doc: `bookings/${cluster[0].fields.branch}/${k.split('|')[1]}`,
            record: String(cluster[0].fields.station),
            field: null,
            summary: `station booked ${cluster.length} times at overlapping times on ${k.split('|')[1]}`,
            sides: cluster.map((c) =>
              this.side(c, `${String(c.fields.start).slice(11, 16)}-${String(c.fields.end).slice(11, 16)} for ${c.fields.patron}`),
            ),
          });
        }
        cluster = [];
      };
      for (const b of list) {
        if (cluster.length && String(b.fields.start) < end) {
          cluster.push(b);
          if (String(b.fields.end) > end) end = String(b.fields.end);
        } else {
          flush();
          cluster = [b];
          end = String(b.fields.end);
        }
      }
      flush();
    }
    for (const s of this.stockLevels(null)) {
      if (s.level >= 0) continue;
      const outgoing = this.of('movement').filter(
        (m) => m.fields.item === s.item && m.fields.branch === s.branch && movementDelta(m.fields) < 0,
      );
      out.push({
        id: `ns-${s.item.slice(0, 6)}-${s.branch}`,
        kind: 'negative-stock',
        doc: 'inventory',
        record: s.item,
        field: s.branch,
        summary: `${s.item_name} at ${s.branch} went to ${s.level}: more was issued than the branch had`,
        sides: outgoing.map((m) => this.side(m, `${m.fields.kind} ${m.fields.qty}`)),
      });
    }
    return [...out, ...this.staticConflicts.map((c) => c.conflict)];
  }

  private resolveConflict(id: string, keep: string): string {
    const c = this.conflictList().find((x) => x.id.startsWith(id));
    if (!c) throw err('not_found', `no conflict matches '${id}'`);
    if (c.kind === 'asset-field') {
      const st = this.staticConflicts.find((s) => s.conflict.id === c.id);
      if (!c.sides.some((s) => s.key === keep)) throw err('invalid', `keep: '${keep}' is not one side of this conflict`, 'keep');
      if (st) {
        const rec = this.records.get(st.asset);
        if (rec) {
          rec.fields[st.field] = keep;
          this.addHistory(rec.id, 'resolve', { [st.field]: keep }, this.identity?.device_id ?? null);
        }
        this.staticConflicts = this.staticConflicts.filter((s) => s !== st);
      }
      this.changed(['asset'], ['inventory']);
      return `set ${c.field} to ${keep}`;
    }
    if (c.kind === 'negative-stock' && keep.startsWith('count=')) {
      const counted = Number(keep.slice(6));
      if (!Number.isInteger(counted) || counted < 0) throw err('invalid', 'keep: count=N takes a whole number', 'keep');
      const level = this.level(c.record, String(c.field));
      this.write('movement', null, {
        item: c.record,
        branch: c.field,
        kind: 'adjust',
        qty: counted - level,
        note: `recount settles conflict ${c.id}`,
      });
      this.changed(['movement'], ['inventory']);
      return `recorded a count of ${counted} at ${c.field}`;
    }
    if (!c.sides.some((s) => s.key === keep)) throw err('invalid', `keep: '${keep}' is not one side of this conflict`, 'keep');
    const others = c.sides.filter((s) => s.key !== keep);
    if (c.kind === 'double-booking') {
      for (const s of others) this.write('booking', s.key, { status: 'cancelled' }, { op: 'resolve' });
      this.changed(['booking'], [c.doc]);
      return `kept booking ${keep}; cancelled ${others.length} other(s)`;
    }
    if (c.kind === 'negative-stock') {
      for (const s of others) this.write('movement', s.key, { cancelled: true }, { op: 'resolve' });
      this.changed(['movement'], [c.doc]);
      return `kept movement ${keep}; reversed ${others.length} other(s)`;
    }
    for (const s of others) this.write('ticket', s.key, { number: this.nextTicketNumber(String(this.records.get(s.key)?.fields.branch)) });
    this.changed(['ticket'], [c.doc]);
    return `kept ticket ${keep}`;
  }

  private dashboard(code: string, date: string | null): Dashboard {
    const branch = this.mustGet('branch', code);
    const now = isoDateTime(this.now());
    const today = isoDate(this.now());
    const day = date ?? today;
    const f = branch.fields;
    const open = openOn(f.hours as string, f.closures as string, day);
    const bookings = this.of('booking').filter(
      (b) => b.fields.branch === f.code && String(b.fields.start).startsWith(day) && bookingIsActive(b.fields),
    );
    const stations = this.of('asset')
      .filter((a) => a.fields.branch === f.code && a.fields.bookable === true && a.fields.status !== 'retired')
      .sort((a, b) => String(a.fields.tag).localeCompare(String(b.fields.tag)))
      .map((a) => {
        const mine = bookings
          .filter((b) => b.fields.station === a.id)
          .sort((x, y) => String(x.fields.start).localeCompare(String(y.fields.start)));
        return {
          id: a.id,
          tag: String(a.fields.tag),
          name: String(a.fields.name),
          status: String(a.fields.status),
          express: a.fields.express === true,
          now: mine.find((b) => String(b.fields.start) <= now && now < String(b.fields.end)) ?? null,
          next: mine.find((b) => String(b.fields.start) > now) ?? null,
        };
      });
    const dueBy = shiftDate(day, 7);
    const s = this.peers;
    return {
      branch,
      date: day,
      now,
      hours_today: open ? [formatClock(open[0]), formatClock(open[1])] : null,
      stations,
      bookings_today: bookings.length,
      open_tickets: this.of('ticket').filter(
        (t) => t.fields.branch === f.code && !['solved', 'closed'].includes(String(t.fields.status)),
      ),
      low_stock: this.stockLevels(String(f.code)).filter((l) => l.below_reorder),
      tasks_due: this.of('task').filter(
        (t) =>
          t.fields.retired !== true &&
          (!t.fields.branch || t.fields.branch === f.code) &&
          String(t.fields.next_due) <= dueBy,
      ),
      oncall: this.of('oncall').filter(
        (o) =>
          o.fields.cancelled !== true &&
          String(o.fields.start) <= now &&
          now < String(o.fields.end) &&
          String(o.fields.branches).split(',').includes(String(f.code)),
      ),
      conflicts: this.conflictList().length,
      sync: {
        connected: s.filter((p) => p.connected).length,
        known: this.known.length,
        last_synced: s.reduce<number | null>((m, p) => (p.last_synced && (!m || p.last_synced > m) ? p.last_synced : m), null),
        waiting: s.reduce((n, p) => n + p.docs_waiting, 0),
      },
    };
  }

  private bookingDay(code: string, date: string): BookingDay {
    const branch = this.mustGet('branch', code);
    const f = branch.fields;
    const open = openOn(f.hours as string, f.closures as string, date);
    return {
      branch,
      date,
      hours: open ? [formatClock(open[0]), formatClock(open[1])] : null,
      stations: this.of('asset')
        .filter((a) => a.fields.branch === f.code && a.fields.bookable === true && a.fields.status !== 'retired')
        .sort((a, b) => String(a.fields.tag).localeCompare(String(b.fields.tag))),
      bookings: this.of('booking').filter(
        (b) => b.fields.branch === f.code && String(b.fields.start).startsWith(date),
      ),
    };
  }

  private findAny(key: string): RecordT {
    const r = this.records.get(key);
    if (r) return r;
    for (const kind of Object.keys(NATURAL_KEY)) {
      const id = this.resolve(kind, key);
      if (id) return this.records.get(id) as RecordT;
    }
    throw err('not_found', `no record matches '${key}'`);
  }

  private delay(ms: number) {
    return new Promise((res) => setTimeout(res, ms));
  }

  private docOf(kind: string, r: RecordT): string {
    if (kind === 'booking') return `bookings/${r.fields.branch}/${String(r.fields.start).slice(0, 10)}`;
    if (['asset', 'licence', 'seat', 'stock-item', 'movement', 'vendor', 'replacement', 'transfer'].includes(kind)) return 'inventory';
    if (kind === 'ticket') return `tickets/${String(r.fields.opened_at).slice(0, 7)}`;
    if (kind === 'page') return `pages/${r.id}`;
    if (kind === 'usage') return `usage/${r.fields.branch}/${String(r.fields.date).slice(0, 7)}`;
    if (['task', 'task-run', 'oncall', 'training', 'retrieval'].includes(kind)) return 'schedule';
    return 'system';
  }

  private async handle(cmd: string, a: Record<string, unknown>): Promise<unknown> {
    switch (cmd) {
      case 'app_info':
        return {
          state: this.state,
          identity: this.identity,
          data_dir: '/home/staff/.local/share/branchline',
          listen: this.state === 'ready' ? '0.0.0.0:7733' : null,
          started_ms: this.startedMs,
          ready_ms: null,
        };
      case 'start_demo':
        if (this.state === 'ready') throw err('already_initialised', 'this computer already holds a replica');
        await this.delay(this.demoDelay);
        this.fill('Central desk 1', 'CEN');
        this.changed(SCHEMA.map((k) => k.kind));
        return this.identity;
      case 'start_new': {
        if (this.state === 'ready') throw err('already_initialised', 'this computer already holds a replica');
        const system = String(a.system ?? '').trim();
        const code = String(a.branch ?? '').trim().toUpperCase();
        const name = String(a.branchName ?? '').trim();
        const device = String(a.device ?? '').trim();
        if (!system) throw err('invalid', 'system: is required', 'system');
        if (!/^[A-Z0-9]{2,8}$/.test(code)) throw err('invalid', 'branch: must be 2-8 capital letters or digits', 'branch');
        if (!name) throw err('invalid', 'branchName: is required', 'branchName');
        if (!device) throw err('invalid', 'device: is required', 'device');
        const devId = newId();
        const bId = newId();
        this.records.set(bId, {
          kind: 'branch',
          id: bId,
          fields: {
            code,
            name,
            hours: 'Mon-Fri 09:00-20:00; Sat 09:00-17:00; Sun closed',
            session_minutes: 60,
            daily_cap_minutes: 120,
            express_minutes: 15,
            grace_minutes: 10,
            book_ahead_days: 7,
            retired: false,
          },
        });
        this.records.set(devId, { kind: 'device', id: devId, fields: { name: device, branch: code, role: 'authority', revoked: false } });
        this.identity = { system_id: newId(), system_name: system, device_id: devId, device_name: device, branch: code, actor: 'ab'.repeat(16) };
        this.state = 'ready';
        this.changed(['branch', 'device']);
        return this.identity;
      }
      case 'join_system': {
        if (this.state === 'ready') throw err('already_initialised', 'this computer already holds a replica');
        const code = String(a.code ?? '').trim();
        if (!code) throw err('invalid', 'code: is required', 'code');
        if (!/^BL1-[A-Z0-9-]{8,}$/i.test(code)) {
          throw err('join_refused', 'the invite code is not valid or has expired', 'code');
        }
        if (!String(a.device ?? '').trim()) throw err('invalid', 'device: is required', 'device');
        const peer = a.peer == null ? null : String(a.peer);
        if (peer && !/^[^\s:]+:\d{1,5}$/.test(peer)) throw err('invalid', 'peer: expected host:port', 'peer');
        await this.delay(this.demoDelay / 2);
        this.fill(String(a.device), String(a.branch ?? 'CEN').toUpperCase() || 'CEN');
        this.changed(SCHEMA.map((k) => k.kind));
        return this.identity;
      }
      case 'schema':
        return SCHEMA;
      case 'ui_ready':
        this.uiReadyMs = Number(a.ms);
        return null;
      case 'set_staff': {
        const key = a.key == null || a.key === '' ? null : String(a.key);
        if (key !== null && this.records.get(key)?.kind !== 'staff') {
          throw err('not_found', `no staff matches '${key}'`);
        }
        this.deskStaff = key;
        return null;
      }
    }
    this.requireReady();
    switch (cmd) {
      case 'list':
        return this.list(this.kindOk(a.kind), (a.filter as Filter) ?? {});
      case 'get':
        return this.mustGet(this.kindOk(a.kind), String(a.key));
      case 'create': {
        const kind = this.kindOk(a.kind);
        if (kind === 'device') throw err('usage', 'devices join with an invite; they are not created by hand');
        const r = this.write(kind, null, (a.fields as Fields) ?? {});
        this.changed([kind, ...(kind === 'transfer' ? ['asset', 'movement'] : []), ...(kind === 'task-run' ? ['task'] : [])], [this.docOf(kind, r)]);
        return r;
      }
      case 'update': {
        const kind = this.kindOk(a.kind);
        const rec = this.mustGet(kind, String(a.key));
        const r = this.write(kind, rec.id, (a.fields as Fields) ?? {});
        this.changed([kind, ...(kind === 'transfer' ? ['asset', 'movement'] : [])], [this.docOf(kind, r)]);
        return r;
      }
      case 'retire': {
        const kind = this.kindOk(a.kind);
        const def = SCHEMA.find((k) => k.kind === kind);
        if (!def?.retire) throw err('usage', `${kind} records cannot be retired`);
        const rec = this.mustGet(kind, String(a.key));
        const isFlag = def.fields.some((f) => f.name === def.retire && f.type === 'bool');
        const r = this.write(kind, rec.id, isFlag ? { [def.retire]: true } : { status: def.retire }, { op: 'retire' });
        this.changed([kind], [this.docOf(kind, r)]);
        return r;
      }
      case 'check': {
        const kind = this.kindOk(a.kind);
        try {
          const key = a.key == null ? null : String(a.key);
          const rec = key ? this.mustGet(kind, key) : null;
          validate(kind, (a.fields as Fields) ?? {}, this.ctx(), this.lookup(), rec ? { id: rec.id, fields: rec.fields } : undefined);
          return null;
        } catch (e) {
          if (e instanceof Invalid) return err('invalid', e.message, e.field);
          return e;
        }
      }
      case 'add_work': {
        const t = this.mustGet('ticket', String(a.ticket));
        const minutes = Number(a.minutes);
        const text = String(a.text ?? '').trim();
        if (!Number.isInteger(minutes) || minutes < 0) throw err('invalid', 'minutes: cannot be negative', 'minutes');
        if (!text) throw err('invalid', 'text: is required', 'text');
        const at = isoDateTime(this.now());
        t.work = [...(t.work ?? []), { at, minutes, text, device: this.identity?.device_id ?? null, staff: this.staffOfDevice() }];
        this.addHistory(t.id, 'work', { minutes, text }, this.identity?.device_id ?? null);
        if (!t.fields.first_response_at) t.fields.first_response_at = at;
        this.changed(['ticket'], [this.docOf('ticket', t)]);
        return t;
      }
      case 'use_part': {
        const t = this.mustGet('ticket', String(a.ticket));
        const f: Fields = { item: a.item as Value, branch: t.fields.branch, kind: 'issue', qty: a.qty as Value, ticket: t.id };
        if (t.fields.asset) f.asset = t.fields.asset;
        const r = this.write('movement', null, f);
        this.changed(['movement'], ['inventory']);
        return r;
      }
      case 'stock_levels':
        return this.stockLevels(a.branch == null ? null : String(a.branch));
      case 'conflicts':
        return this.conflictList();
      case 'resolve_conflict':
        return this.resolveConflict(String(a.id), String(a.keep));
      case 'history': {
        const r = this.findAny(String(a.key));
        return { record: r, entries: this.histories.get(r.id) ?? [] };
      }
      case 'dashboard':
        return this.dashboard(String(a.branch), a.date == null ? null : String(a.date));
      case 'booking_day':
        return this.bookingDay(String(a.branch), String(a.date));
      case 'sync_status':
        return {
          identity: this.identity,
          listen: '0.0.0.0:7733',
          peers: this.peers,
          known: this.known,
          conflicts: this.conflictList().length,
        };
      case 'invite': {
        const role = String(a.role);
        if (role !== 'peer' && role !== 'authority') throw err('invalid', "role: is 'peer' or 'authority'", 'role');
        const hours = Number(a.expiresHours);
        if (!(hours > 0 && hours <= 24 * 30)) throw err('invalid', 'expiresHours: must be between 1 and 720', 'expiresHours');
        const chunk = () => Math.random().toString(36).slice(2, 6).toUpperCase().padEnd(4, 'X');
        // Like the shell: an RFC 3339 local time with its offset.
        const expires = format(new Date(this.now().getTime() + hours * 3_600_000), "yyyy-MM-dd'T'HH:mm:ssXXX");
        return { code: `BL1-${chunk()}-${chunk()}-${chunk()}-${chunk()}`, expires };
      }
      case 'revoke_device': {
        const d = this.mustGet('device', String(a.id));
        if (d.id === this.identity?.device_id) throw err('usage', 'this device cannot revoke itself');
        const r = this.write('device', d.id, { revoked: true }, { op: 'revoke' });
        this.peers = this.peers.map((p) =>
          p.device_id === d.id ? { ...p, connected: false, last_error: 'handshake failed: certificate revoked' } : p,
        );
        this.changed(['device'], ['system']);
        this.emit('sync', clone(this.peers));
        return r;
      }
      case 'add_peer': {
        const addr = String(a.addr ?? '').trim();
        if (!/^(\[[0-9a-f:]+\]|[^\s:/]+):\d{1,5}$/i.test(addr) || Number(addr.split(':').pop()) > 65535) {
          throw err('invalid', 'addr: expected host:port, e.g. 192.0.2.10:7733', 'addr');
        }
        if (!this.known.some((k) => k.addr === addr)) {
          this.known.push({ addr, source: 'manual', device: null, last_seen: null, last_error: null });
        }
        this.emit('sync', clone(this.peers));
        return null;
      }
    }
    throw err('usage', `unknown command '${cmd}'`);
  }
}
