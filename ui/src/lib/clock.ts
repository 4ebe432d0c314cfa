// The wall clock the screens use for "now" (past slots, "free now"); tests pin it.

let source: () => Date = () => new Date();

export function now(): Date {
  return source();
}

export function setClock(fn: (() => Date) | null): void {
  source = fn ?? (() => new Date());
}
