import type { ReactNode } from 'react';
import { toneOf, wordsOf, type Tone } from '../lib/format';

/** A status in words with a tint; colour is never the only signal. */
export function Badge({ tone, children, title }: { tone: Tone; children: ReactNode; title?: string }) {
  return (
    <span className={`badge badge-${tone}`} title={title}>
      {children}
    </span>
  );
}

export function StatusBadge({ status }: { status: string | null | undefined }) {
  if (!status) return null;
  return <Badge tone={toneOf(status)}>{wordsOf(status)}</Badge>;
}
