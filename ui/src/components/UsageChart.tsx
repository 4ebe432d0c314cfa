// PC sessions per day as a small SVG bar chart (no chart library needed for this).

import type { RecordT } from '../types';
import { format } from 'date-fns';
import { parseIsoDate, shiftDate } from '../lib/time';

export function UsageChart({ records, from, to }: { records: RecordT[]; from: string; to: string }) {
  const days: string[] = [];
  for (let d = from; d <= to && days.length < 62; d = shiftDate(d, 1)) days.push(d);
  const sums = new Map<string, number>();
  for (const r of records) {
    if (r.fields.retired === true) continue;
    const day = String(r.fields.date);
    sums.set(day, (sums.get(day) ?? 0) + (typeof r.fields.sessions === 'number' ? r.fields.sessions : 0));
  }
  const values = days.map((d) => sums.get(d) ?? 0);
  const max = Math.max(1, ...values);
  const total = values.reduce((a, b) => a + b, 0);
  const busiest = values.indexOf(Math.max(...values));
  if (total === 0) return <p className="muted">No daily use counts recorded for these days.</p>;
  const W = 640;
  const H = 140;
  const bw = W / days.length;
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`PC sessions per day: ${total} in ${days.length} days`} preserveAspectRatio="none">
        {values.map((v, i) => {
          const h = (v / max) * H;
          return (
            <rect key={days[i]} x={i * bw + 2} y={H - h} width={Math.max(1, bw - 4)} height={h} className="bar">
              <title>{`${days[i]}: ${v} sessions`}</title>
            </rect>
          );
        })}
      </svg>
      {/* Day labels as text beside the drawing, so they do not stretch with it. */}
      <div className="chart-axis" style={{ gridTemplateColumns: `repeat(${days.length}, 1fr)` }} aria-hidden="true">
        {days.map((d, i) => (
          <span key={d}>{i % Math.ceil(days.length / 16) === 0 ? format(parseIsoDate(d), 'd') : ''}</span>
        ))}
      </div>
      <figcaption className="muted">
        {total} sessions · busiest day {format(parseIsoDate(days[busiest]), 'd MMM')} ({values[busiest]}) · days with no
        count show no bar
      </figcaption>
    </figure>
  );
}
