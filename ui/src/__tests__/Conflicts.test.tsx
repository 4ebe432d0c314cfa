import { describe, expect, it } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Conflicts } from '../screens/Conflicts';
import { lastCall, makeMock, renderApp } from '../test/harness';
import type { Conflict } from '../types';

describe('conflicts screen', () => {
  it('shows both sides with who, which device and when, and keeps the chosen side', async () => {
    const mock = makeMock();
    const conflicts = (await mock.invoke('conflicts')) as Conflict[];
    const dbl = conflicts.find((c) => c.kind === 'double-booking')!;
    await renderApp(<Conflicts />, mock);
    const card = await waitFor(() => {
      const el = document.querySelector<HTMLElement>(`[data-testid=conflict][data-id="${dbl.id}"]`);
      expect(el).not.toBeNull();
      return el!;
    });
    expect(screen.getAllByTestId('conflict')).toHaveLength(2);
    expect(card).toHaveTextContent('A PC was booked twice · CEN-PU-005');
    const keeps = within(card).getAllByTestId('keep');
    expect(keeps.map((k) => k.dataset.key)).toEqual(dbl.sides.map((s) => s.key));
    expect(card).toHaveTextContent('Elena Ito');
    expect(card).toHaveTextContent('Central desk 1 (CEN)');
    expect(card).toHaveTextContent('Chloe Evans');
    expect(card).toHaveTextContent('Tech laptop (CEN)');
    expect(card).toHaveTextContent('14:00-15:00 for G-1042');

    await userEvent.setup().click(keeps[1]);
    await waitFor(() => expect(lastCall(mock, 'resolve_conflict')?.args).toEqual({ id: dbl.id, keep: dbl.sides[1].key }));
    await waitFor(() => expect(document.querySelector(`[data-testid=conflict][data-id="${dbl.id}"]`)).toBeNull());
    expect(screen.getByTestId('notice')).toHaveTextContent(`Settled: kept ${dbl.sides[1].what}.`);
  });

  it('keeps an asset value by its key and then shows the empty state', async () => {
    const mock = makeMock();
    const all = (await mock.invoke('conflicts')) as Conflict[];
    for (const c of all.filter((x) => x.kind === 'double-booking')) await mock.invoke('resolve_conflict', { id: c.id, keep: c.sides[0].key });
    await renderApp(<Conflicts />, mock);
    const keep = await screen.findAllByTestId('keep');
    expect(keep.map((k) => k.dataset.key)).toEqual(['NOR', 'SOU']);
    await userEvent.setup().click(keep[1]);
    expect(await screen.findByTestId('no-conflicts')).toBeInTheDocument();
    const laptop = (await mock.invoke('get', { kind: 'asset', key: 'CEN-LA-001' })) as { fields: { branch: string } };
    expect(laptop.fields.branch).toBe('SOU');
  });
});
