import { describe, expect, it } from 'vitest';
import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Tickets } from '../screens/Tickets';
import { lastCall, makeMock, renderApp } from '../test/harness';
import type { RecordT } from '../types';

describe('tickets', () => {
  it('assigns, logs work, records a part and resolves a ticket', async () => {
    const mock = makeMock();
    const user = userEvent.setup();
    await renderApp(<Tickets />, mock);
    await waitFor(() => expect(screen.getAllByTestId('row')).toHaveLength(5)); // open ones only
    const row = screen.getAllByTestId('row').find((r) => r.textContent?.includes('CEN-0002'))!;
    expect(row).toHaveTextContent('New');
    await user.click(row);

    await user.click(screen.getByRole('tab', { name: 'Assign' }));
    const chloe = (await mock.invoke('get', { kind: 'staff', key: 'Chloe Evans' })) as RecordT;
    fireEvent.change(screen.getByLabelText('Assign to'), { target: { value: chloe.id } });
    await user.click(screen.getByTestId('form-submit'));
    await waitFor(() =>
      expect(lastCall(mock, 'update')?.args).toMatchObject({ kind: 'ticket', fields: { assignee: chloe.id, status: 'assigned' } }),
    );

    await user.click(screen.getByRole('tab', { name: 'Work log' }));
    await user.type(screen.getByLabelText('What was done'), 'Reinstalled the reservation client');
    await user.type(screen.getByLabelText('Minutes spent'), '25');
    await user.click(screen.getByTestId('form-submit'));
    await waitFor(() => expect(lastCall(mock, 'add_work')?.args).toMatchObject({ minutes: 25, text: 'Reinstalled the reservation client' }));
    expect(await screen.findByText('Reinstalled the reservation client')).toBeInTheDocument();

    await user.click(screen.getByRole('tab', { name: 'Parts used' }));
    const kb = (await mock.invoke('get', { kind: 'stock-item', key: 'USB keyboard' })) as RecordT;
    fireEvent.change(screen.getByLabelText('Part or supply'), { target: { value: kb.id } });
    await user.click(screen.getByTestId('form-submit'));
    await waitFor(() => expect(lastCall(mock, 'use_part')?.args).toMatchObject({ item: kb.id, qty: 1 }));
    expect(await screen.findByText(/1 × USB keyboard from CEN/)).toBeInTheDocument();

    await user.click(screen.getByRole('tab', { name: 'Resolve' }));
    await user.type(screen.getByLabelText('How it was fixed'), 'Client reinstalled');
    await user.click(screen.getByTestId('form-submit'));
    await waitFor(() =>
      expect(lastCall(mock, 'update')?.args).toMatchObject({ fields: { resolution: 'Client reinstalled', status: 'solved', solved_at: '2026-11-23T10:07' } }),
    );
    // Solved tickets leave the "open" list.
    await waitFor(() => expect(screen.getAllByTestId('row')).toHaveLength(4));
  });

  it('sends a ticket to a vendor with the cost as typed', async () => {
    const mock = makeMock();
    const user = userEvent.setup();
    await renderApp(<Tickets />, mock);
    await waitFor(() => expect(screen.getAllByTestId('row').length).toBeGreaterThan(0));
    await user.click(screen.getAllByTestId('row').find((r) => r.textContent?.includes('SOU-0004'))!);
    await user.click(screen.getByRole('tab', { name: 'Vendor repair' }));
    const detail = screen.getByRole('complementary');
    fireEvent.change(within(detail).getByLabelText('Vendor'), { target: { value: within(detail).getByLabelText('Vendor').querySelectorAll('option')[1].getAttribute('value') } });
    await user.type(within(detail).getByLabelText('Vendor repair cost'), '45.00');
    await user.click(within(detail).getByTestId('form-submit'));
    await waitFor(() => expect(lastCall(mock, 'update')?.args).toMatchObject({ fields: { vendor_cost: '45.00', status: 'waiting-vendor' } }));
  });
});
