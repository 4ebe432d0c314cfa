import { describe, expect, it } from 'vitest';
import { act, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Pages } from '../screens/Pages';
import { lastCall, makeMock, renderApp } from '../test/harness';
import type { RecordT } from '../types';

describe('documentation pages', () => {
  it('edits a page body, says when someone else changed it meanwhile, and saves', async () => {
    const mock = makeMock();
    const user = userEvent.setup();
    await renderApp(<Pages />, mock);
    const row = (await screen.findAllByTestId('row')).find((r) => r.textContent?.includes('Resetting a frozen public PC'))!;
    await user.click(row);
    expect(await screen.findByTestId('page-text')).toHaveTextContent('Check the reservation client.');
    await user.click(screen.getByTestId('edit-page'));
    const body = screen.getByLabelText(/Page text/) as HTMLTextAreaElement;
    await user.type(body, '\n4. Note the station tag in the ticket.');

    // Someone at another branch edits the same page.
    const page = (await mock.invoke('get', { kind: 'page', key: 'Resetting a frozen public PC' })) as RecordT;
    await act(async () => {
      await mock.invoke('update', { kind: 'page', key: page.id, fields: { text: `0. Stay calm.\n${page.fields.text}` } });
      mock.remoteChange(['page'], [`pages/${page.id}`]);
    });
    expect(await screen.findByText(/Someone changed this page on another computer/)).toBeInTheDocument();
    // The person's own typing is not thrown away by the live update.
    expect((screen.getByLabelText(/Page text/) as HTMLTextAreaElement).value).toContain('4. Note the station tag');

    await user.click(screen.getByTestId('form-submit'));
    await waitFor(() => expect(lastCall(mock, 'update')?.args?.fields).toHaveProperty('text'));
    expect(String((lastCall(mock, 'update')?.args?.fields as { text: string }).text)).toContain('4. Note the station tag');
    expect(await screen.findByTestId('page-text')).toBeInTheDocument();
  });
});
