import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { UsageChart } from '../components/UsageChart';
import type { RecordT } from '../types';

const usage = (date: string, sessions: number, retired = false): RecordT => ({
  kind: 'usage',
  id: `${date}-${sessions}`,
  fields: { branch: 'CEN', date, sessions, retired },
});

describe('usage chart', () => {
  it('sums each day, skips withdrawn entries, and names the busiest day', () => {
    render(
      <UsageChart
        records={[usage('2026-11-24', 10), usage('2026-11-24', 5), usage('2026-11-26', 22), usage('2026-11-25', 99, true)]}
        from="2026-11-23"
        to="2026-11-27"
      />,
    );
    expect(screen.getByRole('img')).toHaveAttribute('aria-label', 'PC sessions per day: 37 in 5 days');
    expect(screen.getByText(/busiest day 26 Nov \(22\)/)).toBeInTheDocument();
  });

  it('says so when no day has a count', () => {
    render(<UsageChart records={[]} from="2026-11-23" to="2026-11-27" />);
    expect(screen.getByText(/No daily use counts/)).toBeInTheDocument();
  });
});
