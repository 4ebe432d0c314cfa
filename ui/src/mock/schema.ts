// The record kinds of crates/core/src/schema.rs, as the `schema` command returns them.
// Only the mock uses this: the real app asks the back end at run time.

import type { FieldDef, FieldType, KindDef } from '../types';

type Spec = [name: string, type: FieldType | string[] | `ref:${string}`, req: 'req' | 'opt' | string, help: string];

// Free-text fields whose line breaks the back end keeps (validate.rs `multiline`).
const MULTILINE = new Set(['text', 'description', 'notes', 'resolution']);

function fd([name, type, req, help]: Spec): FieldDef {
  const d: FieldDef = {
    name,
    type: 'text',
    required: req === 'req',
    default: req === 'req' || req === 'opt' ? null : req,
    help,
  };
  if (Array.isArray(type)) {
    d.type = 'enum';
    d.options = type;
  } else if (type.startsWith('ref:')) {
    d.type = 'ref';
    d.ref = type.slice(4);
  } else {
    d.type = type as FieldType;
  }
  if (d.type === 'text' && MULTILINE.has(name)) d.multiline = true;
  return d;
}

export const STAFF_ROLES = [
  'coordinator',
  'technician',
  'gateway-assistant',
  'gateway-manager',
  'head-of-technology',
  'head-of-systems',
  'manager',
  'other',
];
export const ASSET_CATEGORIES = [
  'public-pc',
  'staff-pc',
  'printer',
  'scanner',
  'microform-reader',
  'network',
  'server',
  'laptop',
  'other',
];
export const ASSET_STATUSES = ['in-stock', 'deployed', 'in-repair', 'awaiting-pickup', 'in-transit', 'retired', 'lost'];
export const TICKET_STATUSES = ['new', 'assigned', 'waiting-parts', 'waiting-vendor', 'solved', 'closed'];
export const BOOKING_STATUSES = ['booked', 'checked-in', 'no-show', 'cancelled', 'completed'];

const K: Record<string, [about: string, retire: string | null, fields: Spec[]]> = {
  branch: [
    'Branches, their opening hours and public PC booking policies',
    'retired',
    [
      ['code', 'text', 'req', 'short branch code, e.g. CEN'],
      ['name', 'text', 'req', 'branch name'],
      ['address', 'text', 'opt', 'street address'],
      ['phone', 'text', 'opt', 'phone'],
      [
        'hours',
        'text',
        'Mon-Fri 09:00-20:00; Sat 09:00-17:00; Sun closed',
        "opening hours, e.g. 'Mon-Fri 09:00-20:00; Sat 10:00-17:00; Sun closed'",
      ],
      ['closures', 'text', 'opt', 'closed dates, comma-separated YYYY-MM-DD'],
      ['session_minutes', 'int', '60', 'longest public PC session'],
      ['daily_cap_minutes', 'int', '120', 'booked minutes a patron may have per day'],
      ['express_minutes', 'int', '15', 'session length on express stations'],
      ['grace_minutes', 'int', '10', 'minutes before a late booking becomes a no-show'],
      ['book_ahead_days', 'int', '7', 'how many days ahead patrons may book'],
      ['retired', 'bool', 'false', 'branch closed for good'],
    ],
  ],
  location: [
    'Rooms and areas within a branch',
    'retired',
    [
      ['branch', 'branch', 'req', 'branch code'],
      ['name', 'text', 'req', 'room or area, e.g. Gateway Center'],
      ['notes', 'text', 'opt', 'notes'],
      ['retired', 'bool', 'false', 'no longer in use'],
    ],
  ],
  staff: [
    'Staff members and their roles',
    'retired',
    [
      ['name', 'text', 'req', 'full name'],
      ['role', STAFF_ROLES, 'req', 'role'],
      ['branch', 'branch', 'opt', 'home branch'],
      ['phone', 'text', 'opt', 'phone'],
      ['email', 'text', 'opt', 'email'],
      ['retired', 'bool', 'false', 'left the library'],
    ],
  ],
  device: [
    'Devices enrolled in the library system',
    null,
    [
      ['name', 'text', 'req', 'device name'],
      ['branch', 'branch', 'req', 'branch the device sits in'],
      ['role', ['authority', 'peer'], 'peer', 'enrolment role'],
      ['actor', 'text', 'opt', 'automerge actor id (hex) this device writes with'],
      ['enrolled_by', 'text', 'opt', 'device id that enrolled it'],
      ['revoked', 'bool', 'false', 'revoked devices are refused by peers'],
    ],
  ],
  vendor: [
    'Suppliers, manufacturers and service vendors',
    'retired',
    [
      ['name', 'text', 'req', 'vendor name'],
      ['kind', ['supplier', 'manufacturer', 'service'], 'supplier', 'kind of vendor'],
      ['account', 'text', 'opt', 'our account number'],
      ['contact', 'text', 'opt', 'contact person'],
      ['phone', 'text', 'opt', 'phone'],
      ['email', 'text', 'opt', 'email'],
      ['support_url', 'text', 'opt', 'support web address'],
      ['contract_end', 'date', 'opt', 'end of contract'],
      ['notes', 'text', 'opt', 'notes'],
      ['retired', 'bool', 'false', 'no longer used'],
    ],
  ],
  asset: [
    'Equipment: PCs, printers, scanners, network gear',
    'retired',
    [
      ['tag', 'text', 'req', 'asset tag (unique)'],
      ['name', 'text', 'req', 'name'],
      ['category', ASSET_CATEGORIES, 'req', 'category'],
      ['manufacturer', 'text', 'opt', 'manufacturer'],
      ['model', 'text', 'opt', 'model'],
      ['serial', 'text', 'opt', 'serial number'],
      ['hostname', 'text', 'opt', 'network host name'],
      ['status', ASSET_STATUSES, 'in-stock', 'status'],
      ['branch', 'branch', 'req', 'branch code'],
      ['location', 'text', 'opt', 'room or area within the branch'],
      ['supplier', 'ref:vendor', 'opt', 'vendor it was bought from'],
      ['order_number', 'text', 'opt', 'order number'],
      ['purchase_date', 'date', 'opt', 'purchase date'],
      ['purchase_cost', 'money', 'opt', 'purchase cost'],
      ['warranty_months', 'int', 'opt', 'warranty in months'],
      ['eol_date', 'date', 'opt', 'end of life'],
      ['public_use', 'bool', 'false', 'used by the public'],
      ['bookable', 'bool', 'false', 'can be booked by patrons'],
      ['express', 'bool', 'false', 'express station (short sessions)'],
      ['last_audit', 'date', 'opt', 'last audit'],
      ['next_audit', 'date', 'opt', 'next audit due'],
      ['notes', 'text', 'opt', 'notes'],
    ],
  ],
  licence: [
    'Software licences',
    'retired',
    [
      ['product', 'text', 'req', 'software product'],
      ['key', 'text', 'opt', 'licence key'],
      ['seats', 'int', 'req', 'number of seats'],
      ['vendor', 'ref:vendor', 'opt', 'vendor'],
      ['expiry', 'date', 'opt', 'expiry date'],
      ['notes', 'text', 'opt', 'notes'],
      ['retired', 'bool', 'false', 'no longer in use'],
    ],
  ],
  seat: [
    'Licence seats assigned to assets',
    'retired',
    [
      ['licence', 'ref:licence', 'req', 'licence'],
      ['asset', 'ref:asset', 'req', 'asset the seat is assigned to'],
      ['retired', 'bool', 'false', 'seat released'],
    ],
  ],
  'stock-item': [
    'Supplies and spare parts',
    'retired',
    [
      ['name', 'text', 'req', 'item name'],
      [
        'kind',
        ['toner', 'ink', 'drum', 'paper', 'keyboard', 'mouse', 'cable', 'part', 'other'],
        'other',
        'kind of supply or spare part',
      ],
      ['part_number', 'text', 'opt', 'part number'],
      ['compatible_models', 'text', 'opt', 'compatible models'],
      ['unit', 'text', 'each', 'unit of count'],
      ['reorder_level', 'int', '0', 'reorder when a branch has fewer than this'],
      ['target_level', 'int', '0', 'level to order up to'],
      ['vendor', 'ref:vendor', 'opt', 'default vendor'],
      ['unit_cost', 'money', 'opt', 'unit cost'],
      ['retired', 'bool', 'false', 'no longer stocked'],
    ],
  ],
  movement: [
    'Stock movements: receive, issue, transfer, count adjustment',
    'cancelled',
    [
      ['item', 'ref:stock-item', 'req', 'stock item'],
      ['branch', 'branch', 'req', 'branch whose level changes'],
      [
        'kind',
        ['receive', 'issue', 'transfer-out', 'transfer-in', 'adjust'],
        'req',
        'receive, issue, transfer-out, transfer-in or adjust',
      ],
      ['qty', 'int', 'req', 'quantity (positive; adjust may be negative)'],
      ['asset', 'ref:asset', 'opt', 'asset it was issued to'],
      ['ticket', 'ref:ticket', 'opt', 'ticket it was used on'],
      ['transfer', 'ref:transfer', 'opt', 'transfer it belongs to'],
      ['note', 'text', 'opt', 'note'],
      ['cancelled', 'bool', 'false', 'reversed (keeps the history)'],
    ],
  ],
  replacement: [
    'Replacement requests for supplies',
    'cancelled',
    [
      ['item', 'ref:stock-item', 'req', 'stock item'],
      ['branch', 'branch', 'req', 'requesting branch'],
      ['qty', 'int', 'req', 'quantity'],
      ['status', ['requested', 'ordered', 'received', 'cancelled'], 'requested', 'status'],
      ['note', 'text', 'opt', 'note'],
    ],
  ],
  ticket: [
    'Computer problems and repairs',
    'closed',
    [
      ['number', 'text', 'opt', 'per-branch ticket number (assigned)'],
      ['branch', 'branch', 'req', 'branch'],
      ['asset', 'ref:asset', 'opt', 'asset with the problem'],
      ['reported_by', 'text', 'opt', 'who reported it'],
      ['category', ['hardware', 'software', 'network', 'printer', 'microform', 'other'], 'req', 'category'],
      ['urgency', ['low', 'normal', 'high', 'critical'], 'normal', 'urgency'],
      ['status', TICKET_STATUSES, 'new', 'status'],
      ['assignee', 'ref:staff', 'opt', 'assigned technician'],
      ['summary', 'text', 'req', 'one-line summary'],
      ['description', 'text', 'opt', 'description'],
      ['vendor', 'ref:vendor', 'opt', 'vendor doing the repair'],
      ['vendor_cost', 'money', 'opt', 'vendor repair cost'],
      ['warranty', 'bool', 'false', 'repaired under warranty'],
      ['resolution', 'text', 'opt', 'resolution'],
      ['opened_at', 'datetime', 'opt', 'opened (defaults to now)'],
      ['first_response_at', 'datetime', 'opt', 'first response'],
      ['solved_at', 'datetime', 'opt', 'solved'],
      ['closed_at', 'datetime', 'opt', 'closed'],
      ['out_of_service_minutes', 'int', 'opt', 'minutes the asset was out of service'],
    ],
  ],
  transfer: [
    'Transfers and shipments between branches',
    'cancelled',
    [
      ['asset', 'ref:asset', 'opt', 'asset being moved'],
      ['item', 'ref:stock-item', 'opt', 'stock item being moved'],
      ['qty', 'int', 'opt', 'quantity of the stock item'],
      ['from_branch', 'branch', 'req', 'from branch'],
      ['to_branch', 'branch', 'req', 'to branch'],
      ['status', ['prepared', 'picked-up', 'in-transit', 'received', 'cancelled'], 'prepared', 'status'],
      ['carried_by', 'ref:staff', 'opt', 'who carries it'],
      ['note', 'text', 'opt', 'note'],
    ],
  ],
  task: [
    'Recurring tasks: preventive maintenance, backups, inventory counts',
    'retired',
    [
      ['title', 'text', 'req', 'title'],
      ['kind', ['maintenance', 'backup', 'inventory-count'], 'req', 'kind of task'],
      ['rule', 'text', 'req', "recurrence: daily, weekly, monthly, quarterly, yearly or 'every N days'"],
      ['branch', 'branch', 'opt', 'branch'],
      ['asset', 'ref:asset', 'opt', 'target asset'],
      ['assignee', 'ref:staff', 'opt', 'who does it'],
      ['next_due', 'date', 'req', 'next due date'],
      ['notes', 'text', 'opt', 'notes'],
      ['retired', 'bool', 'false', 'no longer scheduled'],
    ],
  ],
  'task-run': [
    'Runs of recurring tasks',
    null,
    [
      ['task', 'ref:task', 'req', 'recurring task'],
      ['date', 'date', 'req', 'date it was done'],
      ['staff', 'ref:staff', 'opt', 'who did it'],
      ['result', ['ok', 'failed', 'partial', 'skipped'], 'req', 'result'],
      ['media', 'text', 'opt', 'backup media'],
      ['size_mb', 'int', 'opt', 'backup size in MB'],
      ['restore_verified', 'bool', 'false', 'a test restore was verified'],
      ['notes', 'text', 'opt', 'notes'],
    ],
  ],
  oncall: [
    'On-call shifts',
    'cancelled',
    [
      ['staff', 'ref:staff', 'req', 'who is on call'],
      ['branches', 'branches', 'req', 'branch codes covered, comma-separated'],
      ['start', 'datetime', 'req', 'start'],
      ['end', 'datetime', 'req', 'end'],
      ['phone', 'text', 'opt', 'phone to call'],
      ['cancelled', 'bool', 'false', 'shift cancelled'],
    ],
  ],
  training: [
    'Training sessions',
    'cancelled',
    [
      ['title', 'text', 'req', 'title'],
      ['trainer', 'ref:staff', 'opt', 'trainer'],
      ['branch', 'branch', 'req', 'branch where it happens'],
      ['start', 'datetime', 'req', 'start'],
      ['end', 'datetime', 'req', 'end'],
      ['attendees', 'int', '0', 'number of attendees'],
      ['notes', 'text', 'opt', 'notes'],
      ['cancelled', 'bool', 'false', 'session cancelled'],
    ],
  ],
  booking: [
    'Public PC bookings',
    'cancelled',
    [
      ['station', 'ref:asset', 'req', 'bookable public PC'],
      ['branch', 'branch', 'opt', 'branch (taken from the station)'],
      ['patron', 'text', 'req', 'patron reference: card number (stored hashed) or guest pass G-...'],
      ['start', 'datetime', 'req', 'start'],
      ['end', 'datetime', 'req', 'end'],
      ['source', ['desk', 'phone', 'kiosk'], 'desk', 'how it was booked'],
      ['status', BOOKING_STATUSES, 'booked', 'status'],
    ],
  ],
  usage: [
    'Daily use counts',
    'retired',
    [
      ['branch', 'branch', 'req', 'branch'],
      ['date', 'date', 'req', 'day counted'],
      ['station', 'text', 'pool', 'station tag or pool name'],
      ['sessions', 'int', '0', 'PC sessions'],
      ['minutes', 'int', '0', 'PC minutes'],
      ['walkups', 'int', '0', 'walk-up sessions'],
      ['bookings', 'int', '0', 'booked sessions'],
      ['no_shows', 'int', '0', 'no-shows'],
      ['print_bw', 'int', '0', 'black and white pages printed'],
      ['print_colour', 'int', '0', 'colour pages printed'],
      ['wifi_sessions', 'int', '0', 'Wi-Fi sessions'],
      ['microform_uses', 'int', '0', 'microform reader uses'],
      ['estimate', 'bool', 'false', 'figure is an estimate, not a count'],
      ['retired', 'bool', 'false', 'entry withdrawn'],
    ],
  ],
  retrieval: [
    'Periodical and microform retrieval requests',
    'cancelled',
    [
      ['branch', 'branch', 'req', 'branch'],
      ['title', 'text', 'req', 'periodical or microform requested'],
      ['kind', ['periodical', 'microform'], 'periodical', 'kind'],
      ['requested_by', 'text', 'opt', 'who asked'],
      ['requested_at', 'datetime', 'opt', 'when (defaults to now)'],
      ['fulfilled_at', 'datetime', 'opt', 'when it was fulfilled'],
      ['status', ['requested', 'fulfilled', 'cancelled'], 'requested', 'status'],
    ],
  ],
  page: [
    'Documentation pages',
    'retired',
    [
      ['title', 'text', 'req', 'title'],
      ['text', 'text', 'opt', 'page text (merges concurrent edits)'],
      ['tags', 'text', 'opt', 'comma-separated tags'],
      ['assets', 'text', 'opt', 'linked asset tags or models, comma-separated'],
      ['retired', 'bool', 'false', 'archived'],
    ],
  ],
};

export const SCHEMA: KindDef[] = Object.entries(K).map(([kind, [about, retire, fields]]) => ({
  kind,
  about,
  retire,
  fields: fields.map(fd),
}));

export const NATURAL_KEY: Record<string, string> = {
  branch: 'code',
  asset: 'tag',
  staff: 'name',
  vendor: 'name',
  'stock-item': 'name',
  device: 'name',
  licence: 'product',
  ticket: 'number',
  task: 'title',
  page: 'title',
};
