// Words for field names, values and statuses, so screens never show raw identifiers.

import type { FieldDef, Value } from '../types';

// Names whose mechanical label would read badly.
const LABELS: Record<string, string> = {
  eol_date: 'End of life',
  purchase_cost: 'Purchase cost',
  vendor_cost: 'Vendor repair cost',
  no_shows: 'No-shows',
  print_bw: 'Prints, black & white',
  print_colour: 'Prints, colour',
  wifi_sessions: 'Wi-Fi sessions',
  walkups: 'Walk-ups',
  size_mb: 'Size (MB)',
  qty: 'Quantity',
  from_branch: 'From branch',
  to_branch: 'To branch',
  opened_at: 'Opened',
  solved_at: 'Solved',
  closed_at: 'Closed',
  first_response_at: 'First response',
  requested_at: 'Requested',
  fulfilled_at: 'Fulfilled',
  out_of_service_minutes: 'Out of service (minutes)',
  session_minutes: 'Session length (minutes)',
  daily_cap_minutes: 'Daily cap per patron (minutes)',
  express_minutes: 'Express session (minutes)',
  grace_minutes: 'Grace period (minutes)',
  book_ahead_days: 'Book ahead (days)',
  warranty_months: 'Warranty (months)',
  restore_verified: 'Restore verified',
  public_use: 'Public use',
  next_due: 'Next due',
  url: 'URL',
  support_url: 'Support web address',
};

export function labelOf(name: string): string {
  if (LABELS[name]) return LABELS[name];
  const words = name.replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Enum values ("waiting-vendor") as words ("Waiting vendor"). */
export function wordsOf(value: string): string {
  const w = value.replace(/[-_]/g, ' ');
  return w.charAt(0).toUpperCase() + w.slice(1);
}

export const KIND_WORDS: Record<string, [string, string]> = {
  branch: ['branch', 'branches'],
  location: ['location', 'locations'],
  staff: ['staff member', 'staff'],
  device: ['device', 'devices'],
  vendor: ['vendor', 'vendors'],
  asset: ['asset', 'assets'],
  licence: ['licence', 'licences'],
  seat: ['seat', 'seats'],
  'stock-item': ['stock item', 'stock items'],
  movement: ['stock movement', 'stock movements'],
  replacement: ['replacement request', 'replacement requests'],
  ticket: ['ticket', 'tickets'],
  transfer: ['transfer', 'transfers'],
  task: ['task', 'tasks'],
  'task-run': ['task run', 'task runs'],
  oncall: ['on-call shift', 'on-call shifts'],
  training: ['training session', 'training sessions'],
  booking: ['booking', 'bookings'],
  usage: ['daily use count', 'daily use counts'],
  retrieval: ['retrieval request', 'retrieval requests'],
  page: ['page', 'pages'],
};

export function kindWord(kind: string, plural = false): string {
  const w = KIND_WORDS[kind];
  return w ? w[plural ? 1 : 0] : kind;
}

/** Integer cents as "12.50". */
export function formatMoney(cents: Value): string {
  if (typeof cents !== 'number') return cents == null ? '' : String(cents);
  const sign = cents < 0 ? '-' : '';
  const a = Math.abs(cents);
  return `${sign}${Math.floor(a / 100)}.${String(a % 100).padStart(2, '0')}`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

/** A stored value as plain text for a table cell (refs are resolved by the caller). */
export function displayValue(def: Pick<FieldDef, 'type'> | undefined, v: Value | undefined): string {
  if (v === null || v === undefined || v === '') return '';
  if (!def) return typeof v === 'boolean' ? (v ? 'Yes' : 'No') : String(v);
  switch (def.type) {
    case 'bool':
      return v === true ? 'Yes' : 'No';
    case 'money':
      return formatMoney(v);
    case 'enum':
      return wordsOf(String(v));
    case 'datetime':
      return String(v).replace('T', ' ');
    default:
      return String(v);
  }
}

export type Tone = 'ok' | 'warn' | 'bad' | 'info' | 'neutral';

// Status colours always come with their words; the tone only adds a hint of colour.
const TONES: Record<string, Tone> = {
  deployed: 'ok',
  'in-stock': 'info',
  'in-repair': 'warn',
  'awaiting-pickup': 'warn',
  'in-transit': 'info',
  retired: 'neutral',
  lost: 'bad',
  new: 'info',
  assigned: 'info',
  'waiting-parts': 'warn',
  'waiting-vendor': 'warn',
  solved: 'ok',
  closed: 'neutral',
  booked: 'info',
  'checked-in': 'ok',
  'no-show': 'warn',
  cancelled: 'neutral',
  completed: 'neutral',
  prepared: 'info',
  'picked-up': 'info',
  received: 'ok',
  requested: 'info',
  ordered: 'info',
  fulfilled: 'ok',
  ok: 'ok',
  failed: 'bad',
  partial: 'warn',
  skipped: 'neutral',
  low: 'neutral',
  normal: 'info',
  high: 'warn',
  critical: 'bad',
};

export function toneOf(status: string | null | undefined): Tone {
  return (status && TONES[status]) || 'neutral';
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
