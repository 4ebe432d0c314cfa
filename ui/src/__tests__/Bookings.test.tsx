import { describe, expect, it } from 'vitest';
import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Bookings } from '../screens/Bookings';
import { lastCall, makeMock, renderApp } from '../test/harness';

const q = (sel: string) => [...document.querySelectorAll<HTMLElement>(sel)];

async function openGrid() {
  const mock = makeMock();
  await renderApp(<Bookings />, mock);
  await waitFor(() => expect(q('[data-testid=grid-row]').length).toBe(8));
  return mock;
}

describe('booking grid', () => {
  it('has one row per bookable station and slots from opening to closing', async () => {
    await openGrid();
    expect(q('[data-testid=grid-row]').map((r) => r.dataset.station)).toEqual([
      'CEN-PU-001',
      'CEN-PU-002',
      'CEN-PU-003',
      'CEN-PU-004',
      'CEN-PU-005',
      'CEN-PU-006',
      'CEN-PU-007',
      'CEN-PU-008',
    ]);
    expect(screen.getByTestId('grid-date')).toHaveValue('2026-11-23');
    // Monday 09:00–21:00 at 10:07: 09:00–09:45 are past (grace 10 min), 10:00–20:45 bookable.
    const express = q('[data-testid=slot][data-station=CEN-PU-001]').map((s) => s.dataset.time);
    expect(express[0]).toBe('10:00');
    expect(express[express.length - 1]).toBe('20:45');
    expect(express).toHaveLength(44);
    expect(q('[data-testid=slot-past]').length).toBeGreaterThan(0);
  });

  it('places bookings as blocks in their station row and leaves those slots out', async () => {
    await openGrid();
    const row = q('[data-testid=grid-row][data-station=CEN-PU-003]')[0];
    const blocks = within(row).getAllByTestId('booking');
    expect(blocks.map((b) => b.textContent?.slice(0, 5))).toEqual(['11:00', '14:00', '17:00', '20:00']);
    expect(blocks.every((b) => b.dataset.station === 'CEN-PU-003')).toBe(true);
    const times = within(row)
      .getAllByTestId('slot')
      .map((s) => s.dataset.time);
    expect(times).toContain('10:45');
    expect(times).not.toContain('11:00');
    expect(times).not.toContain('11:45');
    expect(times).toContain('12:00');
    // An hour block spans four 15-minute columns.
    expect((blocks[0].parentElement as HTMLElement).style.gridColumn).toBe('9 / span 4');
  });

  it('shows the policy problem under the field while typing, then books', async () => {
    const mock = await openGrid();
    const user = userEvent.setup();
    await user.click(q('[data-testid=slot][data-station=CEN-PU-001][data-time="12:00"]')[0]);
    const dialog = await screen.findByTestId('booking-form');
    const end = dialog.querySelector('[name=end]') as HTMLInputElement;
    expect(end.value).toBe('2026-11-23T12:15'); // express station: 15 minutes
    await user.type(dialog.querySelector('[name=patron]') as HTMLInputElement, 'G-5');
    fireEvent.change(end, { target: { value: '2026-11-23T12:45' } });
    expect(await screen.findByTestId('field-error-end')).toHaveTextContent(
      'Session of 45 minutes is longer than the 15 minutes allowed.',
    );
    expect(lastCall(mock, 'check')?.args?.kind).toBe('booking');
    fireEvent.change(end, { target: { value: '2026-11-23T12:15' } });
    await waitFor(() => expect(screen.queryByTestId('field-error-end')).toBeNull());
    await user.click(within(dialog).getByTestId('form-submit'));
    await waitFor(() => expect(screen.queryByTestId('booking-form')).toBeNull());
    await waitFor(() =>
      expect(q('[data-testid=booking][data-station=CEN-PU-001]').map((b) => b.textContent?.slice(0, 5))).toEqual(['12:00']),
    );
    expect(screen.getByTestId('notice')).toHaveTextContent('Booked CEN-PU-001 12:00–12:15.');
  });

  it('refuses a double booking with the message on the start field', async () => {
    await openGrid();
    const user = userEvent.setup();
    await user.click(q('[data-testid=slot][data-station=CEN-PU-003][data-time="10:30"]')[0]);
    const dialog = await screen.findByTestId('booking-form');
    // 10:30 + 60 min is cut at the 11:00 booking; push it into that booking.
    expect((dialog.querySelector('[name=end]') as HTMLInputElement).value).toBe('2026-11-23T11:00');
    fireEvent.change(dialog.querySelector('[name=end]')!, { target: { value: '2026-11-23T11:30' } });
    fireEvent.change(dialog.querySelector('[name=patron]')!, { target: { value: 'G-9' } });
    await user.click(within(dialog).getByTestId('form-submit'));
    expect(await screen.findByTestId('field-error-start')).toHaveTextContent('Station is already booked 11:00-12:00.');
  });

  it('checks a booking in, and keyboard Enter on a slot opens the form', async () => {
    const mock = await openGrid();
    const user = userEvent.setup();
    const block = q('[data-testid=booking][data-station=CEN-PU-003]')[0];
    await user.click(block);
    await user.click(await screen.findByTestId('booking-checkin'));
    await waitFor(() => expect(lastCall(mock, 'update')?.args).toMatchObject({ kind: 'booking', key: block.dataset.id, fields: { status: 'checked-in' } }));
    await waitFor(() => expect(q(`[data-testid=booking][data-id="${block.dataset.id}"]`)[0].dataset.status).toBe('checked-in'));

    const slot = q('[data-testid=slot][data-station=CEN-PU-002][data-time="13:00"]')[0];
    slot.focus();
    await user.keyboard('{Enter}');
    expect(await screen.findByTestId('booking-form')).toBeInTheDocument();
    await user.keyboard('{Escape}');
    await waitFor(() => expect(screen.queryByTestId('booking-form')).toBeNull());
  });

  it('moves between slots and bookings with the arrow keys (one tab stop)', async () => {
    await openGrid();
    const user = userEvent.setup();
    const tabbable = q('[data-testid=grid-row] button[tabindex="0"]');
    expect(tabbable).toHaveLength(1);
    expect(tabbable[0].dataset.station).toBe('CEN-PU-001');
    expect(tabbable[0].dataset.time).toBe('10:00');
    tabbable[0].focus();
    await user.keyboard('{ArrowRight}');
    expect(document.activeElement).toHaveAttribute('data-time', '10:15');
    await user.keyboard('{ArrowDown}{ArrowDown}');
    expect(document.activeElement).toHaveAttribute('data-station', 'CEN-PU-003');
    // From 10:15 on CEN-PU-003 the next thing to the right after 10:45 is the 11:00 booking.
    await user.keyboard('{ArrowRight}{ArrowRight}{ArrowRight}');
    expect(document.activeElement).toHaveAttribute('data-testid', 'booking');
    await user.keyboard('{Enter}');
    expect(await screen.findByTestId('booking-checkin')).toBeInTheDocument();
  });

  it('says so when the branch is closed that day', async () => {
    await openGrid();
    fireEvent.change(screen.getByTestId('grid-branch'), { target: { value: 'NOR' } });
    fireEvent.change(screen.getByTestId('grid-date'), { target: { value: '2026-11-29' } }); // Sunday
    expect(await screen.findByTestId('grid-closed')).toHaveTextContent('Northside is closed');
  });
});
