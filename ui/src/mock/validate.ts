// The validation of crates/core/src/validate.rs, ported for the mock back end so the UI
// meets the same messages, on the same fields, in the same order as with the real one.

import type { FieldDef, Fields, Value } from '../types';
import { openOn, formatClock, parseHours, parseClosures } from '../lib/hours';
import { SCHEMA } from './schema';

export class Invalid extends Error {
  constructor(
    public field: string,
    public msg: string,
  ) {
    super(`${field}: ${msg}`);
  }
}

export interface Lookup {
  record(kind: string, id: string): Fields | undefined;
  /** An id from an id or a natural key (asset tag, branch code...). */
  resolve(kind: string, key: string): string | null;
  find(kind: string, field: string, value: Value): [string, Fields][];
  stockLevel(item: string, branch: string): number;
  bookingsOn(branch: string, date: string): [string, Fields][];
}

export interface Ctx {
  /** Local wall time, "YYYY-MM-DDTHH:MM". */
  now: string;
  systemId: string;
}

const fail = (field: string, msg: string): never => {
  throw new Invalid(field, msg);
};

export function defsOf(kind: string): FieldDef[] {
  return SCHEMA.find((k) => k.kind === kind)?.fields ?? [];
}

function hash16(s: string): string {
  // Two FNV-1a passes: enough to make a stable, opaque reference in the mock.
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < s.length; i++) {
    h1 = Math.imul(h1 ^ s.charCodeAt(i), 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ s.charCodeAt(s.length - 1 - i), 0x811c9dc5) >>> 0;
  }
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
}

export function patronRef(systemId: string, input: string): string {
  const s = input.trim();
  if (/^p:[0-9a-f]{16}$/i.test(s)) return s;
  const g = /^[gG]-(.*)$/.exec(s);
  if (g) {
    if (g[1] && g[1].length <= 16 && /^[A-Za-z0-9]+$/.test(g[1])) return `G-${g[1].toUpperCase()}`;
    throw new Error('guest pass must be G- followed by up to 16 letters or digits');
  }
  const card = s.startsWith('card:') ? s.slice(5) : s;
  if (!card || card.length > 32 || !/^[A-Za-z0-9]+$/.test(card)) {
    throw new Error('expected a library card number or a guest pass G-...');
  }
  return `p:${hash16(`${systemId}\0patron\0${card}`)}`;
}

export function parseMoney(s: string): number | null {
  const t = s.trim().replace(/^\$+/, '');
  const [whole, frac = ''] = t.split('.', 2);
  if (t.split('.').length > 2) return null;
  if (frac.length > 2 || (whole === '' && frac === '')) return null;
  if (!/^[\d,]*$/.test(whole) || !/^\d*$/.test(frac)) return null;
  const w = whole === '' ? 0 : Number(whole.replace(/,/g, ''));
  const f = frac === '' ? 0 : Number(frac.padEnd(2, '0'));
  return w * 100 + f;
}

function parseBool(s: string): boolean | null {
  const t = s.trim().toLowerCase();
  if (['true', 'yes', 'y', '1'].includes(t)) return true;
  if (['false', 'no', 'n', '0', ''].includes(t)) return false;
  return null;
}

export function normaliseDateTime(s: string): string | null {
  let t = s.trim().replace(' ', 'T');
  if (t.length === 19 && t.endsWith(':00')) t = t.slice(0, 16);
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(t);
  if (!m) return null;
  const d = new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  if (d.getMonth() !== +m[2] - 1 || d.getDate() !== +m[3] || +m[4] > 23 || +m[5] > 59) return null;
  return t;
}

function isDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const d = new Date(+m[1], +m[2] - 1, +m[3]);
  return d.getMonth() === +m[2] - 1 && d.getDate() === +m[3];
}

function display(v: Value): string {
  if (v === null) return '';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return String(v);
}

function normaliseValue(kind: string, def: FieldDef, v: Value, ctx: Ctx, lk: Lookup): Value {
  if (v === null) return null;
  const name = def.name;
  const multiline = ['text', 'description', 'notes', 'resolution'].includes(name);
  let text = typeof v === 'string' ? (multiline ? v : v.trim()) : display(v);
  if (multiline && text.trim() === '') return null;
  if (text === '' && def.type !== 'bool') return null;
  switch (def.type) {
    case 'text':
      if (kind === 'booking' && name === 'patron') {
        try {
          return patronRef(ctx.systemId, text);
        } catch (e) {
          return fail(name, (e as Error).message);
        }
      }
      if (text.length > 100_000) fail(name, 'text longer than 100000 characters');
      return text;
    case 'int':
      if (typeof v === 'number' && Number.isInteger(v)) return v;
      if (!/^[+-]?\d+$/.test(text)) fail(name, `'${text}' is not a whole number`);
      return parseInt(text, 10);
    case 'money': {
      if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
      const m = parseMoney(text);
      if (m === null) fail(name, `'${text}' is not an amount like 12.50`);
      return m;
    }
    case 'bool': {
      if (typeof v === 'boolean') return v;
      const b = parseBool(text);
      if (b === null) fail(name, `'${text}' is not yes or no`);
      return b;
    }
    case 'date':
      if (!isDate(text)) fail(name, `'${text}' is not a date YYYY-MM-DD`);
      return text;
    case 'datetime': {
      const t = normaliseDateTime(text);
      if (t === null) fail(name, `'${text}' is not a time YYYY-MM-DDTHH:MM`);
      return t;
    }
    case 'enum': {
      const t = text.toLowerCase().replace(/_/g, '-');
      if (!def.options?.includes(t)) fail(name, `'${text}' is not one of: ${def.options?.join(', ')}`);
      return t;
    }
    case 'branch':
      return checkBranch(name, text, lk);
    case 'branches': {
      const codes = [...new Set(text.split(',').map((c) => checkBranch(name, c.trim(), lk)))];
      codes.sort();
      return codes.join(',');
    }
    case 'ref': {
      const id = lk.resolve(def.ref ?? '', text);
      if (!id) fail(name, `unknown ${def.ref} '${text}'`);
      return id;
    }
  }
  return text;
}

function checkBranch(field: string, code: string, lk: Lookup): string {
  const c = code.trim().toUpperCase();
  if (!lk.resolve('branch', c)) fail(field, `unknown branch '${c}'`);
  return c;
}

const s = (f: Fields, k: string): string | undefined => {
  const v = f[k];
  return typeof v === 'string' ? v : undefined;
};
const i = (f: Fields, k: string): number | undefined => {
  const v = f[k];
  return typeof v === 'number' ? v : undefined;
};
const b = (f: Fields, k: string): boolean => f[k] === true;

/** Validate a create (existing undefined) or an update; returns the full record for a
 * create, the changed fields for an update. */
export function validate(
  kind: string,
  input: Fields,
  ctx: Ctx,
  lk: Lookup,
  existing?: { id: string; fields: Fields },
): Fields {
  const defs = defsOf(kind);
  const given: Fields = {};
  for (const [name, v] of Object.entries(input)) {
    const def = defs.find((d) => d.name === name);
    if (!def) fail(name, `${kind} has no field '${name}'`);
    given[name] = normaliseValue(kind, def as FieldDef, v, ctx, lk);
  }
  const merged: Fields = {};
  if (existing) Object.assign(merged, existing.fields);
  else
    for (const d of defs)
      if (d.default !== null) merged[d.name] = normaliseValue(kind, d, d.default, ctx, lk);
  fillDerived(kind, given, merged, ctx, lk);
  Object.assign(merged, given);
  for (const d of defs) {
    if (d.required && (merged[d.name] === null || merged[d.name] === undefined)) fail(d.name, 'is required');
  }
  rules(kind, existing?.id ?? null, merged, given, ctx, lk);
  if (!existing) {
    const out: Fields = {};
    for (const [k, v] of Object.entries(merged)) if (v !== null && v !== undefined) out[k] = v;
    return out;
  }
  const out: Fields = {};
  for (const [k, v] of Object.entries(given)) if (existing.fields[k] !== v) out[k] = v;
  return out;
}

function fillDerived(kind: string, given: Fields, current: Fields, ctx: Ctx, lk: Lookup) {
  const absent = (k: string) => (given[k] ?? null) === null && (current[k] ?? null) === null;
  if (kind === 'booking') {
    const station = s(given, 'station');
    const a = station ? lk.record('asset', station) : undefined;
    if (a) {
      const branch = a.branch ?? null;
      const gb = given.branch ?? null;
      if (gb !== null && gb !== branch) fail('branch', `station is at ${display(branch)}, not ${display(gb)}`);
      given.branch = branch;
    }
  } else if (kind === 'ticket') {
    if (absent('opened_at')) given.opened_at = ctx.now;
    if (absent('branch')) {
      const a = s(given, 'asset');
      const rec = a ? lk.record('asset', a) : undefined;
      if (rec) given.branch = rec.branch ?? null;
    }
  } else if (kind === 'retrieval' && absent('requested_at')) {
    given.requested_at = ctx.now;
  }
}

function endAfterStart(f: Fields): [string, string] {
  const start = s(f, 'start') ?? fail('start', 'is required');
  const end = s(f, 'end') ?? fail('end', 'is required');
  if (end <= start) fail('end', 'is before the start');
  return [start, end];
}

function nonNegative(f: Fields, names: string[]) {
  for (const n of names) if ((i(f, n) ?? 0) < 0) fail(n, 'cannot be negative');
}

export function parseRule(rule: string): boolean {
  const r = rule.trim().toLowerCase();
  if (['daily', 'weekly', 'monthly', 'quarterly', 'yearly', 'annually'].includes(r)) return true;
  const m = /^every (\d+) days$/.exec(r);
  return !!m && Number(m[1]) > 0 && Number(m[1]) <= 3660;
}

export function bookingIsActive(f: Fields): boolean {
  return !['cancelled', 'no-show'].includes(s(f, 'status') ?? '');
}

const minutesBetween = (a: string, b: string) =>
  (new Date(b.replace('T', ' ')).getTime() - new Date(a.replace('T', ' ')).getTime()) / 60000;
const mod = (dt: string) => Number(dt.slice(11, 13)) * 60 + Number(dt.slice(14, 16));

function bookingRules(id: string | null, f: Fields, given: Fields, ctx: Ctx, lk: Lookup) {
  const [start, end] = endAfterStart(f);
  const stationId = s(f, 'station') ?? '';
  const station = lk.record('asset', stationId) ?? fail('station', 'unknown station');
  const tag = s(station, 'tag') ?? stationId;
  if (!b(station, 'bookable')) fail('station', `${tag} is not a bookable station`);
  const st = s(station, 'status');
  if (st === 'retired' || st === 'lost' || st === 'in-repair') fail('station', `${tag} is ${st}`);
  const code = s(f, 'branch') ?? '';
  const bid = lk.resolve('branch', code);
  const branch = (bid && lk.record('branch', bid)) || fail('branch', `unknown branch '${code}'`);
  if (!bookingIsActive(f)) return;
  const timingChanged = id === null || 'start' in given || 'end' in given || 'status' in given;
  if (!timingChanged) return;
  if (start.slice(0, 10) !== end.slice(0, 10)) fail('end', 'a session ends on the day it starts');
  const open = openOn(s(branch, 'hours'), s(branch, 'closures'), start.slice(0, 10));
  if (!open) fail('start', `${code} is closed on ${start.slice(0, 10)}`);
  const [o, c] = open as [number, number];
  if (mod(start) < o || mod(end) > c) {
    fail('start', `outside opening hours (${formatClock(o)}-${formatClock(c)})`);
  }
  const length = minutesBetween(start, end);
  const max = b(station, 'express') ? (i(branch, 'express_minutes') ?? 15) : (i(branch, 'session_minutes') ?? 60);
  if (length > max) fail('end', `session of ${length} minutes is longer than the ${max} minutes allowed`);
  if (id === null) {
    const grace = i(branch, 'grace_minutes') ?? 10;
    if (end <= ctx.now || minutesBetween(ctx.now, start) + grace < 0) fail('start', 'is in the past');
    const days = Math.round(
      (new Date(`${start.slice(0, 10)}T00:00`).getTime() - new Date(`${ctx.now.slice(0, 10)}T00:00`).getTime()) /
        86_400_000,
    );
    const ahead = i(branch, 'book_ahead_days') ?? 7;
    if (days > ahead) fail('start', `bookings open only ${ahead} days ahead`);
  }
  const patron = s(f, 'patron') ?? '';
  let patronMinutes = length;
  for (const [oid, o] of lk.bookingsOn(code, start.slice(0, 10))) {
    if (oid === id || !bookingIsActive(o)) continue;
    const os = s(o, 'start');
    const oe = s(o, 'end');
    if (!os || !oe) continue;
    const overlaps = os < end && start < oe;
    if (overlaps && s(o, 'station') === stationId) {
      fail('start', `station is already booked ${os.slice(11, 16)}-${oe.slice(11, 16)}`);
    }
    if (s(o, 'patron') === patron) {
      if (overlaps) fail('patron', 'already has a booking at that time');
      patronMinutes += minutesBetween(os, oe);
    }
  }
  const cap = i(branch, 'daily_cap_minutes') ?? 120;
  if (patronMinutes > cap) {
    fail('patron', `would have ${patronMinutes} minutes booked that day; the cap is ${cap}`);
  }
}

function rules(kind: string, id: string | null, f: Fields, given: Fields, ctx: Ctx, lk: Lookup) {
  switch (kind) {
    case 'branch': {
      const code = s(f, 'code') ?? '';
      if (!/^[A-Z0-9]{2,8}$/.test(code)) fail('code', 'must be 2-8 capital letters or digits');
      if ((id === null || 'code' in given) && lk.find('branch', 'code', code).some(([o]) => o !== id)) {
        fail('code', `branch ${code} already exists`);
      }
      const h = s(f, 'hours');
      if (h !== undefined) {
        const p = parseHours(h);
        if (!p.ok) fail('hours', p.error);
      }
      const c = s(f, 'closures');
      if (c !== undefined) {
        const p = parseClosures(c);
        if (!p.ok) fail('closures', p.error);
      }
      for (const n of ['session_minutes', 'daily_cap_minutes', 'express_minutes', 'book_ahead_days']) {
        if ((i(f, n) ?? 1) <= 0) fail(n, 'must be more than 0');
      }
      nonNegative(f, ['grace_minutes']);
      break;
    }
    case 'staff':
      if (s(f, 'email') !== undefined && !s(f, 'email')?.includes('@')) fail('email', 'is not an email address');
      break;
    case 'asset': {
      const tag = s(f, 'tag') ?? '';
      if ((id === null || 'tag' in given) && lk.find('asset', 'tag', tag).some(([o]) => o !== id)) {
        fail('tag', `asset tag ${tag} is already used`);
      }
      nonNegative(f, ['purchase_cost', 'warranty_months']);
      if (b(f, 'bookable') && s(f, 'category') !== 'public-pc') fail('bookable', 'only public PCs can be booked');
      break;
    }
    case 'licence':
      nonNegative(f, ['seats']);
      break;
    case 'stock-item':
      nonNegative(f, ['reorder_level', 'target_level', 'unit_cost']);
      break;
    case 'movement': {
      const qty = i(f, 'qty') ?? 0;
      const mk = s(f, 'kind') ?? '';
      if (mk === 'adjust') {
        if (qty === 0) fail('qty', 'an adjustment of 0 changes nothing');
      } else if (qty <= 0) fail('qty', 'must be more than 0');
      if (id === null && (mk === 'issue' || mk === 'transfer-out')) {
        const branch = s(f, 'branch') ?? '';
        const level = lk.stockLevel(s(f, 'item') ?? '', branch);
        if (qty > level) fail('qty', `${branch} has only ${level} in stock`);
      }
      break;
    }
    case 'replacement':
      if ((i(f, 'qty') ?? 0) <= 0) fail('qty', 'must be more than 0');
      break;
    case 'ticket': {
      nonNegative(f, ['vendor_cost', 'out_of_service_minutes']);
      const opened = s(f, 'opened_at') ?? '';
      for (const n of ['first_response_at', 'solved_at', 'closed_at']) {
        const t = s(f, n);
        if (t !== undefined && t < opened) fail(n, 'is before the ticket was opened');
      }
      break;
    }
    case 'transfer': {
      const asset = s(f, 'asset');
      const item = s(f, 'item');
      if (!asset && !item) fail('asset', 'give an asset or a stock item');
      if (asset && item) fail('item', 'a transfer moves an asset or a stock item, not both');
      if (!asset && item && (i(f, 'qty') ?? 0) <= 0) fail('qty', 'must be more than 0');
      if (s(f, 'from_branch') === s(f, 'to_branch')) fail('to_branch', 'is the branch it comes from');
      if (id === null) {
        if (asset) {
          const a = lk.record('asset', asset) ?? {};
          if (s(a, 'branch') !== s(f, 'from_branch')) fail('from_branch', `the asset is at ${s(a, 'branch') ?? '?'}`);
        }
        const from = s(f, 'from_branch');
        if (item && from) {
          const level = lk.stockLevel(item, from);
          if ((i(f, 'qty') ?? 0) > level) fail('qty', `${from} has only ${level} in stock`);
        }
      }
      break;
    }
    case 'task':
      if (!parseRule(s(f, 'rule') ?? '')) fail('rule', "use daily, weekly, monthly, quarterly, yearly or 'every N days'");
      break;
    case 'task-run':
      nonNegative(f, ['size_mb']);
      break;
    case 'oncall':
    case 'training':
      endAfterStart(f);
      nonNegative(f, ['attendees']);
      break;
    case 'booking':
      bookingRules(id, f, given, ctx, lk);
      break;
    case 'usage':
      nonNegative(f, [
        'sessions',
        'minutes',
        'walkups',
        'bookings',
        'no_shows',
        'print_bw',
        'print_colour',
        'wifi_sessions',
        'microform_uses',
      ]);
      break;
    case 'retrieval': {
      const a = s(f, 'requested_at');
      const c = s(f, 'fulfilled_at');
      if (a && c && c < a) fail('fulfilled_at', 'is before the request');
      break;
    }
  }
}
