//! A realistic mid-size library system (DOMAIN.md sizes) for a first look and for
//! benchmarks: branches, staff, ~600 assets, stock, and months of bookings, daily
//! use, tickets, maintenance and backup runs. Seeded, so it is the same every time
//! apart from the record ids.

use crate::{Clock, Node, Result};
use branchline_core::schema::Kind;
use branchline_core::{Fields, Value};
use chrono::{Datelike, Duration, NaiveDate};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy)]
pub struct DemoSize {
    pub branches: usize,
    pub days: i64,
    /// Public PCs at the central library; other branches get about a quarter.
    pub central_pcs: usize,
}

impl DemoSize {
    /// About 12 branches, 300 public PCs, three months of history.
    pub const FULL: DemoSize = DemoSize {
        branches: 12,
        days: 90,
        central_pcs: 80,
    };
    /// Small enough for tests.
    pub const SMALL: DemoSize = DemoSize {
        branches: 3,
        days: 4,
        central_pcs: 8,
    };
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DemoReport {
    pub counts: Vec<(String, i64)>,
}

const BRANCHES: &[(&str, &str)] = &[
    ("CEN", "Central Library"),
    ("NOR", "Northside"),
    ("SOU", "Southgate"),
    ("EAS", "Eastview"),
    ("WES", "Westbrook"),
    ("RIV", "Riverside"),
    ("HIL", "Hillcrest"),
    ("LAK", "Lakeshore"),
    ("MAP", "Maple Grove"),
    ("OAK", "Oak Park"),
    ("PIN", "Pine Ridge"),
    ("HAR", "Harbor"),
];
const FIRST: &[&str] = &[
    "Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jamal", "Kira", "Luis", "Maya",
    "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Victor", "Wen", "Yusuf", "Zoe",
];
const LAST: &[&str] = &[
    "Alvarez", "Brooks", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
    "Kowalski", "Lopez", "Murphy", "Nguyen", "Okafor", "Patel", "Rossi", "Silva", "Tanaka", "Weber",
];

fn f<const N: usize>(pairs: [(&str, Value); N]) -> Fields {
    branchline_core::value::fields(pairs)
}

/// Fill a freshly initialised replica. `today` is the last day of history.
pub fn fill(node: &mut Node, size: DemoSize, today: NaiveDate, seed: u64) -> Result<DemoReport> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let start = today - Duration::days(size.days);
    let at = |d: NaiveDate, h: u32| d.and_hms_opt(h, 0, 0).unwrap_or_default();
    node.set_clock(Clock::Fixed(at(start - Duration::days(30), 9)));
    let branches: Vec<(&str, &str)> = BRANCHES
        .iter()
        .take(size.branches.clamp(1, BRANCHES.len()))
        .copied()
        .collect();

    // Branches (the first exists since init) and their rooms.
    for (i, (code, name)) in branches.iter().enumerate() {
        let hours = if i == 0 {
            "Mon-Thu 09:00-21:00; Fri-Sat 09:00-18:00; Sun 13:00-17:00"
        } else {
            "Mon-Fri 10:00-20:00; Sat 10:00-17:00; Sun closed"
        };
        let fields = f([
            ("name", (*name).into()),
            ("hours", hours.into()),
            ("address", format!("{} Library Way", 100 + i * 7).into()),
            ("phone", format!("555-01{:02}", i).into()),
        ]);
        if node.get(Kind::Branch, code).is_ok() {
            node.update(Kind::Branch, code, fields)?;
        } else {
            let mut fields = fields;
            fields.insert("code".into(), (*code).into());
            node.create(Kind::Branch, fields)?;
        }
    }
    let mut rows = Vec::new();
    for (code, _) in &branches {
        for room in ["Gateway Center", "Stockroom", "Children's", "Staff Office"] {
            rows.push(f([("branch", (*code).into()), ("name", room.into())]));
        }
    }
    node.create_many(Kind::Location, rows)?;

    // Staff: a coordinator, technicians, and each branch's Gateway Center team.
    let mut name_i = 0usize;
    let mut next_name = || {
        name_i += 1;
        format!(
            "{} {}",
            FIRST[name_i % FIRST.len()],
            LAST[(name_i * 7) % LAST.len()]
        )
    };
    let mut staff = vec![f([
        ("name", next_name().into()),
        ("role", "coordinator".into()),
        ("branch", "CEN".into()),
    ])];
    for _ in 0..3 {
        staff.push(f([
            ("name", next_name().into()),
            ("role", "technician".into()),
            ("branch", "CEN".into()),
        ]));
    }
    for (code, _) in &branches {
        staff.push(f([
            ("name", next_name().into()),
            ("role", "gateway-manager".into()),
            ("branch", (*code).into()),
        ]));
        for _ in 0..2 {
            staff.push(f([
                ("name", next_name().into()),
                ("role", "gateway-assistant".into()),
                ("branch", (*code).into()),
            ]));
        }
    }
    for s in &mut staff {
        let n = s.get("name").map(Value::display).unwrap_or_default();
        s.insert(
            "email".into(),
            format!("{}@library.example", n.to_lowercase().replace(' ', ".")).into(),
        );
        s.insert(
            "phone".into(),
            format!("555-02{:02}", rng.gen_range(0..100)).into(),
        );
    }
    node.create_many(Kind::Staff, staff)?;
    let technicians: Vec<String> = node
        .list(Kind::Staff, &Default::default())?
        .into_iter()
        .filter(|s| s.str("role") == Some("technician"))
        .map(|s| s.id)
        .collect();

    // Vendors.
    let vendors = [
        ("Dell Technologies", "manufacturer"),
        ("HP Inc.", "manufacturer"),
        ("Lenovo", "manufacturer"),
        ("Metro Office Supply", "supplier"),
        ("CDW Government", "supplier"),
        ("ePlus Micrographics", "service"),
        ("TechFix Repair Co.", "service"),
        ("Cisco Systems", "manufacturer"),
    ];
    node.create_many(
        Kind::Vendor,
        vendors
            .iter()
            .enumerate()
            .map(|(i, (n, k))| {
                f([
                    ("name", (*n).into()),
                    ("kind", (*k).into()),
                    ("account", format!("ACC-{:05}", 1000 + i * 37).into()),
                    ("phone", format!("800-555-{:04}", 1000 + i).into()),
                    ("contract_end", format!("{}-06-30", today.year() + 1).into()),
                ])
            })
            .collect(),
    )?;

    // Assets: public PCs (bookable, two express per branch), staff PCs, printers and the rest.
    let mut assets = Vec::new();
    let mut stations: HashMap<String, Vec<String>> = HashMap::new();
    for (bi, (code, _)) in branches.iter().enumerate() {
        let pcs = if bi == 0 {
            size.central_pcs
        } else {
            (size.central_pcs / 4).max(4) + bi % 3
        };
        let mut add = |cat: &str, n: usize, model: (&str, &str), supplier: &str, public: bool| {
            for k in 0..n {
                let tag = format!("{code}-{}-{:03}", &cat[..2].to_ascii_uppercase(), k + 1);
                let bought = start - Duration::days(rng.gen_range(60..2200));
                let mut a = f([
                    ("tag", tag.clone().into()),
                    ("name", format!("{} {}", model.0, model.1).into()),
                    ("category", cat.into()),
                    ("manufacturer", model.0.into()),
                    ("model", model.1.into()),
                    (
                        "serial",
                        format!("SN{}", rng.gen_range(10_000_000u64..99_999_999)).into(),
                    ),
                    ("status", "deployed".into()),
                    ("branch", (*code).into()),
                    (
                        "location",
                        if public { "Gateway Center" } else { "Staff Office" }.into(),
                    ),
                    ("supplier", supplier.into()),
                    ("purchase_date", bought.format("%Y-%m-%d").to_string().into()),
                    ("purchase_cost", Value::Int(rng.gen_range(20_000..150_000))),
                    ("warranty_months", Value::Int(36)),
                    (
                        "eol_date",
                        (bought + Duration::days(5 * 365))
                            .format("%Y-%m-%d")
                            .to_string()
                            .into(),
                    ),
                ]);
                if cat == "public-pc" || cat == "staff-pc" {
                    a.insert("hostname".into(), tag.to_lowercase().into());
                }
                if public {
                    a.insert("public_use".into(), true.into());
                    if cat == "public-pc" {
                        a.insert("bookable".into(), true.into());
                        a.insert("express".into(), (k < 2).into());
                        stations.entry(code.to_string()).or_default().push(tag.clone());
                    }
                }
                assets.push(a);
            }
        };
        add(
            "public-pc",
            pcs,
            ("Dell", "OptiPlex 7010"),
            "CDW Government",
            true,
        );
        add(
            "staff-pc",
            pcs * 2 / 3,
            ("Lenovo", "ThinkCentre M70q"),
            "CDW Government",
            false,
        );
        add(
            "printer",
            3 + bi % 3,
            ("HP", "LaserJet M507"),
            "Metro Office Supply",
            true,
        );
        add("scanner", 1, ("Epson", "DS-770"), "CDW Government", true);
        add("network", 2, ("Cisco", "Catalyst 1000"), "CDW Government", false);
        if bi % 2 == 0 {
            add(
                "microform-reader",
                1,
                ("ScanPro", "3000"),
                "ePlus Micrographics",
                true,
            );
        }
        if bi == 0 {
            add("server", 3, ("Dell", "PowerEdge R350"), "CDW Government", false);
            add("laptop", 4, ("Lenovo", "ThinkPad T14"), "CDW Government", false);
        }
    }
    node.create_many(Kind::Asset, assets)?;

    // Licences and some seats.
    let licences = [
        ("Microsoft Office LTSC", 400),
        ("Deep Freeze", 350),
        ("PC reservation software", 320),
        ("Adobe Acrobat", 40),
        ("Antivirus", 600),
    ];
    node.create_many(
        Kind::Licence,
        licences
            .iter()
            .enumerate()
            .map(|(i, (p, seats))| {
                f([
                    ("product", (*p).into()),
                    ("seats", Value::Int(*seats)),
                    ("vendor", "CDW Government".into()),
                    ("key", format!("KEY-{:04}-{:04}", i * 13 + 7, i * 101 + 3).into()),
                    (
                        "expiry",
                        (today + Duration::days(30 + 60 * i as i64))
                            .format("%Y-%m-%d")
                            .to_string()
                            .into(),
                    ),
                ])
            })
            .collect(),
    )?;
    let acrobat = node.get(Kind::Licence, "Adobe Acrobat")?.id;
    let staff_pcs: Vec<String> = node
        .list(
            Kind::Asset,
            &branchline_store::Filter {
                fields: vec![("category".into(), "staff-pc".into())],
                limit: Some(30),
                ..Default::default()
            },
        )?
        .into_iter()
        .map(|a| a.id)
        .collect();
    node.create_many(
        Kind::Seat,
        staff_pcs
            .iter()
            .map(|a| f([("licence", acrobat.clone().into()), ("asset", a.clone().into())]))
            .collect(),
    )?;

    // Supplies and spare parts, stocked at every branch.
    let mut items = Vec::new();
    for (k, (name, kind, reorder)) in [
        ("HP 89A toner", "toner", 2),
        ("HP 89X toner", "toner", 2),
        ("Copy paper, letter (ream)", "paper", 20),
        ("Copy paper, legal (ream)", "paper", 5),
        ("USB keyboard", "keyboard", 3),
        ("USB mouse", "mouse", 4),
        ("Ethernet cable 2m", "cable", 5),
        ("HDMI cable", "cable", 2),
        ("Imaging drum CF232A", "drum", 1),
        ("Microfilm lamp", "part", 1),
    ]
    .into_iter()
    .enumerate()
    {
        items.push(f([
            ("name", name.into()),
            ("kind", kind.into()),
            ("part_number", format!("PN-{:05}", 20000 + k * 17).into()),
            ("reorder_level", Value::Int(reorder)),
            ("target_level", Value::Int(reorder * 3)),
            ("vendor", "Metro Office Supply".into()),
            ("unit_cost", Value::Int(500 + 700 * k as i64)),
        ]));
    }
    node.create_many(Kind::StockItem, items)?;
    let item_list = node.list(Kind::StockItem, &Default::default())?;
    let mut levels: HashMap<(String, String), i64> = HashMap::new();
    for (code, _) in &branches {
        for it in &item_list {
            let qty = it.int("target_level").unwrap_or(5);
            node.create(
                Kind::Movement,
                f([
                    ("item", it.id.clone().into()),
                    ("branch", (*code).into()),
                    ("kind", "receive".into()),
                    ("qty", Value::Int(qty)),
                ]),
            )?;
            levels.insert((it.id.clone(), code.to_string()), qty);
        }
    }

    // Recurring tasks.
    let mut tasks = vec![];
    for s in ["SRV-01", "SRV-02", "SRV-03"] {
        tasks.push(f([
            ("title", format!("Nightly backup {s}").into()),
            ("kind", "backup".into()),
            ("rule", "daily".into()),
            ("branch", "CEN".into()),
            ("next_due", start.format("%Y-%m-%d").to_string().into()),
        ]));
    }
    for (code, _) in &branches {
        tasks.push(f([
            ("title", format!("Monthly PC maintenance {code}").into()),
            ("kind", "maintenance".into()),
            ("rule", "monthly".into()),
            ("branch", (*code).into()),
            ("next_due", start.format("%Y-%m-%d").to_string().into()),
        ]));
    }
    node.create_many(Kind::Task, tasks)?;
    let task_list = node.list(Kind::Task, &Default::default())?;

    // Day by day history.
    let patrons: Vec<String> = (0..3000).map(|i| format!("2{:09}", 100_000 + i * 7919)).collect();
    let station_ids: HashMap<String, Vec<String>> = stations
        .iter()
        .map(|(b, tags)| {
            let ids = tags
                .iter()
                .filter_map(|t| node.get(Kind::Asset, t).ok().map(|a| a.id))
                .collect();
            (b.clone(), ids)
        })
        .collect();
    let branch_hours: Vec<(String, branchline_core::hours::Hours)> = branches
        .iter()
        .map(|(c, _)| {
            let b = node.get(Kind::Branch, c).ok();
            let h = b
                .and_then(|b| {
                    b.str("hours")
                        .and_then(|h| branchline_core::hours::Hours::parse(h).ok())
                })
                .unwrap_or_default();
            (c.to_string(), h)
        })
        .collect();
    let printers: Vec<(String, String)> = node
        .list(
            Kind::Asset,
            &branchline_store::Filter {
                fields: vec![("category".into(), "printer".into())],
                ..Default::default()
            },
        )?
        .into_iter()
        .map(|a| (a.id.clone(), a.str("branch").unwrap_or_default().to_string()))
        .collect();
    let toner = item_list
        .iter()
        .find(|i| i.str("name") == Some("HP 89A toner"))
        .or(item_list.first())
        .map(|i| i.id.clone())
        .unwrap_or_default();
    let mut day = start;
    while day <= today {
        node.set_clock(Clock::Fixed(at(day, 8)));
        let mut bookings = Vec::new();
        let mut usage = Vec::new();
        let mut patron_minutes: HashMap<&str, i64> = HashMap::new();
        let mut patron_slots: std::collections::HashSet<(&str, u32)> = std::collections::HashSet::new();
        for (code, hours) in &branch_hours {
            let Some((open, close)) = hours.on(day, &[]) else {
                continue;
            };
            let ids = station_ids.get(code).cloned().unwrap_or_default();
            let mut slots = Vec::new();
            for (si, st) in ids.iter().enumerate().skip(2) {
                let mut m = open;
                while m + 60 <= close {
                    slots.push((si, st.clone(), m));
                    m += 60;
                }
            }
            slots.shuffle(&mut rng);
            let wanted = ids.len() * 3 / 4;
            let mut n = 0;
            for (_, st, m) in slots {
                if n >= wanted {
                    break;
                }
                let patron = patrons[rng.gen_range(0..patrons.len())].as_str();
                let used = patron_minutes.entry(patron).or_insert(0);
                if *used + 60 > 120 || !patron_slots.insert((patron, m)) {
                    continue;
                }
                *used += 60;
                n += 1;
                let s = at(day, 0) + Duration::minutes(m.into());
                let e = s + Duration::minutes(60);
                let status = if day == today {
                    "booked"
                } else {
                    match rng.gen_range(0..100) {
                        0..=84 => "completed",
                        85..=94 => "no-show",
                        _ => "cancelled",
                    }
                };
                bookings.push(f([
                    ("station", st.into()),
                    ("patron", patron.into()),
                    ("start", s.format("%Y-%m-%dT%H:%M").to_string().into()),
                    ("end", e.format("%Y-%m-%dT%H:%M").to_string().into()),
                    ("status", status.into()),
                    ("source", ["desk", "phone", "kiosk"][rng.gen_range(0..3)].into()),
                ]));
            }
            if day < today {
                let sessions = (n as i64) * 3 + rng.gen_range(0..20);
                usage.push(f([
                    ("branch", code.as_str().into()),
                    ("date", day.format("%Y-%m-%d").to_string().into()),
                    ("sessions", Value::Int(sessions)),
                    ("minutes", Value::Int(sessions * rng.gen_range(35..55))),
                    ("walkups", Value::Int(sessions - n as i64)),
                    ("bookings", Value::Int(n as i64)),
                    ("no_shows", Value::Int(n as i64 / 10)),
                    ("print_bw", Value::Int(rng.gen_range(50..600))),
                    ("print_colour", Value::Int(rng.gen_range(5..80))),
                    ("wifi_sessions", Value::Int(rng.gen_range(40..400))),
                    ("microform_uses", Value::Int(rng.gen_range(0..6))),
                ]));
            }
        }
        node.create_many(Kind::Booking, bookings)?;
        if !usage.is_empty() {
            node.create_many(Kind::Usage, usage)?;
        }

        // About six problems a day across the system.
        let mut tickets = Vec::new();
        for _ in 0..rng.gen_range(3..9) {
            let (asset, branch) = printers[rng.gen_range(0..printers.len())].clone();
            let opened = at(day, rng.gen_range(9..17));
            let solved = day + Duration::days(rng.gen_range(0..4)) < today;
            let (cat, summary) = [
                ("printer", "Paper jam in tray 2"),
                ("printer", "Toner low, faded prints"),
                ("hardware", "Won't power on"),
                ("software", "Reservation client not starting"),
                ("network", "No network on station"),
                ("hardware", "Monitor flickers"),
            ][rng.gen_range(0..6)];
            let mut t = f([
                ("branch", branch.into()),
                ("asset", asset.into()),
                ("category", cat.into()),
                ("summary", summary.into()),
                (
                    "urgency",
                    ["low", "normal", "normal", "high"][rng.gen_range(0..4)].into(),
                ),
                ("opened_at", opened.format("%Y-%m-%dT%H:%M").to_string().into()),
                (
                    "assignee",
                    technicians[rng.gen_range(0..technicians.len())].clone().into(),
                ),
                ("reported_by", "Gateway desk".into()),
            ]);
            if solved {
                let resp = opened + Duration::minutes(rng.gen_range(10..240));
                let done = resp + Duration::minutes(rng.gen_range(30..3000));
                t.insert("status".into(), "closed".into());
                t.insert(
                    "first_response_at".into(),
                    resp.format("%Y-%m-%dT%H:%M").to_string().into(),
                );
                t.insert(
                    "solved_at".into(),
                    done.format("%Y-%m-%dT%H:%M").to_string().into(),
                );
                t.insert(
                    "closed_at".into(),
                    done.format("%Y-%m-%dT%H:%M").to_string().into(),
                );
                t.insert("resolution".into(), "Fixed on site".into());
                t.insert(
                    "out_of_service_minutes".into(),
                    Value::Int((done - opened).num_minutes()),
                );
            } else {
                t.insert("status".into(), "assigned".into());
            }
            tickets.push(t);
        }
        node.create_many(Kind::Ticket, tickets)?;

        // Toner used at a couple of branches, restocked when low.
        for _ in 0..2 {
            let (code, _) = branches[rng.gen_range(0..branches.len())];
            let key = (toner.clone(), code.to_string());
            let level = levels.get(&key).copied().unwrap_or(0);
            let mv = if level > 0 {
                levels.insert(key, level - 1);
                f([
                    ("item", toner.clone().into()),
                    ("branch", code.into()),
                    ("kind", "issue".into()),
                    ("qty", Value::Int(1)),
                ])
            } else {
                levels.insert(key, level + 6);
                f([
                    ("item", toner.clone().into()),
                    ("branch", code.into()),
                    ("kind", "receive".into()),
                    ("qty", Value::Int(6)),
                ])
            };
            node.create(Kind::Movement, mv)?;
        }

        // Nightly backups, and monthly maintenance on the first weekday.
        let mut runs = Vec::new();
        for t in &task_list {
            let due = match t.str("kind") {
                Some("backup") => true,
                _ => day.day() == 1 + (t.id.as_bytes()[0] % 5) as u32,
            };
            if due {
                let ok = rng.gen_range(0..100) < 96;
                let mut r = f([
                    ("task", t.id.clone().into()),
                    ("date", day.format("%Y-%m-%d").to_string().into()),
                    ("result", if ok { "ok" } else { "failed" }.into()),
                    (
                        "staff",
                        technicians[rng.gen_range(0..technicians.len())].clone().into(),
                    ),
                ]);
                if t.str("kind") == Some("backup") {
                    r.insert("media".into(), "NAS-01".into());
                    r.insert("size_mb".into(), Value::Int(rng.gen_range(20_000..40_000)));
                    r.insert(
                        "restore_verified".into(),
                        (day.weekday() == chrono::Weekday::Mon && ok).into(),
                    );
                }
                runs.push(r);
            }
        }
        node.create_many(Kind::TaskRun, runs)?;

        if day.weekday() == chrono::Weekday::Mon {
            let tech = technicians[rng.gen_range(0..technicians.len())].clone();
            let codes: Vec<&str> = branches.iter().map(|(c, _)| *c).collect();
            node.create_many(
                Kind::Oncall,
                vec![f([
                    ("staff", tech.into()),
                    ("branches", codes.join(",").into()),
                    ("start", at(day, 8).format("%Y-%m-%dT%H:%M").to_string().into()),
                    (
                        "end",
                        (at(day, 8) + Duration::days(7))
                            .format("%Y-%m-%dT%H:%M")
                            .to_string()
                            .into(),
                    ),
                    ("phone", "555-0199".into()),
                ])],
            )?;
        }
        if day.day() == 10 || day.day() == 24 {
            let (code, _) = branches[rng.gen_range(0..branches.len())];
            node.create_many(
                Kind::Training,
                vec![f([
                    (
                        "title",
                        [
                            "New reservation system",
                            "Printing and scanning",
                            "Basic troubleshooting",
                        ][rng.gen_range(0..3)]
                        .into(),
                    ),
                    ("trainer", technicians[0].clone().into()),
                    ("branch", code.into()),
                    ("start", at(day, 9).format("%Y-%m-%dT%H:%M").to_string().into()),
                    ("end", at(day, 11).format("%Y-%m-%dT%H:%M").to_string().into()),
                    ("attendees", Value::Int(rng.gen_range(4..15))),
                ])],
            )?;
        }
        if day.weekday() == chrono::Weekday::Wed {
            node.create_many(
                Kind::Retrieval,
                vec![f([
                    ("branch", "CEN".into()),
                    ("title", "The Evening Star, microfilm reel 1954-03".into()),
                    ("kind", "microform".into()),
                    (
                        "requested_at",
                        at(day, 10).format("%Y-%m-%dT%H:%M").to_string().into(),
                    ),
                    (
                        "status",
                        if day < today { "fulfilled" } else { "requested" }.into(),
                    ),
                ])],
            )?;
        }
        day += Duration::days(1);
    }

    node.create(
        Kind::Page,
        f([
            ("title", "Resetting a frozen public PC".into()),
            ("text", "1. Check the reservation client.\n2. Restart the station (Deep Freeze restores it).\n3. If it still fails, open a ticket.".into()),
            ("tags", "public-pc,how-to".into()),
        ]),
    )?;
    node.set_clock(Clock::System);
    let mut report = DemoReport::default();
    for k in Kind::ALL {
        report.counts.push((k.name().to_string(), node.count(*k)?));
    }
    Ok(report)
}
