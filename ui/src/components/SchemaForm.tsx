// The generic create/edit form: every kind's fields come from the `schema` command, so
// every record kind gets a correct form; screens choose which fields and add context.

import { useEffect, useId, useMemo, useRef, useState, type ReactNode } from 'react';
import { api } from '../api';
import type { AppError, FieldDef, Fields, RecordT } from '../types';
import { useAppData, naturalKey, titleOf } from '../lib/data';
import { collect, initialInputs, type InputValue, type InputValues } from '../lib/formValues';
import { fieldMessage, plainMessage } from '../lib/errors';
import { labelOf } from '../lib/format';
import { FieldInput } from './FieldInput';

const META = new Set(['created_at', 'created_by', 'created_device', 'updated_at', 'updated_by', 'updated_device']);
export const CHECK_DEBOUNCE_MS = 150;

export interface SchemaFormProps {
  kind: string;
  /** Edit this record; without it the form creates one. */
  record?: RecordT | null;
  /** Prefilled values for a new record. */
  initial?: Fields;
  /** Fields to show, in order (default: all but the retire flag and meta fields). */
  fields?: string[];
  /** Fields that are shown but cannot be changed here. */
  readOnly?: string[];
  /** Values sent with every create/update without a visible input. */
  fixed?: Fields;
  /** Ask the back end (`check`) while staff type and show problems before they submit. */
  liveCheck?: boolean;
  submitLabel?: string;
  onSaved?: (r: RecordT) => void;
  onCancel?: () => void;
  /** Replace the default create/update call (e.g. a ticket's resolve action). */
  save?: (fields: Fields) => Promise<RecordT>;
  /** Custom labels. */
  labels?: Record<string, string>;
  branchFilter?: string;
  /** Narrow the records a ref picker offers. */
  refFilter?: (r: RecordT) => boolean;
  columns?: 1 | 2;
  /** The field that gets the focus when the form opens in a dialog. */
  autoFocus?: string;
  /** Follow the inputs as staff type (e.g. a preview beside the form). */
  onValues?: (v: InputValues) => void;
  children?: ReactNode;
  testId?: string;
}

export function SchemaForm(props: SchemaFormProps) {
  const {
    kind,
    record,
    initial,
    readOnly = [],
    fixed,
    liveCheck = false,
    onSaved,
    onCancel,
    save,
    labels = {},
    columns = 1,
  } = props;
  const data = useAppData();
  const uid = useId().replace(/:/g, '');
  const kdef = data.kindDef(kind);
  // Keyed by the names, not the array: callers pass literal arrays on every render.
  const fieldKey = props.fields?.join(',') ?? '';
  const isEdit = !!record;
  const defs: FieldDef[] = useMemo(() => {
    const all = kdef?.fields ?? [];
    if (fieldKey) return fieldKey.split(',').map((n) => all.find((d) => d.name === n)).filter((d): d is FieldDef => !!d);
    return all.filter((d) => !META.has(d.name) && !(d.name === kdef?.retire && !isEdit));
  }, [kdef, fieldKey, isEdit]);

  const [values, setValues] = useState<InputValues>(() => initialInputs(defs, record, initial));
  const [touched, setTouched] = useState<Set<string>>(() => new Set(initial ? Object.keys(initial) : []));
  const [error, setError] = useState<AppError | null>(null);
  const [checkError, setCheckError] = useState<AppError | null>(null);
  const [saving, setSaving] = useState(false);
  const dirty = useRef(false);
  const recordId = record?.id;

  // A different record resets the form; a live update of the same record does too,
  // unless staff are in the middle of editing it.
  useEffect(() => {
    if (!dirty.current) setValues(initialInputs(defs, record, initial));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [record, defs]);
  useEffect(() => {
    dirty.current = false;
    setValues(initialInputs(defs, record, initial));
    setError(null);
    setCheckError(null);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [recordId]);

  const resolveRef = (refKind: string, text: string): string | null => {
    const list = (data.lists as Record<string, RecordT[]>)[refKind];
    if (!list) return null;
    if (list.some((r) => r.id === text)) return text;
    const nk = naturalKey(refKind);
    const low = text.toLowerCase();
    const hit = list.find(
      (r) => (nk && String(r.fields[nk] ?? '').toLowerCase() === low) || titleOf(r).toLowerCase() === low,
    );
    return hit ? hit.id : null;
  };

  const payload = (): Fields => ({ ...collect(defs, values, record, resolveRef), ...(fixed ?? {}) });

  const onValues = props.onValues;
  useEffect(() => {
    onValues?.(values);
  }, [values, onValues]);

  // Policy problems while typing (session length, daily cap, closing time, double booking).
  const checkSeq = useRef(0);
  useEffect(() => {
    if (!liveCheck || !dirty.current) return;
    const my = ++checkSeq.current;
    const t = setTimeout(() => {
      api
        .check(kind, record?.id ?? null, payload())
        .then((res) => {
          if (my === checkSeq.current) setCheckError(res && res.message ? res : null);
        })
        .catch(() => {
          /* a failed check says nothing about the form */
        });
    }, CHECK_DEBOUNCE_MS);
    return () => clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [values, liveCheck]);

  const set = (name: string, v: InputValue) => {
    dirty.current = true;
    setValues((old) => ({ ...old, [name]: v }));
    setTouched((t) => (t.has(name) ? t : new Set(t).add(name)));
    if (error?.field === name) setError(null);
  };

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    if (saving) return;
    const fields = payload();
    if (record && Object.keys(fields).length === 0) {
      setError({ code: 'unchanged', message: 'Nothing was changed.', field: null });
      return;
    }
    setSaving(true);
    setError(null);
    try {
      const saved = save
        ? await save(fields)
        : record
          ? await api.update(kind, record.id, fields)
          : await api.create(kind, fields);
      dirty.current = false;
      setCheckError(null);
      if (!record) {
        setValues(initialInputs(defs, null, initial));
        setTouched(new Set(initial ? Object.keys(initial) : []));
      }
      onSaved?.(saved);
    } catch (err) {
      setError(err as AppError);
    } finally {
      setSaving(false);
    }
  };

  const visible = new Set(defs.map((d) => d.name));
  // A submit error wins; a live-check problem shows once staff have touched that field.
  const shownCheck =
    checkError && checkError.field && visible.has(checkError.field) && touched.has(checkError.field)
      ? checkError
      : checkError && checkError.field && !visible.has(checkError.field) && touched.size > 0
        ? checkError
        : null;
  const active = error ?? shownCheck;
  const fieldError = (name: string) =>
    active && active.field === name ? fieldMessage(active, labels[name] ?? labelOf(name)) : null;
  const formText = active
    ? active.field && visible.has(active.field)
      ? error
        ? `Not saved yet: please check ${labels[active.field] ?? labelOf(active.field)}.`
        : null
      : plainMessage(active)
    : null;

  return (
    <form
      className={`schema-form${columns === 2 ? ' two-col' : ''}`}
      onSubmit={submit}
      noValidate
      data-testid={props.testId ?? `form-${kind}`}
      aria-busy={saving || undefined}
    >
      <div className="fields">
        {defs.map((d) => (
          <FieldInput
            key={d.name}
            def={d}
            id={`${uid}-${d.name}`}
            value={values[d.name] ?? ''}
            onChange={(v) => set(d.name, v)}
            onBlur={() => setTouched((t) => (t.has(d.name) ? t : new Set(t).add(d.name)))}
            error={fieldError(d.name)}
            readOnly={readOnly.includes(d.name)}
            label={labels[d.name]}
            branchFilter={props.branchFilter}
            refFilter={props.refFilter}
            autoFocus={props.autoFocus === d.name}
          />
        ))}
      </div>
      {props.children}
      {formText && (
        <p className="form-error" role="alert" data-testid="form-error">
          {formText}
        </p>
      )}
      <div className="actions">
        {onCancel && (
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        )}
        <button type="submit" className="primary" disabled={saving} data-testid="form-submit">
          {saving ? 'Saving…' : (props.submitLabel ?? (record ? 'Save changes' : 'Save'))}
        </button>
      </div>
    </form>
  );
}
