// One calm message region for the whole app: confirmations and errors that do not belong
// to a form field. It is always in the DOM so screen readers and tests can find it.

import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from 'react';
import type { AppError } from '../types';
import { plainMessage } from '../lib/errors';

type Tone = 'ok' | 'info' | 'bad';
interface Msg {
  id: number;
  text: string;
  tone: Tone;
}

interface NoticeApi {
  notify(text: string, tone?: Tone): void;
  fail(err: AppError): void;
}

const Ctx = createContext<NoticeApi>({ notify: () => {}, fail: () => {} });

export function useNotice(): NoticeApi {
  return useContext(Ctx);
}

export function NoticeProvider({ children }: { children: ReactNode }) {
  const [msgs, setMsgs] = useState<Msg[]>([]);
  const next = useRef(1);

  const dismiss = useCallback((id: number) => setMsgs((m) => m.filter((x) => x.id !== id)), []);

  const notify = useCallback(
    (text: string, tone: Tone = 'ok') => {
      const id = next.current++;
      setMsgs((m) => [...m.slice(-2), { id, text, tone }]);
      // Errors stay until dismissed; confirmations fade after a while.
      if (tone !== 'bad') setTimeout(() => dismiss(id), 6000);
    },
    [dismiss],
  );

  const api = useMemo<NoticeApi>(
    () => ({ notify, fail: (err) => notify(plainMessage(err), 'bad') }),
    [notify],
  );

  return (
    <Ctx.Provider value={api}>
      {children}
      <div className="notices" data-testid="notice" role="status" aria-live="polite">
        {msgs.map((m) => (
          <div key={m.id} className={`notice notice-${m.tone}`}>
            <span>{m.text}</span>
            <button type="button" className="link" onClick={() => dismiss(m.id)} aria-label="Dismiss message">
              ×
            </button>
          </div>
        ))}
      </div>
    </Ctx.Provider>
  );
}
