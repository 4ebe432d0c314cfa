// Rendering screens against the mock back end with a pinned clock.

import type { ReactNode } from 'react';
import { expect } from 'vitest';
import { render, waitFor, type RenderResult } from '@testing-library/react';
import { setBackend } from '../api';
import { MockBackend } from '../mock';
import { setClock } from '../lib/clock';
import { DataProvider, useAppData } from '../lib/data';
import { NavProvider } from '../lib/nav';
import { NoticeProvider } from '../components/Notice';
import type { Identity, KindDef } from '../types';

/** Monday 23 November 2026, 10:07 local time: Central is open 09:00–21:00. */
export const NOW = new Date(2026, 10, 23, 10, 7);

export function makeMock(now: Date = NOW): MockBackend {
  const m = new MockBackend({ now: () => now, demoDelay: 0 });
  setBackend(m);
  setClock(() => now);
  return m;
}

function Ready({ children }: { children: ReactNode }) {
  const d = useAppData();
  // Screens assume the lookup lists are there (names, pickers): wait for them.
  if (d.lists.branch.length === 0 || d.lists.asset.length === 0 || d.lists.staff.length === 0) return <p>loading lists</p>;
  return <>{children}</>;
}

export async function renderApp(ui: ReactNode, mock: MockBackend): Promise<RenderResult> {
  const schema = (await mock.invoke('schema')) as KindDef[];
  const identity = mock.identity as Identity;
  const r = render(
    <NoticeProvider>
      <DataProvider schema={schema} identity={identity}>
        <NavProvider>
          <Ready>{ui}</Ready>
        </NavProvider>
      </DataProvider>
    </NoticeProvider>,
  );
  await waitFor(() => expect(r.queryByText('loading lists')).toBeNull());
  return r;
}

export function lastCall(mock: MockBackend, cmd: string) {
  const calls = mock.calls.filter((c) => c.cmd === cmd);
  return calls[calls.length - 1];
}
