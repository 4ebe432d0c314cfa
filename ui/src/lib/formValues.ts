// Between stored values and what form inputs hold: inputs hold strings (and booleans for
// checkboxes); the back end wants typed values (int as a number, bool as a boolean, money
// as the string staff typed, which it parses to cents itself).

import type { FieldDef, Fields, RecordT, Value } from '../types';
import { formatMoney } from './format';

export type InputValue = string | boolean;
export type InputValues = Record<string, InputValue>;

export function toInput(def: FieldDef, v: Value | undefined): InputValue {
  if (def.type === 'bool') return v === true || v === 'true';
  if (v === null || v === undefined) return '';
  if (def.type === 'money' && typeof v === 'number') return formatMoney(v);
  if (def.type === 'datetime' && typeof v === 'string') return v.slice(0, 16);
  return String(v);
}

/** Starting input values: the record's (edit), else the given ones, else the defaults. */
export function initialInputs(defs: FieldDef[], record?: RecordT | null, initial?: Fields): InputValues {
  const out: InputValues = {};
  for (const d of defs) {
    let v: Value | undefined;
    if (record) v = record.fields[d.name];
    else if (initial && d.name in initial) v = initial[d.name];
    else v = d.default ?? undefined;
    out[d.name] = toInput(d, v);
  }
  return out;
}

export interface RefResolver {
  /** The id of a record of `kind` typed as its natural key or label, if known. */
  (kind: string, text: string): string | null;
}

export function fromInput(def: FieldDef, v: InputValue, resolveRef?: RefResolver): Value {
  if (def.type === 'bool') return v === true;
  const s = typeof v === 'string' ? v : String(v);
  if (def.multiline) return s.trim() === '' ? null : s;
  const t = s.trim();
  if (t === '') return null;
  switch (def.type) {
    case 'int':
      // Anything not a whole number goes as typed, so the back end names the problem.
      return /^[+-]?\d+$/.test(t) ? parseInt(t, 10) : t;
    case 'money':
      return t;
    case 'ref':
      return (resolveRef && def.ref && resolveRef(def.ref, t)) || t;
    default:
      return t;
  }
}

function sameValue(def: FieldDef, a: Value | undefined, b: Value): boolean {
  const na = a === undefined || a === '' ? null : a;
  const nb = b === '' ? null : b;
  if (def.type === 'money') {
    const fa = na === null ? null : typeof na === 'number' ? formatMoney(na) : String(na);
    const fb = nb === null ? null : String(nb);
    if (fa === null || fb === null) return fa === fb;
    return Number(fa.replace(/[$,]/g, '')) === Number(fb.replace(/[$,]/g, ''));
  }
  if (def.type === 'bool') return (na === true) === (nb === true);
  return na === nb || (na !== null && nb !== null && String(na) === String(nb));
}

/**
 * The fields to send. For a create: every field that has a value. For an update: only
 * the fields that differ from the record (a cleared field is sent as null).
 */
export function collect(
  defs: FieldDef[],
  values: InputValues,
  record?: RecordT | null,
  resolveRef?: RefResolver,
): Fields {
  const out: Fields = {};
  for (const d of defs) {
    if (!(d.name in values)) continue;
    const v = fromInput(d, values[d.name], resolveRef);
    if (record) {
      if (!sameValue(d, record.fields[d.name], v)) out[d.name] = v;
    } else if (v !== null) {
      out[d.name] = v;
    }
  }
  return out;
}
