import { describe, expect, it } from 'vitest';
import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { App } from '../App';
import { setBackend } from '../api';
import { MockBackend } from '../mock';
import { setClock } from '../lib/clock';
import { NOW } from '../test/harness';

describe('the app', () => {
  it('starts on the first-run screen, runs the demo, and becomes ready', async () => {
    const mock = new MockBackend({ state: 'empty', now: () => NOW, demoDelay: 20 });
    setBackend(mock);
    setClock(() => NOW);
    const user = userEvent.setup();
    render(<App />);
    expect(await screen.findByTestId('firstrun-join')).toBeInTheDocument();
    expect(screen.getByTestId('firstrun-new')).toBeInTheDocument();
    await user.click(screen.getByTestId('firstrun-demo'));
    expect(screen.getByText(/Setting up the demo library system/)).toBeInTheDocument();
    const dash = await screen.findByTestId('dashboard');
    await waitFor(() => expect(dash).toHaveAttribute('data-ready', 'true'));
    await waitFor(() => expect(window.__blReady).toBe(true));
    await waitFor(() => expect(typeof mock.uiReadyMs).toBe('number'));
    expect(mock.calls.filter((c) => c.cmd === 'ui_ready')).toHaveLength(1);
    expect(screen.getByTestId('bookings-today')).toHaveTextContent(/\d+/);
    expect(screen.getByTestId('conflict-count')).toHaveTextContent('2');

    // Every screen is reachable from the rail.
    for (const id of ['inventory', 'tickets', 'bookings', 'usage', 'transfers', 'schedules', 'pages', 'conflicts', 'sync', 'settings']) {
      await user.click(screen.getByTestId(`nav-${id}`));
      expect(screen.getByTestId(`nav-${id}`)).toHaveAttribute('aria-current', 'page');
    }
    await user.click(screen.getByTestId('nav-conflicts'));
    expect(await screen.findAllByTestId('conflict')).toHaveLength(2);
  });

  it('starts a new library system, showing a field error first', async () => {
    const mock = new MockBackend({ state: 'empty', now: () => NOW, demoDelay: 0 });
    setBackend(mock);
    const user = userEvent.setup();
    render(<App />);
    await user.click(await screen.findByTestId('firstrun-new'));
    await user.type(screen.getByLabelText('Library system name'), 'Lakeside Libraries');
    await user.type(screen.getByLabelText('Branch code'), 'main library');
    await user.type(screen.getByLabelText('Branch name'), 'Main');
    await user.type(screen.getByLabelText('Name of this computer'), 'Desk 1');
    await user.click(screen.getByTestId('form-submit'));
    expect(await screen.findByTestId('field-error-branch')).toHaveTextContent('Branch code must be 2-8 capital letters or digits.');
    await user.clear(screen.getByLabelText('Branch code'));
    await user.type(screen.getByLabelText('Branch code'), 'LAK{Enter}');
    const dash = await screen.findByTestId('dashboard');
    await waitFor(() => expect(dash).toHaveAttribute('data-ready', 'true'));
    expect(screen.getByText('Lakeside Libraries')).toBeInTheDocument();
  });

  it('records who is at the desk with the node and remembers it on this computer', async () => {
    localStorage.clear();
    const mock = new MockBackend({ state: 'ready', now: () => NOW, demoDelay: 0 });
    setBackend(mock);
    setClock(() => NOW);
    const user = userEvent.setup();
    render(<App />);
    const picker = await screen.findByTestId('desk-staff');
    const staff = [...mock.records.values()].find((r) => r.kind === 'staff' && r.fields.retired !== true)!;
    await waitFor(() => expect(picker.querySelector(`option[value="${staff.id}"]`)).not.toBeNull());
    await user.selectOptions(picker, staff.id);
    await waitFor(() => expect(mock.deskStaff).toBe(staff.id));
    expect(localStorage.getItem('branchline.deskStaff')).toBe(staff.id);
    await user.selectOptions(picker, '');
    await waitFor(() => expect(mock.deskStaff).toBeNull());
    expect(localStorage.getItem('branchline.deskStaff')).toBeNull();
  });
});
