import { describe, expect, it } from 'vitest';
import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Inventory } from '../screens/Inventory';
import { lastCall, makeMock, renderApp } from '../test/harness';
import type { RecordT } from '../types';

describe('inventory', () => {
  it('searches assets and reports a problem from an asset in two clicks', async () => {
    const mock = makeMock();
    const user = userEvent.setup();
    await renderApp(<Inventory />, mock);
    await waitFor(() => expect(screen.getAllByTestId('row').length).toBeGreaterThan(10));
    await user.type(screen.getByTestId('search'), 'SOU-PR-001');
    await waitFor(() => expect(screen.getAllByTestId('row')).toHaveLength(1));
    const row = screen.getByTestId('row');
    expect(row).toHaveTextContent('SOU-PR-001');
    const asset = (await mock.invoke('get', { kind: 'asset', key: 'SOU-PR-001' })) as RecordT;
    expect(row.dataset.id).toBe(asset.id);

    await user.click(row);
    await user.click(await screen.findByTestId('report-problem'));
    const dialog = await screen.findByTestId('ticket-form');
    expect(within(dialog).getByLabelText(/Asset/)).toHaveValue(asset.id);
    expect(within(dialog).getByLabelText(/Branch/)).toHaveValue('SOU');
    expect(within(dialog).getByLabelText(/Category/)).toHaveValue('printer');
    expect(document.activeElement).toHaveAttribute('name', 'summary');
    await user.keyboard('Streaks on every page{Enter}');
    await waitFor(() => expect(screen.queryByTestId('ticket-form')).toBeNull());
    expect(lastCall(mock, 'create')?.args).toMatchObject({
      kind: 'ticket',
      fields: { asset: asset.id, branch: 'SOU', category: 'printer', summary: 'Streaks on every page' },
    });
    expect(screen.getByTestId('notice')).toHaveTextContent(/Ticket SOU-\d{4} opened/);
  });

  it('moves an asset by preparing a transfer', async () => {
    const mock = makeMock();
    const user = userEvent.setup();
    await renderApp(<Inventory />, mock);
    await user.type(screen.getByTestId('search'), 'NOR-SC-001');
    await waitFor(() => expect(screen.getAllByTestId('row')).toHaveLength(1));
    await user.click(screen.getByTestId('row'));
    await user.click(await screen.findByTestId('move-asset'));
    fireEvent.change(screen.getByLabelText('To branch'), { target: { value: 'SOU' } });
    await user.click(screen.getByTestId('form-submit'));
    await waitFor(() => expect(lastCall(mock, 'create')?.args?.kind).toBe('transfer'));
    expect(lastCall(mock, 'create')?.args?.fields).toMatchObject({ from_branch: 'NOR', to_branch: 'SOU' });
    await waitFor(() => expect(screen.getByTestId('row')).toHaveTextContent('In transit'));
  });

  it('shows stock levels per branch and records a receipt', async () => {
    const mock = makeMock();
    const user = userEvent.setup();
    await renderApp(<Inventory />, mock);
    await user.click(screen.getByTestId('tab-stock'));
    await waitFor(() => expect(screen.getAllByTestId('row').length).toBe(6));
    const toner = screen.getAllByTestId('row').find((r) => r.textContent?.includes('HP 89A toner'))!;
    expect(toner).toHaveTextContent('Low at NOR');
    await user.click(toner);
    const form = await screen.findByTestId('movement-form');
    fireEvent.change(within(form).getByLabelText(/^Branch/), { target: { value: 'NOR' } });
    fireEvent.change(within(form).getByLabelText(/Quantity/), { target: { value: '6' } });
    await user.click(within(form).getByTestId('form-submit'));
    await waitFor(() => expect(lastCall(mock, 'create')?.args).toMatchObject({ kind: 'movement', fields: { branch: 'NOR', kind: 'receive', qty: 6 } }));
    await waitFor(() => expect(screen.getAllByTestId('row').find((r) => r.textContent?.includes('HP 89A toner'))).not.toHaveTextContent('Low at'));
  });
});
