// Which screen is showing, and the hand-offs between screens ("report a problem with
// this asset", "open this ticket"). A desktop app needs no URLs: state is enough.

import { createContext, useContext, useMemo, useState, type ReactNode } from 'react';

export type Screen =
  | 'dashboard'
  | 'inventory'
  | 'tickets'
  | 'bookings'
  | 'usage'
  | 'transfers'
  | 'schedules'
  | 'pages'
  | 'conflicts'
  | 'sync'
  | 'settings';

export interface NavParams {
  /** A record to select on arrival. */
  id?: string;
  branch?: string;
  date?: string;
  tab?: string;
  /** Open the create form, prefilled with these fields. */
  create?: Record<string, string | number | boolean>;
}

interface NavState {
  screen: Screen;
  params: NavParams;
  go(screen: Screen, params?: NavParams): void;
}

const Ctx = createContext<NavState>({ screen: 'dashboard', params: {}, go: () => {} });

export function NavProvider({ children, initial = 'dashboard' }: { children: ReactNode; initial?: Screen }) {
  const [state, setState] = useState<{ screen: Screen; params: NavParams }>({ screen: initial, params: {} });
  const value = useMemo<NavState>(
    () => ({ ...state, go: (screen, params = {}) => setState({ screen, params }) }),
    [state],
  );
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useNav(): NavState {
  return useContext(Ctx);
}
