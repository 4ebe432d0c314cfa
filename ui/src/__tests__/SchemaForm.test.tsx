import { describe, expect, it } from 'vitest';
import { fireEvent, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { SchemaForm } from '../components/SchemaForm';
import { lastCall, makeMock, renderApp } from '../test/harness';
import type { RecordT } from '../types';

function input(name: string): HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement {
  const el = document.querySelector(`[name="${name}"]`);
  if (!el) throw new Error(`no input named ${name}`);
  return el as HTMLInputElement;
}

describe('schema-driven form', () => {
  it('renders the right input for each field type, each with a label', async () => {
    const mock = makeMock();
    await renderApp(<SchemaForm kind="asset" />, mock);
    expect(input('tag')).toHaveAttribute('type', 'text');
    expect(input('category').tagName).toBe('SELECT');
    expect([...(input('category') as HTMLSelectElement).options].map((o) => o.value)).toContain('public-pc');
    expect(input('bookable')).toHaveAttribute('type', 'checkbox');
    expect(input('purchase_date')).toHaveAttribute('type', 'date');
    expect(input('warranty_months')).toHaveAttribute('type', 'number');
    expect(input('purchase_cost')).toHaveAttribute('inputmode', 'decimal');
    expect(input('branch').tagName).toBe('SELECT');
    expect([...(input('branch') as HTMLSelectElement).options].map((o) => o.value)).toEqual(['', 'CEN', 'NOR', 'SOU']);
    // A ref to a short list is a select of that kind's records, by name.
    const supplier = input('supplier') as HTMLSelectElement;
    expect(supplier.tagName).toBe('SELECT');
    expect([...supplier.options].map((o) => o.text)).toContain('CDW Government');
    expect(input('notes').tagName).toBe('TEXTAREA');
    // Every input has a label pointing at it, and ids are unique.
    const ids = [...document.querySelectorAll('form input, form select, form textarea')].map((el) => el.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(document.querySelector(`label[for="${id}"]`)).not.toBeNull();
    expect(screen.getByLabelText(/Purchase cost/)).toBe(input('purchase_cost'));
  });

  it('sends typed values: int as number, bool as boolean, money as typed', async () => {
    const mock = makeMock();
    const user = userEvent.setup();
    let saved: RecordT | null = null;
    await renderApp(<SchemaForm kind="asset" onSaved={(r) => (saved = r)} />, mock);
    await user.type(input('tag'), 'CEN-PU-099');
    await user.type(input('name'), 'Dell OptiPlex 7020');
    await user.selectOptions(input('category'), 'public-pc');
    await user.selectOptions(input('branch'), 'CEN');
    await user.type(input('warranty_months'), '36');
    await user.type(input('purchase_cost'), '812.50');
    await user.click(input('bookable'));
    await user.selectOptions(input('supplier'), (input('supplier') as HTMLSelectElement).options[1].value);
    await user.click(screen.getByTestId('form-submit'));
    await waitFor(() => expect(saved).not.toBeNull());
    const fields = lastCall(mock, 'create')?.args?.fields as Record<string, unknown>;
    expect(fields.warranty_months).toBe(36);
    expect(fields.bookable).toBe(true);
    expect(fields.purchase_cost).toBe('812.50');
    expect(fields.category).toBe('public-pc');
    expect(typeof fields.supplier).toBe('string');
    // The mock stores money as cents, like the real node.
    expect(saved!.fields.purchase_cost).toBe(81250);
  });

  it('shows the back end’s message under the field it names', async () => {
    const mock = makeMock();
    await renderApp(<SchemaForm kind="asset" />, mock);
    fireEvent.change(input('tag'), { target: { value: 'CEN-PU-001' } });
    fireEvent.change(input('name'), { target: { value: 'Dup' } });
    fireEvent.change(input('category'), { target: { value: 'printer' } });
    fireEvent.change(input('branch'), { target: { value: 'CEN' } });
    fireEvent.submit(input('tag').closest('form')!);
    expect(await screen.findByTestId('field-error-tag')).toHaveTextContent('Asset tag CEN-PU-001 is already used.');
    expect(screen.getByTestId('form-error')).toHaveTextContent(/check Tag/);
    expect(input('tag')).toHaveAttribute('aria-invalid', 'true');
  });

  it('edits send only the fields that changed', async () => {
    const mock = makeMock();
    const rec = (await mock.invoke('get', { kind: 'asset', key: 'CEN-PU-003' })) as RecordT;
    const user = userEvent.setup();
    await renderApp(<SchemaForm kind="asset" record={rec} />, mock);
    expect(input('purchase_cost')).toHaveValue('687.50');
    await user.clear(input('location'));
    await user.type(input('location'), 'Children’s');
    await user.keyboard('{Enter}');
    await waitFor(() => expect(lastCall(mock, 'update')).toBeDefined());
    expect(lastCall(mock, 'update')?.args).toEqual({ kind: 'asset', key: rec.id, fields: { location: 'Children’s' } });
  });
});
