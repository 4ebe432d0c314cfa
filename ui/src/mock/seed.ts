// A small, realistic library system for the mock back end: three branches, their public
// PCs with bookings around "now", open tickets, stock (one item below its reorder level),
// schedules, daily counts, a double booking and an asset moved two ways while apart.

import type { Fields, RecordT } from '../types';
import { isoDate, isoDateTime, shiftDate } from '../lib/time';
import { openOn, formatClock } from '../lib/hours';

export interface Seeded {
  records: RecordT[];
  thisDevice: string;
  devices: { tech: string; north: string };
  staff: Record<string, string>;
  assetFieldConflict: { asset: string; sides: { value: string; staff: string; device: string; at: number }[] };
}

let counter = 0;
export function newId(): string {
  counter += 1;
  const hex = counter.toString(16).padStart(12, '0');
  const rand = Math.floor(Math.random() * 0xffff)
    .toString(16)
    .padStart(4, '0');
  return `${rand}a1b2-0000-4000-8000-${hex}`;
}

export function seed(now: Date): Seeded {
  const records: RecordT[] = [];
  const nowMs = now.getTime();
  const today = isoDate(now);
  const add = (kind: string, fields: Fields): string => {
    const id = newId();
    const clean: Fields = {};
    for (const [k, v] of Object.entries(fields)) if (v !== null) clean[k] = v;
    records.push({ kind, id, fields: clean });
    return id;
  };

  const branches: [string, string, string][] = [
    ['CEN', 'Central Library', 'Mon-Thu 09:00-21:00; Fri-Sat 09:00-18:00; Sun 13:00-17:00'],
    ['NOR', 'Northside', 'Mon-Fri 10:00-20:00; Sat 10:00-17:00; Sun closed'],
    ['SOU', 'Southgate', 'Mon-Fri 10:00-20:00; Sat 10:00-17:00; Sun closed'],
  ];
  branches.forEach(([code, name, hours], i) =>
    add('branch', {
      code,
      name,
      hours,
      address: `${100 + i * 7} Library Way`,
      phone: `555-01${String(i).padStart(2, '0')}`,
      session_minutes: 60,
      daily_cap_minutes: 120,
      express_minutes: 15,
      grace_minutes: 10,
      book_ahead_days: 7,
      retired: false,
    }),
  );
  for (const [code] of branches)
    for (const room of ['Gateway Center', 'Stockroom', "Children's", 'Staff Office'])
      add('location', { branch: code, name: room, retired: false });

  const staffList: [string, string, string][] = [
    ['Ben Chen', 'coordinator', 'CEN'],
    ['Chloe Evans', 'technician', 'CEN'],
    ['Dev Garcia', 'technician', 'CEN'],
    ['Elena Ito', 'gateway-manager', 'CEN'],
    ['Farid Kowalski', 'gateway-assistant', 'CEN'],
    ['Grace Murphy', 'gateway-assistant', 'NOR'],
    ['Hiro Okafor', 'gateway-manager', 'NOR'],
    ['Ines Rossi', 'gateway-assistant', 'SOU'],
    ['Jamal Silva', 'gateway-manager', 'SOU'],
  ];
  const staff: Record<string, string> = {};
  staffList.forEach(([name, role, branch], i) => {
    staff[name] = add('staff', {
      name,
      role,
      branch,
      phone: `555-02${String(10 + i)}`,
      email: `${name.toLowerCase().replace(' ', '.')}@library.example`,
      retired: false,
    });
  });

  const vendors: Record<string, string> = {};
  for (const [name, kind] of [
    ['Dell Technologies', 'manufacturer'],
    ['HP Inc.', 'manufacturer'],
    ['Metro Office Supply', 'supplier'],
    ['CDW Government', 'supplier'],
    ['TechFix Repair Co.', 'service'],
    ['ePlus Micrographics', 'service'],
  ])
    vendors[name] = add('vendor', {
      name,
      kind,
      account: `ACC-${1000 + Object.keys(vendors).length * 37}`,
      phone: `800-555-${1000 + Object.keys(vendors).length}`,
      contract_end: `${now.getFullYear() + 1}-06-30`,
      retired: false,
    });

  const thisDevice = add('device', {
    name: 'Central desk 1',
    branch: 'CEN',
    role: 'authority',
    actor: 'a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1',
    revoked: false,
  });
  const tech = add('device', {
    name: 'Tech laptop',
    branch: 'CEN',
    role: 'peer',
    actor: 'b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2',
    enrolled_by: thisDevice,
    revoked: false,
  });
  const north = add('device', {
    name: 'Northside desk',
    branch: 'NOR',
    role: 'peer',
    actor: 'c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3',
    enrolled_by: thisDevice,
    revoked: false,
  });

  // Assets.
  const stations: Record<string, string[]> = {};
  const assetsByTag: Record<string, string> = {};
  const asset = (code: string, cat: string, k: number, model: [string, string], extra: Fields = {}) => {
    const tag = `${code}-${cat.slice(0, 2).toUpperCase()}-${String(k).padStart(3, '0')}`;
    const pub = ['public-pc', 'printer', 'scanner', 'microform-reader'].includes(cat);
    const f: Fields = {
      tag,
      name: `${model[0]} ${model[1]}`,
      category: cat,
      manufacturer: model[0],
      model: model[1],
      serial: `SN${(10_000_000 + k * 7919 + code.charCodeAt(0) * 131).toString()}`,
      status: 'deployed',
      branch: code,
      location: pub ? 'Gateway Center' : 'Staff Office',
      supplier: vendors['CDW Government'],
      purchase_date: shiftDate(today, -400 - k * 37),
      purchase_cost: 65_000 + k * 1_250,
      warranty_months: 36,
      eol_date: shiftDate(today, 1400 - k * 37),
      public_use: pub,
      bookable: cat === 'public-pc',
      express: cat === 'public-pc' && k <= 2,
      ...extra,
    };
    if (cat.endsWith('-pc')) f.hostname = tag.toLowerCase();
    const id = add('asset', f);
    assetsByTag[tag] = id;
    if (cat === 'public-pc') (stations[code] ??= []).push(id);
    return id;
  };
  const pcs: Record<string, number> = { CEN: 8, NOR: 5, SOU: 4 };
  for (const [code] of branches) {
    for (let k = 1; k <= pcs[code]; k++)
      asset(code, 'public-pc', k, ['Dell', 'OptiPlex 7010'], code === 'NOR' && k === 5 ? { status: 'in-repair' } : {});
    for (let k = 1; k <= (code === 'CEN' ? 4 : 2); k++) asset(code, 'staff-pc', k, ['Lenovo', 'ThinkCentre M70q']);
    for (let k = 1; k <= 2; k++)
      asset(code, 'printer', k, ['HP', 'LaserJet M507'], { supplier: vendors['Metro Office Supply'] });
    asset(code, 'scanner', 1, ['Epson', 'DS-770']);
    asset(code, 'network', 1, ['Cisco', 'Catalyst 1000']);
  }
  asset('CEN', 'microform-reader', 1, ['ScanPro', '3000'], { supplier: vendors['ePlus Micrographics'] });
  asset('CEN', 'server', 1, ['Dell', 'PowerEdge R350']);
  asset('CEN', 'server', 2, ['Dell', 'PowerEdge R350']);
  const laptop = asset('CEN', 'laptop', 1, ['Lenovo', 'ThinkPad T14'], { status: 'in-transit' });

  // Licences.
  const licences: string[] = [];
  for (const [product, seats, days] of [
    ['Microsoft Office LTSC', 40, 200],
    ['Deep Freeze', 30, 45],
    ['Adobe Acrobat', 5, 20],
  ] as [string, number, number][])
    licences.push(
      add('licence', {
        product,
        seats,
        vendor: vendors['CDW Government'],
        key: `KEY-${product.length}${seats}-${days}`,
        expiry: shiftDate(today, days),
        retired: false,
      }),
    );
  add('seat', { licence: licences[2], asset: assetsByTag['CEN-ST-001'], retired: false });
  add('seat', { licence: licences[2], asset: assetsByTag['CEN-ST-002'], retired: false });

  // Stock: every item received at every branch; toner used so NOR is below reorder.
  const items: Record<string, string> = {};
  (
    [
      ['HP 89A toner', 'toner', 2, 8900],
      ['Copy paper, letter (ream)', 'paper', 20, 650],
      ['USB keyboard', 'keyboard', 3, 1800],
      ['USB mouse', 'mouse', 4, 1200],
      ['Ethernet cable 2m', 'cable', 5, 400],
      ['Imaging drum CF232A', 'drum', 1, 6900],
    ] as [string, string, number, number][]
  ).forEach(([name, kind, reorder, cost], k) => {
    items[name] = add('stock-item', {
      name,
      kind,
      part_number: `PN-${20000 + k * 17}`,
      unit: 'each',
      reorder_level: reorder,
      target_level: reorder * 3,
      vendor: vendors['Metro Office Supply'],
      unit_cost: cost,
      retired: false,
    });
  });
  for (const [code] of branches)
    for (const [name, id] of Object.entries(items)) {
      const rec = records.find((r) => r.id === id);
      add('movement', {
        item: id,
        branch: code,
        kind: 'receive',
        qty: (rec?.fields.target_level as number) ?? 5,
        cancelled: false,
        note: name === 'HP 89A toner' ? 'Quarterly order' : null,
      });
    }
  add('movement', { item: items['HP 89A toner'], branch: 'NOR', kind: 'issue', qty: 5, cancelled: false });
  add('movement', { item: items['USB mouse'], branch: 'SOU', kind: 'issue', qty: 9, cancelled: false });

  // Tickets.
  const ticket = (n: number, code: string, tag: string, cat: string, summary: string, status: string, ago: number, extra: Fields = {}) =>
    add('ticket', {
      number: `${code}-${String(n).padStart(4, '0')}`,
      branch: code,
      asset: assetsByTag[tag],
      reported_by: 'Gateway desk',
      category: cat,
      urgency: n % 3 === 0 ? 'high' : 'normal',
      status,
      summary,
      warranty: false,
      opened_at: isoDateTime(new Date(nowMs - ago * 3_600_000)),
      ...extra,
    });
  ticket(1, 'CEN', 'CEN-PR-001', 'printer', 'Paper jam in tray 2', 'assigned', 26, { assignee: staff['Chloe Evans'] });
  ticket(2, 'CEN', 'CEN-PU-003', 'software', 'Reservation client not starting', 'new', 3);
  ticket(3, 'NOR', 'NOR-PU-005', 'hardware', "Won't power on", 'waiting-vendor', 50, {
    assignee: staff['Dev Garcia'],
    vendor: vendors['TechFix Repair Co.'],
    vendor_cost: 12_500,
    warranty: true,
  });
  ticket(4, 'SOU', 'SOU-PR-002', 'printer', 'Toner low, faded prints', 'assigned', 8, { assignee: staff['Chloe Evans'] });
  ticket(5, 'SOU', 'SOU-NE-001', 'network', 'No network on station 3', 'new', 1);
  ticket(6, 'CEN', 'CEN-PR-002', 'printer', 'Faded prints', 'closed', 240, {
    assignee: staff['Dev Garcia'],
    resolution: 'Replaced toner cartridge',
    solved_at: isoDateTime(new Date(nowMs - 200 * 3_600_000)),
    closed_at: isoDateTime(new Date(nowMs - 200 * 3_600_000)),
  });
  const t1 = records.find((r) => r.kind === 'ticket' && r.fields.number === 'CEN-0001');
  if (t1) {
    t1.fields.first_response_at = isoDateTime(new Date(nowMs - 25 * 3_600_000));
    t1.work = [
      {
        at: isoDateTime(new Date(nowMs - 25 * 3_600_000)),
        minutes: 20,
        text: 'Cleared the jam; roller looks worn. Ordered a roller kit.',
        device: tech,
        staff: staff['Chloe Evans'],
      },
    ];
  }

  // Bookings: today around now, and tomorrow (with one double booking that came in by sync).
  const bookingsFor = (day: string, code: string) => {
    const b = records.find((r) => r.kind === 'branch' && r.fields.code === code)?.fields;
    const open = openOn(b?.hours as string, b?.closures as string, day);
    if (!open) return;
    const ids = stations[code] ?? [];
    ids.forEach((st, si) => {
      if (si < 2) return; // express stations stay walk-up
      const rec = records.find((r) => r.id === st);
      if (rec?.fields.status !== 'deployed') return;
      for (let m = open[0] + (si % 3) * 60; m + 60 <= open[1]; m += 180) {
        const start = `${day}T${formatClock(m)}`;
        const end = `${day}T${formatClock(m + 60)}`;
        const nowS = isoDateTime(now);
        let status = 'booked';
        if (end <= nowS) status = (m / 60 + si) % 5 === 0 ? 'no-show' : 'completed';
        else if (start <= nowS) status = 'checked-in';
        add('booking', {
          station: st,
          branch: code,
          patron: `p:${(0xabc000 + si * 97 + m).toString(16).padStart(16, '0')}`,
          start,
          end,
          source: ['desk', 'phone', 'kiosk'][(si + m) % 3],
          status,
        });
      }
    });
  };
  for (const [code] of branches) {
    bookingsFor(today, code);
    bookingsFor(shiftDate(today, 1), code);
  }
  const tomorrow = shiftDate(today, 1);
  const st5 = stations.CEN[4];
  // Remove the generated one at that time so the pair below is the only clash.
  for (let k = records.length - 1; k >= 0; k--) {
    const r = records[k];
    if (r.kind === 'booking' && r.fields.station === st5 && String(r.fields.start).startsWith(tomorrow)) records.splice(k, 1);
  }
  const dbl = [
    { patron: 'G-1042', device: thisDevice, staff: staff['Elena Ito'], at: nowMs - 3_600_000 },
    { patron: 'p:00000000002b9f1c', device: tech, staff: staff['Chloe Evans'], at: nowMs - 3_000_000 },
  ];
  for (const d of dbl)
    add('booking', {
      station: st5,
      branch: 'CEN',
      patron: d.patron,
      start: `${tomorrow}T14:00`,
      end: `${tomorrow}T15:00`,
      source: 'desk',
      status: 'booked',
      created_at: d.at,
      created_by: d.staff,
      created_device: d.device,
    });

  // Schedules.
  const backup = add('task', {
    title: 'Nightly backup SRV-01',
    kind: 'backup',
    rule: 'daily',
    branch: 'CEN',
    asset: assetsByTag['CEN-SE-001'],
    assignee: staff['Dev Garcia'],
    next_due: today,
    retired: false,
  });
  for (const [code, days] of [
    ['CEN', 2],
    ['NOR', 5],
    ['SOU', 20],
  ] as [string, number][])
    add('task', {
      title: `Monthly PC maintenance ${code}`,
      kind: 'maintenance',
      rule: 'monthly',
      branch: code,
      assignee: staff['Chloe Evans'],
      next_due: shiftDate(today, days),
      retired: false,
    });
  for (let d = 1; d <= 5; d++)
    add('task-run', {
      task: backup,
      date: shiftDate(today, -d),
      staff: staff['Dev Garcia'],
      result: d === 3 ? 'failed' : 'ok',
      media: 'NAS-01',
      size_mb: 24_000 + d * 310,
      restore_verified: d === 2,
    });
  const monday = new Date(now);
  monday.setDate(monday.getDate() - ((monday.getDay() + 6) % 7));
  monday.setHours(8, 0, 0, 0);
  const week = (n: number) => isoDateTime(new Date(monday.getTime() + n * 7 * 86_400_000));
  add('oncall', { staff: staff['Chloe Evans'], branches: 'CEN,NOR,SOU', start: week(0), end: week(1), phone: '555-0199', cancelled: false });
  add('oncall', { staff: staff['Dev Garcia'], branches: 'CEN,NOR,SOU', start: week(1), end: week(2), phone: '555-0199', cancelled: false });
  add('training', {
    title: 'New reservation system',
    trainer: staff['Chloe Evans'],
    branch: 'NOR',
    start: `${shiftDate(today, 3)}T09:00`,
    end: `${shiftDate(today, 3)}T11:00`,
    attendees: 8,
    cancelled: false,
  });

  // Daily use counts for the last three weeks.
  for (let d = 1; d <= 21; d++) {
    const day = shiftDate(today, -d);
    branches.forEach(([code, , hours], bi) => {
      if (!openOn(hours, '', day)) return;
      const sessions = 40 + ((d * 13 + bi * 7) % 35) - bi * 12;
      add('usage', {
        branch: code,
        date: day,
        station: 'pool',
        sessions,
        minutes: sessions * 44,
        walkups: Math.round(sessions * 0.6),
        bookings: Math.round(sessions * 0.4),
        no_shows: d % 4,
        print_bw: 120 + ((d * 31) % 200),
        print_colour: 10 + ((d * 7) % 40),
        wifi_sessions: 150 + ((d * 17) % 120),
        microform_uses: code === 'CEN' ? d % 5 : 0,
        estimate: false,
        retired: false,
      });
    });
  }

  add('transfer', {
    asset: laptop,
    from_branch: 'CEN',
    to_branch: 'SOU',
    status: 'in-transit',
    carried_by: staff['Chloe Evans'],
    note: 'Loan laptop for the training room',
  });
  add('transfer', {
    item: items['USB keyboard'],
    qty: 2,
    from_branch: 'CEN',
    to_branch: 'NOR',
    status: 'prepared',
    carried_by: staff['Dev Garcia'],
  });

  add('page', {
    title: 'Resetting a frozen public PC',
    text: '1. Check the reservation client.\n2. Restart the station (Deep Freeze restores it).\n3. If it still fails, open a ticket.',
    tags: 'public-pc,how-to',
    retired: false,
  });
  add('page', {
    title: 'Replacing HP 89A toner',
    text: 'Open the front door, pull the old cartridge out, shake the new one five times and slide it in.',
    tags: 'printer,how-to',
    assets: 'LaserJet M507',
    retired: false,
  });
  add('retrieval', {
    branch: 'CEN',
    title: 'The Evening Star, microfilm reel 1954-03',
    kind: 'microform',
    requested_by: 'Patron at the desk',
    requested_at: isoDateTime(new Date(nowMs - 2 * 3_600_000)),
    status: 'requested',
  });

  // Everyone starts with a creation time, so history and conflicts have something to say.
  for (const r of records) {
    r.fields.created_at ??= nowMs - 7 * 86_400_000;
    r.fields.created_by ??= staff['Ben Chen'];
    r.fields.created_device ??= thisDevice;
  }

  return {
    records,
    thisDevice,
    devices: { tech, north },
    staff,
    assetFieldConflict: {
      asset: laptop,
      sides: [
        { value: 'NOR', staff: staff['Grace Murphy'], device: north, at: nowMs - 5_400_000 },
        { value: 'SOU', staff: staff['Chloe Evans'], device: tech, at: nowMs - 4_800_000 },
      ],
    },
  };
}
