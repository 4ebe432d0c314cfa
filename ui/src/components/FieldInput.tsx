// One form field, chosen from its FieldDef: enum → select, bool → checkbox,
// date/datetime → native pickers, branch → branch select, ref → a picker of that kind.

import type { FieldDef, RecordT } from '../types';
import type { InputValue } from '../lib/formValues';
import { labelOf, wordsOf } from '../lib/format';
import { naturalKey, titleOf, useAppData } from '../lib/data';

// Lists longer than this get a type-to-search field instead of a long select.
const SELECT_LIMIT = 80;

export interface FieldProps {
  def: FieldDef;
  id: string;
  value: InputValue;
  onChange: (v: InputValue) => void;
  onBlur?: () => void;
  error?: string | null;
  readOnly?: boolean;
  label?: string;
  /** Restrict a ref picker to records of this branch (e.g. stations of the grid's branch). */
  branchFilter?: string;
  refFilter?: (r: RecordT) => boolean;
  autoFocus?: boolean;
}

export function FieldInput({ def, id, value, onChange, onBlur, error, readOnly, label, branchFilter, refFilter, autoFocus }: FieldProps) {
  const data = useAppData();
  const text = label ?? labelOf(def.name);
  const hintId = `${id}-hint`;
  const errId = `${id}-error`;
  const showHelp = !!def.help && (def.type === 'bool' || def.help.toLowerCase() !== text.toLowerCase());
  const described = [showHelp ? hintId : null, error ? errId : null].filter(Boolean).join(' ') || undefined;
  const common = {
    id,
    name: def.name,
    onBlur,
    disabled: readOnly,
    'aria-invalid': error ? true : undefined,
    'aria-describedby': described,
    'aria-required': def.required || undefined,
    'data-autofocus': autoFocus || undefined,
  } as const;
  const str = typeof value === 'string' ? value : '';

  let control: JSX.Element;
  switch (def.type) {
    case 'bool':
      return (
        <div className={`field field-check${error ? ' has-error' : ''}`}>
          <input
            {...common}
            type="checkbox"
            checked={value === true}
            onChange={(e) => onChange(e.target.checked)}
          />
          <label htmlFor={id}>{text}</label>
          {showHelp && <small id={hintId} className="hint">{def.help}</small>}
          {error && (
            <p className="field-error" id={errId} data-testid={`field-error-${def.name}`}>
              {error}
            </p>
          )}
        </div>
      );
    case 'enum':
      control = (
        <select {...common} value={str} onChange={(e) => onChange(e.target.value)}>
          {(!def.required || !def.default || str === '') && <option value="">{def.required ? 'Choose…' : '—'}</option>}
          {(def.options ?? []).map((o) => (
            <option key={o} value={o}>
              {wordsOf(o)}
            </option>
          ))}
        </select>
      );
      break;
    case 'branch':
      control = (
        <select {...common} value={str} onChange={(e) => onChange(e.target.value)}>
          {(!def.required || str === '') && <option value="">{def.required ? 'Choose a branch…' : '—'}</option>}
          {data.activeBranches.map((b) => (
            <option key={b.id} value={String(b.fields.code)}>
              {String(b.fields.code)} · {String(b.fields.name)}
            </option>
          ))}
          {str && !data.activeBranches.some((b) => b.fields.code === str) && <option value={str}>{str}</option>}
        </select>
      );
      break;
    case 'branches': {
      const chosen = new Set(str.split(',').map((s) => s.trim()).filter(Boolean));
      const toggle = (code: string, on: boolean) => {
        const next = new Set(chosen);
        if (on) next.add(code);
        else next.delete(code);
        onChange([...next].sort().join(','));
      };
      return (
        <fieldset className={`field field-branches${error ? ' has-error' : ''}`} aria-describedby={described}>
          <legend>{text}</legend>
          <div className="checks">
            {data.activeBranches.map((b, i) => {
              const code = String(b.fields.code);
              return (
                <span key={b.id} className="check">
                  <input
                    type="checkbox"
                    id={i === 0 ? id : `${id}-${code}`}
                    name={def.name}
                    value={code}
                    checked={chosen.has(code)}
                    disabled={readOnly}
                    onChange={(e) => toggle(code, e.target.checked)}
                  />
                  <label htmlFor={i === 0 ? id : `${id}-${code}`}>{code}</label>
                </span>
              );
            })}
          </div>
          {showHelp && <small id={hintId} className="hint">{def.help}</small>}
          {error && (
            <p className="field-error" id={errId} data-testid={`field-error-${def.name}`}>
              {error}
            </p>
          )}
        </fieldset>
      );
    }
    case 'ref': {
      const kind = def.ref ?? '';
      const list = (data.lists as Record<string, RecordT[]>)[kind];
      let records = list ?? [];
      if (branchFilter) records = records.filter((r) => !r.fields.branch || r.fields.branch === branchFilter);
      if (refFilter) records = records.filter((r) => refFilter(r) || r.id === str);
      records = records.filter((r) => (r.fields.retired !== true && r.fields.status !== 'retired') || r.id === str);
      if (list && records.length <= SELECT_LIMIT) {
        const sorted = [...records].sort((a, b) => titleOf(a).localeCompare(titleOf(b)));
        control = (
          <select {...common} value={str} onChange={(e) => onChange(e.target.value)}>
            <option value="">{def.required ? 'Choose…' : '—'}</option>
            {sorted.map((r) => (
              <option key={r.id} value={r.id}>
                {titleOf(r)}
              </option>
            ))}
            {str && !records.some((r) => r.id === str) && <option value={str}>{data.nameOf(kind, str)}</option>}
          </select>
        );
      } else {
        // Type-to-search: the input shows a natural key (asset tag), the form maps it to an id.
        const nk = naturalKey(kind);
        const shown = data.byId(str) && nk ? String(data.byId(str)?.fields[nk] ?? str) : str;
        const listId = `${id}-list`;
        control = (
          <>
            <input
              {...common}
              type="text"
              list={listId}
              value={shown}
              autoComplete="off"
              placeholder={kind === 'asset' ? 'Type an asset tag, e.g. CEN-PU-003' : undefined}
              onChange={(e) => onChange(e.target.value)}
            />
            <datalist id={listId}>
              {records.slice(0, 2000).map((r) => (
                <option key={r.id} value={nk ? String(r.fields[nk] ?? '') : r.id}>
                  {titleOf(r)}
                </option>
              ))}
            </datalist>
          </>
        );
      }
      break;
    }
    default: {
      const type =
        def.type === 'int' ? 'number' : def.type === 'date' ? 'date' : def.type === 'datetime' ? 'datetime-local' : 'text';
      if (def.type === 'text' && def.multiline) {
        control = <textarea {...common} value={str} rows={def.name === 'text' ? 12 : 3} onChange={(e) => onChange(e.target.value)} />;
      } else {
        control = (
          <input
            {...common}
            type={type}
            value={str}
            step={def.type === 'int' ? 1 : def.type === 'datetime' ? 60 : undefined}
            inputMode={def.type === 'money' ? 'decimal' : def.type === 'int' ? 'numeric' : undefined}
            placeholder={def.type === 'money' ? '0.00' : undefined}
            onChange={(e) => onChange(e.target.value)}
          />
        );
      }
    }
  }

  return (
    <div className={`field${error ? ' has-error' : ''}${def.multiline ? ' field-wide' : ''}`}>
      <label htmlFor={id}>
        {text}
        {def.required && <span className="req"> (required)</span>}
      </label>
      {control}
      {showHelp && (
        <small id={hintId} className="hint">
          {def.help}
        </small>
      )}
      {error && (
        <p className="field-error" id={errId} data-testid={`field-error-${def.name}`}>
          {error}
        </p>
      )}
    </div>
  );
}
