import { describe, expect, it } from 'vitest';
import { collect, fromInput, initialInputs, toInput } from './formValues';
import type { FieldDef, RecordT } from '../types';

const d = (name: string, type: FieldDef['type'], extra: Partial<FieldDef> = {}): FieldDef => ({
  name,
  type,
  required: false,
  default: null,
  help: '',
  ...extra,
});
const defs = [
  d('tag', 'text'),
  d('warranty_months', 'int'),
  d('purchase_cost', 'money'),
  d('bookable', 'bool', { default: 'false' }),
  d('purchase_date', 'date'),
  d('notes', 'text', { multiline: true }),
  d('supplier', 'ref', { ref: 'vendor' }),
];

describe('form values', () => {
  it('sends int as a number, bool as a boolean and money as typed', () => {
    const out = collect(defs, {
      tag: ' CEN-PU-009 ',
      warranty_months: '36',
      purchase_cost: '12.50',
      bookable: true,
      purchase_date: '2026-01-31',
      notes: '',
      supplier: '',
    });
    expect(out).toEqual({
      tag: 'CEN-PU-009',
      warranty_months: 36,
      purchase_cost: '12.50',
      bookable: true,
      purchase_date: '2026-01-31',
    });
    expect(typeof out.warranty_months).toBe('number');
  });

  it('leaves a non-number as typed so the back end can name the problem', () => {
    expect(fromInput(defs[1], '3.5')).toBe('3.5');
  });

  it('resolves a typed natural key to an id for refs', () => {
    expect(fromInput(defs[6], 'Dell', (kind, text) => (kind === 'vendor' && text === 'Dell' ? 'v-1' : null))).toBe('v-1');
    expect(fromInput(defs[6], 'Unknown', () => null)).toBe('Unknown');
  });

  it('shows stored money (cents) as an amount and sends only changed fields on edit', () => {
    const rec: RecordT = {
      kind: 'asset',
      id: 'a1',
      fields: { tag: 'T1', warranty_months: 36, purchase_cost: 125000, bookable: false, notes: 'old' },
    };
    const values = initialInputs(defs, rec);
    expect(values.purchase_cost).toBe('1250.00');
    expect(toInput(defs[3], true)).toBe(true);
    expect(collect(defs, values, rec)).toEqual({});
    expect(collect(defs, { ...values, warranty_months: '48', notes: '' }, rec)).toEqual({ warranty_months: 48, notes: null });
    expect(collect(defs, { ...values, purchase_cost: '1250' }, rec)).toEqual({});
  });

  it('starts a new record from the schema defaults', () => {
    expect(initialInputs(defs).bookable).toBe(false);
    expect(initialInputs(defs, null, { tag: 'X' }).tag).toBe('X');
  });
});
