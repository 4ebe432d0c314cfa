// "The first dashboard is on screen": other start-up work waits for it, so the first
// screen is interactive as early as possible.

let ready = false;
const waiting: (() => void)[] = [];

export function markReady(): void {
  if (ready) return;
  ready = true;
  waiting.splice(0).forEach((f) => f());
}

export function isReady(): boolean {
  return ready;
}

export function whenReady(): Promise<void> {
  return ready ? Promise.resolve() : new Promise((res) => waiting.push(res));
}

/** Resolves when the first screen is up, or after `ms` whatever happens. */
export function afterStart(ms = 1500): Promise<void> {
  return Promise.race([whenReady(), new Promise<void>((res) => setTimeout(res, ms))]);
}
