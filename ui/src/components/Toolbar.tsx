// Small shared pieces of list screens: the search box and filter selects.

import { useEffect, useState } from 'react';
import { useAppData } from '../lib/data';
import { wordsOf } from '../lib/format';
import { useDebounced } from '../lib/live';

export function SearchBox({
  onSearch,
  placeholder = 'Search',
  initial = '',
}: {
  onSearch: (q: string) => void;
  placeholder?: string;
  initial?: string;
}) {
  const [q, setQ] = useState(initial);
  const d = useDebounced(q, 150);
  useEffect(() => onSearch(d.trim()), [d]); // eslint-disable-line react-hooks/exhaustive-deps
  return (
    <span className="inline-field search">
      <label htmlFor="search" className="sr-only">
        Search
      </label>
      <input
        id="search"
        type="search"
        name="search"
        data-testid="search"
        placeholder={placeholder}
        value={q}
        onChange={(e) => setQ(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Escape' && q) {
            e.stopPropagation();
            setQ('');
          }
        }}
      />
    </span>
  );
}

export function FilterSelect({
  id,
  label,
  value,
  options,
  onChange,
  all = 'All',
}: {
  id: string;
  label: string;
  value: string;
  options: (string | [string, string])[];
  onChange: (v: string) => void;
  all?: string;
}) {
  return (
    <span className="inline-field">
      <label htmlFor={id}>{label}</label>
      {/* Named apart from record fields, so `select[name="status"]` always means a form's field. */}
      <select id={`filter-${id}`} name={`filter-${id}`} value={value} onChange={(e) => onChange(e.target.value)} data-testid={`filter-${id}`}>
        <option value="">{all}</option>
        {options.map((o) => {
          const [v, text] = Array.isArray(o) ? o : [o, wordsOf(o)];
          return (
            <option key={v} value={v}>
              {text}
            </option>
          );
        })}
      </select>
    </span>
  );
}

export function BranchFilter({ value, onChange, id = 'branch-filter' }: { value: string; onChange: (v: string) => void; id?: string }) {
  const data = useAppData();
  return (
    <FilterSelect
      id={id}
      label="Branch"
      value={value}
      onChange={onChange}
      all="All branches"
      options={data.activeBranches.map((b) => [String(b.fields.code), `${b.fields.code} · ${b.fields.name}`])}
    />
  );
}
