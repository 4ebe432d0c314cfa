import { describe, expect, it } from 'vitest';
import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Sync } from '../screens/Sync';
import { makeMock, renderApp } from '../test/harness';

describe('devices & sync screen', () => {
  it('lists peers, and explains in a sentence why one is not syncing', async () => {
    const mock = makeMock();
    await renderApp(<Sync />, mock);
    const peers = await screen.findAllByTestId('peer');
    expect(peers.map((p) => p.dataset.connected)).toEqual(['true', 'false']);
    expect(peers[0]).toHaveTextContent('Tech laptop');
    expect(peers[0]).toHaveTextContent('Changes sent 388 · received 412');
    expect(within(peers[1]).getByTestId('peer-reason')).toHaveTextContent(
      'The other device did not answer. It may be switched off or asleep',
    );
    expect(peers[1]).toHaveTextContent('4 documents waiting');
    expect(peers[1]).not.toHaveTextContent('net.timed_out');
  });

  it('follows live peer status from the sync event', async () => {
    const mock = makeMock();
    await renderApp(<Sync />, mock);
    await screen.findAllByTestId('peer');
    act(() => {
      mock.setPeers(mock.peers.map((p) => ({ ...p, connected: false, last_error: 'handshake failed: certificate revoked' })));
    });
    await waitFor(() => expect(screen.getAllByTestId('peer').map((p) => p.dataset.connected)).toEqual(['false', 'false']));
    expect(screen.getAllByTestId('peer-reason')[0]).toHaveTextContent(/revoked/);
  });

  it('creates an invite and shows the code with a QR code', async () => {
    const mock = makeMock();
    await renderApp(<Sync />, mock);
    await userEvent.setup().click(await screen.findByTestId('invite'));
    const code = await screen.findByTestId('invite-code');
    expect(code.textContent).toMatch(/^BL1-/);
    await waitFor(() => expect(document.querySelector('.qr svg')).not.toBeNull());
    expect(screen.getByText(/Valid until/)).toBeInTheDocument();
  });

  it('revokes a device only after confirming', async () => {
    const mock = makeMock();
    const user = userEvent.setup();
    await renderApp(<Sync />, mock);
    const buttons = await screen.findAllByTestId('revoke');
    expect(buttons).toHaveLength(2); // not this computer
    await user.click(buttons[0]);
    expect(mock.calls.some((c) => c.cmd === 'revoke_device')).toBe(false);
    await user.click(screen.getByTestId('confirm'));
    await waitFor(() => expect(mock.calls.some((c) => c.cmd === 'revoke_device')).toBe(true));
    await waitFor(() => expect(screen.getAllByText('Revoked').length).toBe(1));
  });
});
