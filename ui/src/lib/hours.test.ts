import { describe, expect, it } from 'vitest';
import { formatHours, openOn, parseHours } from './hours';

describe('opening hours', () => {
  it('parses what staff write, like the back end', () => {
    const h = parseHours('Mon-Fri 09:00-20:00; Sat 10:00-17:00; Sun closed');
    expect(h.ok).toBe(true);
    if (!h.ok) return;
    expect(h.value[0]).toEqual([540, 1200]);
    expect(h.value[5]).toEqual([600, 1020]);
    expect(h.value[6]).toBeNull();
    expect(formatHours(h.value)).toBe('Mon-Fri 09:00-20:00; Sat 10:00-17:00; Sun closed');
  });

  it('refuses nonsense with a reason', () => {
    for (const bad of ['Fri-Mon 09:00-17:00', 'Mon 17:00-09:00', 'Mon 9-5', 'Someday 09:00-10:00']) {
      expect(parseHours(bad).ok).toBe(false);
    }
  });

  it('honours closures', () => {
    expect(openOn('Mon-Sun 09:00-17:00', '', '2026-12-25')).toEqual([540, 1020]);
    expect(openOn('Mon-Sun 09:00-17:00', '2026-12-25, 2026-12-26', '2026-12-25')).toBeNull();
  });
});
