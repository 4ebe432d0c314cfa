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

describe('change-to-screen latency', () => {
  it('settles every event when two re-fetches finish before the screen renders once', async () => {
    const mock = makeMock();
    // Each load waits to be released by hand, so that two can finish in one batch.
    const gates: ((n: number) => void)[] = [];
    const load = vi.fn(() => new Promise<number>((resolve) => gates.push(resolve)));
    render(<Probe kinds={['booking']} load={load} />);
    await act(async () => gates.shift()!(1));
    await waitFor(() => expect(screen.getByTestId('value')).toHaveTextContent('1'));
    window.__blLatencies = [];

    // A remote change starts a re-fetch; a second one arrives while it is on its way
    // (the peer's batch, then the same change seen again), so another follows it.
    act(() => mock.remoteChange(['booking'], ['bookings/CEN/2026-11-23'], Date.now() - 100));
    await waitFor(() => expect(load).toHaveBeenCalledTimes(2));
    act(() => mock.remoteChange(['booking'], ['bookings/CEN/2026-11-23'], Date.now() - 50));
    await new Promise((r) => setTimeout(r, 50));
    // Both answers arrive before React renders: the first sets off the second load,
    // whose answer is already there.
    await act(async () => {
      const first = gates.shift()!;
      first(2);
      await Promise.resolve();
      await Promise.resolve();
      gates.shift()!(3);
    });
    await waitFor(() => expect(screen.getByTestId('value')).toHaveTextContent('3'));
    expect(load).toHaveBeenCalledTimes(3);
    await waitFor(() => expect(window.__blLatencies).toHaveLength(2));
    expect(window.__blOwed).toBe(0);
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
