// Documentation pages: how-tos and notes. Two people may edit the same page at once on
// different computers; the back end merges the text so both keep their words.

import { useEffect, useMemo, useRef, useState } from 'react';
import { api } from '../api';
import type { RecordT } from '../types';
import { useLive } from '../lib/live';
import { plainMessage } from '../lib/errors';
import { whenLocal } from '../lib/time';
import { useAppData } from '../lib/data';
import { VirtualTable, type Column } from '../components/VirtualTable';
import { SearchBox } from '../components/Toolbar';
import { Dialog } from '../components/Dialog';
import { SchemaForm } from '../components/SchemaForm';
import { HistoryList } from '../components/RecordView';
import { useNotice } from '../components/Notice';

function PageView({ page, onClose }: { page: RecordT; onClose: () => void }) {
  const notice = useNotice();
  const data = useAppData();
  const [mode, setMode] = useState<'view' | 'edit' | 'history'>('view');
  const base = useRef<string>(String(page.fields.text ?? ''));
  const [changedElsewhere, setChangedElsewhere] = useState(false);

  // Whoever else edits the page while this person is editing: say so, calmly.
  useEffect(() => {
    const text = String(page.fields.text ?? '');
    if (mode === 'edit' && text !== base.current) setChangedElsewhere(true);
    if (mode !== 'edit') base.current = text;
  }, [page, mode]);

  const startEdit = () => {
    base.current = String(page.fields.text ?? '');
    setChangedElsewhere(false);
    setMode('edit');
  };

  const tags = String(page.fields.tags ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  return (
    <article className="detail page-view" aria-label={`Page ${page.fields.title}`}>
      <header className="detail-head">
        <div>
          <h2>{String(page.fields.title)}</h2>
          <span className="muted">
            {tags.map((t) => (
              <span key={t} className="tag-chip">
                {t}
              </span>
            ))}
            {page.fields.updated_at ? ` Last changed ${whenLocal(Number(page.fields.updated_at))}` : ''}
            {page.fields.updated_by ? ` by ${data.nameOf('staff', String(page.fields.updated_by))}` : ''}
          </span>
        </div>
        <button type="button" className="icon-button" aria-label="Close page" onClick={onClose}>
          ×
        </button>
      </header>
      <div className="actions left">
        {mode !== 'edit' && (
          <button type="button" className="primary" onClick={startEdit} data-testid="edit-page">
            Edit
          </button>
        )}
        <button type="button" onClick={() => setMode(mode === 'history' ? 'view' : 'history')}>
          {mode === 'history' ? 'Back to page' : 'History'}
        </button>
      </div>
      {mode === 'view' && <div className="page-text" data-testid="page-text">{String(page.fields.text ?? '') || <span className="muted">This page is empty.</span>}</div>}
      {mode === 'history' && <HistoryList recordId={page.id} kind="page" />}
      {mode === 'edit' && (
        <>
          {changedElsewhere && (
            <p className="banner banner-info" role="status">
              Someone changed this page on another computer while you were editing. Save as usual: both their words and
              yours are kept.
            </p>
          )}
          <SchemaForm
            kind="page"
            record={page}
            fields={['title', 'text', 'tags', 'assets']}
            labels={{ text: 'Page text', assets: 'Linked assets or models' }}
            submitLabel="Save page"
            onCancel={() => setMode('view')}
            onSaved={() => {
              setMode('view');
              notice.notify('Page saved.');
            }}
          />
        </>
      )}
    </article>
  );
}

export function Pages() {
  const notice = useNotice();
  const [search, setSearch] = useState('');
  const [selected, setSelected] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const list = useLive(['page'], () => api.list('page', search ? { search } : {}), [search]);
  const rows = useMemo(
    () => (list.data ?? []).filter((p) => p.fields.retired !== true).sort((a, b) => String(a.fields.title).localeCompare(String(b.fields.title))),
    [list.data],
  );
  const sel = (list.data ?? []).find((p) => p.id === selected) ?? null;
  const columns: Column<RecordT>[] = [
    { key: 'title', label: 'Title', width: '2fr', render: (r) => <strong>{String(r.fields.title)}</strong> },
    { key: 'tags', label: 'Tags', width: '1fr', render: (r) => String(r.fields.tags ?? '').replace(/,/g, ', ') },
  ];
  return (
    <section className="screen pages fill">
      <header className="screen-head">
        <h1>Documentation</h1>
        <div className="toolbar">
          <SearchBox onSearch={setSearch} placeholder="Search pages…" />
          <button type="button" className="primary" data-testid="new-page" onClick={() => setCreating(true)}>
            New page
          </button>
        </div>
      </header>
      {list.error && <p className="banner banner-bad">{plainMessage(list.error)}</p>}
      <div className="split">
        <div className="list-pane narrow">
          <VirtualTable label="Pages" rows={rows} columns={columns} selectedId={selected} onSelect={(r) => setSelected(r.id)} empty="No pages yet." />
        </div>
        {sel && <PageView key={sel.id} page={sel} onClose={() => setSelected(null)} />}
      </div>
      {creating && (
        <Dialog title="New page" onClose={() => setCreating(false)} wide>
          <SchemaForm
            kind="page"
            fields={['title', 'text', 'tags', 'assets']}
            labels={{ text: 'Page text', assets: 'Linked assets or models' }}
            onCancel={() => setCreating(false)}
            onSaved={(r) => {
              setCreating(false);
              setSelected(r.id);
              notice.notify('Page created.');
            }}
          />
        </Dialog>
      )}
    </section>
  );
}

export default Pages;
