// A dense table that stays smooth with thousands of rows: only the rows in view are in
// the DOM. One tab stop; arrow keys move, Enter opens.

import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';

export interface Column<T> {
  key: string;
  label: string;
  /** CSS grid track, e.g. "120px" or "2fr". */
  width?: string;
  render: (row: T) => ReactNode;
  align?: 'left' | 'right';
}

export function VirtualTable<T extends { id: string }>({
  rows,
  columns,
  selectedId,
  onSelect,
  label,
  empty = 'Nothing to show.',
  rowHeight = 34,
  rowTestId = 'row',
  rowClass,
}: {
  rows: T[];
  columns: Column<T>[];
  selectedId?: string | null;
  onSelect?: (row: T) => void;
  label: string;
  empty?: ReactNode;
  rowHeight?: number;
  rowTestId?: string;
  rowClass?: (row: T) => string | undefined;
}) {
  const scroller = useRef<HTMLDivElement>(null);
  const uid = useId().replace(/:/g, '');
  const [active, setActive] = useState(0);
  const v = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => rowHeight,
    overscan: 12,
    initialRect: { width: 800, height: 600 },
  });
  const template = columns.map((c) => c.width ?? '1fr').join(' ');

  useEffect(() => {
    if (active >= rows.length) setActive(Math.max(0, rows.length - 1));
  }, [rows.length, active]);

  // Keep the selected row in view when it changes from outside (e.g. arriving by link).
  useEffect(() => {
    if (!selectedId) return;
    const i = rows.findIndex((r) => r.id === selectedId);
    if (i >= 0) {
      setActive(i);
      v.scrollToIndex(i, { align: 'auto' });
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [selectedId]);

  const move = (i: number) => {
    const j = Math.max(0, Math.min(rows.length - 1, i));
    setActive(j);
    v.scrollToIndex(j, { align: 'auto' });
  };

  const onKey = (e: React.KeyboardEvent) => {
    if (rows.length === 0) return;
    const page = Math.max(1, Math.floor((scroller.current?.clientHeight ?? 300) / rowHeight) - 1);
    switch (e.key) {
      case 'ArrowDown':
        move(active + 1);
        break;
      case 'ArrowUp':
        move(active - 1);
        break;
      case 'PageDown':
        move(active + page);
        break;
      case 'PageUp':
        move(active - page);
        break;
      case 'Home':
        move(0);
        break;
      case 'End':
        move(rows.length - 1);
        break;
      case 'Enter':
      case ' ':
        if (rows[active]) onSelect?.(rows[active]);
        break;
      default:
        return;
    }
    e.preventDefault();
  };

  return (
    <div className="vtable" role="table" aria-label={label} aria-rowcount={rows.length + 1}>
      <div className="vtable-head" role="row" style={{ gridTemplateColumns: template }}>
        {columns.map((c) => (
          <div key={c.key} role="columnheader" className={c.align === 'right' ? 'num' : undefined}>
            {c.label}
          </div>
        ))}
      </div>
      <div
        ref={scroller}
        className="vtable-body"
        tabIndex={0}
        role="rowgroup"
        aria-label={`${label}: use the arrow keys to move and Enter to open`}
        aria-activedescendant={rows[active] ? `${uid}-r${active}` : undefined}
        onKeyDown={onKey}
      >
        {rows.length === 0 ? (
          <div className="empty">{empty}</div>
        ) : (
          <div style={{ height: v.getTotalSize(), position: 'relative' }}>
            {v.getVirtualItems().map((item) => {
              const row = rows[item.index];
              const selected = row.id === selectedId;
              return (
                <div
                  key={row.id}
                  id={`${uid}-r${item.index}`}
                  role="row"
                  aria-selected={selected}
                  aria-rowindex={item.index + 2}
                  data-testid={rowTestId}
                  data-id={row.id}
                  className={[
                    'vtable-row',
                    selected ? 'selected' : '',
                    item.index === active ? 'active' : '',
                    rowClass?.(row) ?? '',
                  ].join(' ')}
                  style={{
                    gridTemplateColumns: template,
                    height: rowHeight,
                    transform: `translateY(${item.start}px)`,
                  }}
                  onClick={() => {
                    setActive(item.index);
                    onSelect?.(row);
                  }}
                >
                  {columns.map((c) => (
                    <div key={c.key} role="cell" className={c.align === 'right' ? 'num' : undefined}>
                      {c.render(row)}
                    </div>
                  ))}
                </div>
              );
            })}
          </div>
        )}
      </div>
    </div>
  );
}
