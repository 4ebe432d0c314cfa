import { afterEach, describe, expect, it, vi } from 'vitest';
import { act, render, screen, waitFor } from '@testing-library/react';
import { relevant, useLive } from '../lib/live';
import { makeMock } from '../test/harness';

function Probe({ kinds, load }: { kinds: string[]; load: () => Promise<number> }) {
  const { data } = useLive(kinds, load, []);
  return <p data-testid="value">{data ?? 'none'}</p>;
}

afterEach(() => {
  window.__blLatencies = [];
});

describe('live updates', () => {
  it('re-fetches on a changed event that names a shown kind, and records remote latency after painting', async () => {
    const mock = makeMock();
    let n = 0;
    const load = vi.fn(async () => ++n);
    render(<Probe kinds={['booking']} load={load} />);
    await waitFor(() => expect(screen.getByTestId('value')).toHaveTextContent('1'));
    window.__blLatencies = [];

    act(() => mock.remoteChange(['ticket']));
    await new Promise((r) => setTimeout(r, 80));
    expect(load).toHaveBeenCalledTimes(1);

    const at = Date.now() - 250;
    act(() => mock.remoteChange(['booking'], ['bookings/CEN/2026-11-23'], at));
    await waitFor(() => expect(screen.getByTestId('value')).toHaveTextContent('2'));
    await waitFor(() => expect(window.__blLatencies).toHaveLength(1));
    expect(window.__blLatencies![0]).toBeGreaterThanOrEqual(250);
    expect(window.__blLatencies![0]).toBeLessThan(2000);
  });

  it('batches a burst of events into one re-fetch, and local changes record no latency', async () => {
    const mock = makeMock();
    let n = 0;
    const load = vi.fn(async () => ++n);
    render(<Probe kinds={['asset']} load={load} />);
    await waitFor(() => expect(load).toHaveBeenCalledTimes(1));
    window.__blLatencies = [];
    act(() => {
      for (let i = 0; i < 5; i++) mock.emit('changed', { docs: [], kinds: ['asset'], remote: false, at: Date.now() });
    });
    await waitFor(() => expect(load).toHaveBeenCalledTimes(2));
    await new Promise((r) => setTimeout(r, 100));
    expect(load).toHaveBeenCalledTimes(2);
    expect(window.__blLatencies).toEqual([]);
  });
});

describe('which events matter', () => {
  it('matches kinds, and places documents when an event names only documents', () => {
    expect(relevant(['booking'], { kinds: ['booking'], docs: [] })).toBe(true);
    expect(relevant(['booking'], { kinds: ['ticket'], docs: [] })).toBe(false);
    expect(relevant(['booking'], { kinds: [], docs: ['bookings/CEN/2026-11-23'] })).toBe(true);
    expect(relevant(['booking'], { kinds: [], docs: ['pages/abc'] })).toBe(false);
    expect(relevant(['booking'], { kinds: [], docs: ['something-new'] })).toBe(true);
    expect(relevant(['*'], { kinds: ['page'], docs: [] })).toBe(true);
  });
});
