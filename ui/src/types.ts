// The shapes of ui/CONTRACT.md, kept verbatim so the compiler catches drift.

export type Value = string | number | boolean | null;
export type Fields = Record<string, Value>;

export type Kind =
  | 'branch'
  | 'location'
  | 'staff'
  | 'device'
  | 'vendor'
  | 'asset'
  | 'licence'
  | 'seat'
  | 'stock-item'
  | 'movement'
  | 'replacement'
  | 'ticket'
  | 'transfer'
  | 'task'
  | 'task-run'
  | 'oncall'
  | 'training'
  | 'booking'
  | 'usage'
  | 'retrieval'
  | 'page';

export interface RecordT {
  kind: string;
  id: string;
  fields: Fields;
  work?: Fields[];
}

export interface AppError {
  code: string;
  message: string;
  field?: string | null;
}

export interface Identity {
  system_id: string;
  system_name: string;
  device_id: string;
  device_name: string;
  branch: string;
  actor: string;
}

export type FieldType =
  | 'text'
  | 'int'
  | 'money'
  | 'date'
  | 'datetime'
  | 'bool'
  | 'enum'
  | 'branch'
  | 'branches'
  | 'ref';

export interface FieldDef {
  name: string;
  type: FieldType;
  required: boolean;
  default: string | null;
  help: string;
  options?: string[];
  ref?: string;
  multiline?: boolean;
}

export interface KindDef {
  kind: string;
  about: string;
  fields: FieldDef[];
  retire: string | null;
}

export interface Filter {
  branch?: string;
  search?: string;
  from_day?: string;
  to_day?: string;
  fields?: [string, string][];
  limit?: number;
}

export interface StockLevel {
  item: string;
  item_name: string;
  branch: string;
  level: number;
  reorder_level: number;
  below_reorder: boolean;
}

export interface Side {
  key: string;
  what: string;
  staff: string | null;
  device: string | null;
  actor: string | null;
  at: number;
}

export interface Conflict {
  id: string;
  kind: 'double-booking' | 'asset-field' | 'negative-stock' | 'duplicate-number';
  doc: string;
  record: string;
  field: string | null;
  summary: string;
  sides: Side[];
}

export interface HistoryEntry {
  time: number;
  device: string;
  staff: string | null;
  op: string;
  fields: Fields;
  change: string;
}

export interface PeerStatus {
  device_id: string;
  name: string;
  addr: string;
  connected: boolean;
  caught_up: boolean;
  last_synced: number | null;
  bytes_sent: number;
  bytes_received: number;
  changes_received: number;
  changes_sent: number;
  docs_waiting: number;
  last_error: string | null;
}

export interface KnownPeer {
  addr: string;
  source: string;
  device: string | null;
  last_seen: number | null;
  last_error: string | null;
}

export interface SyncStatus {
  identity: Identity;
  listen: string | null;
  peers: PeerStatus[];
  known: KnownPeer[];
  conflicts: number;
}

export interface Station {
  id: string;
  tag: string;
  name: string;
  status: string;
  express: boolean;
  now: RecordT | null;
  next: RecordT | null;
}

export interface Dashboard {
  branch: RecordT;
  date: string;
  now: string;
  hours_today: [string, string] | null;
  stations: Station[];
  bookings_today: number;
  open_tickets: RecordT[];
  low_stock: StockLevel[];
  tasks_due: RecordT[];
  oncall: RecordT[];
  conflicts: number;
  sync: { connected: number; known: number; last_synced: number | null; waiting: number };
}

export interface BookingDay {
  branch: RecordT;
  date: string;
  hours: [string, string] | null;
  stations: RecordT[];
  bookings: RecordT[];
}

export interface AppInfo {
  state: 'empty' | 'ready';
  identity: Identity | null;
  data_dir: string;
  listen: string | null;
  started_ms: number;
  ready_ms: number | null;
}

export interface Invite {
  code: string;
  // The contract does not pin the type: ms since epoch or an ISO/local time string.
  expires: number | string;
}

export interface ChangedEvent {
  docs: string[];
  kinds: string[];
  remote: boolean;
  at: number;
}

export interface EventMap {
  changed: ChangedEvent;
  sync: PeerStatus[];
  conflicts: { count: number };
}
export type EventName = keyof EventMap;
