// Read-only views of a record: its fields as a definition list, and its history.

import { api } from '../api';
import type { FieldDef, HistoryEntry, RecordT, Value } from '../types';
import { useAppData } from '../lib/data';
import { displayValue, labelOf } from '../lib/format';
import { useLive } from '../lib/live';
import { whenLocal } from '../lib/time';

/** A field's value in words, with refs resolved to names. */
export function useShow() {
  const data = useAppData();
  return (def: FieldDef | undefined, v: Value | undefined): string => {
    if (v === null || v === undefined || v === '') return '';
    if (def?.type === 'ref' && typeof v === 'string') return data.nameOf(def.ref ?? '', v);
    if (def?.type === 'branch' && typeof v === 'string') {
      const b = data.lists.branch.find((x) => x.fields.code === v);
      return b ? `${v} · ${b.fields.name}` : v;
    }
    return displayValue(def, v);
  };
}

export function FieldList({ record, only, skip = [] }: { record: RecordT; only?: string[]; skip?: string[] }) {
  const data = useAppData();
  const show = useShow();
  const defs = data.fieldDefs(record.kind);
  const names = only ?? defs.map((d) => d.name);
  return (
    <dl className="field-list">
      {names
        .filter((n) => !skip.includes(n))
        .map((n) => {
          const def = defs.find((d) => d.name === n);
          const text = show(def, record.fields[n]);
          if (!text) return null;
          return (
            <div key={n} className={def?.multiline ? 'wide' : undefined}>
              <dt>{labelOf(n)}</dt>
              <dd>{text}</dd>
            </div>
          );
        })}
    </dl>
  );
}

const OPS: Record<string, string> = {
  create: 'Created',
  update: 'Changed',
  retire: 'Retired',
  work: 'Work logged',
  resolve: 'Conflict settled',
  revoke: 'Revoked',
};

function describe(e: HistoryEntry, defs: FieldDef[], show: ReturnType<typeof useShow>): string {
  const parts = Object.entries(e.fields)
    .filter(([, v]) => v !== null && v !== '')
    .slice(0, 8)
    .map(([k, v]) => `${labelOf(k)}: ${show(defs.find((d) => d.name === k), v) || String(v)}`);
  return parts.join(' · ');
}

export function HistoryList({ recordId, kind }: { recordId: string; kind: string }) {
  const data = useAppData();
  const show = useShow();
  const h = useLive([kind], () => api.history(recordId), [recordId]);
  const defs = data.fieldDefs(kind);
  if (h.error) return <p className="muted">History is not available: {h.error.message}</p>;
  if (!h.data) return <p className="muted">Loading history…</p>;
  const entries = [...h.data.entries].sort((a, b) => b.time - a.time);
  if (entries.length === 0) return <p className="muted">No history recorded.</p>;
  return (
    <ol className="history" aria-label="History">
      {entries.map((e) => (
        <li key={e.change + e.time}>
          <div className="history-head">
            <strong>{OPS[e.op] ?? e.op}</strong>
            <span className="muted">
              {whenLocal(e.time)} · {e.staff ?? 'someone'} on {e.device}
            </span>
          </div>
          <div className="history-fields">{describe(e, defs, show)}</div>
        </li>
      ))}
    </ol>
  );
}
