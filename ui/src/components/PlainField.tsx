// A labelled input for forms that are not record kinds (first run, invite, add peer).

import type { InputHTMLAttributes } from 'react';

export function PlainField({
  id,
  name,
  label,
  hint,
  error,
  ...rest
}: {
  id: string;
  name: string;
  label: string;
  hint?: string;
  error?: string | null;
} & Omit<InputHTMLAttributes<HTMLInputElement>, 'id' | 'name'>) {
  const hintId = `${id}-hint`;
  const errId = `${id}-error`;
  return (
    <div className={`field${error ? ' has-error' : ''}`}>
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        name={name}
        aria-invalid={error ? true : undefined}
        aria-describedby={[hint ? hintId : '', error ? errId : ''].filter(Boolean).join(' ') || undefined}
        {...rest}
      />
      {hint && (
        <small className="hint" id={hintId}>
          {hint}
        </small>
      )}
      {error && (
        <p className="field-error" id={errId} data-testid={`field-error-${name}`}>
          {error}
        </p>
      )}
    </div>
  );
}
