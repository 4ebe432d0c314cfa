//! Validation: turns what staff typed into typed, complete fields, and applies the
//! library's rules (unknown branch, end before start, booking policies, stock that
//! is not there, duplicate asset tags).
//!
//! Pure: everything it needs to know about existing records comes through
//! [`Lookup`], and the current time through [`Ctx`].

use crate::hours::{minute_of_day, parse_closures, parse_datetime, Hours};
use crate::schema::{FieldType, Kind};
use crate::value::{Fields, Value};
use chrono::{NaiveDate, NaiveDateTime};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

fn err<T>(field: &str, message: impl Into<String>) -> Result<T, ValidationError> {
    Err(ValidationError {
        field: field.to_string(),
        message: message.into(),
    })
}

/// What validation may ask about the records that already exist.
pub trait Lookup {
    /// A record's fields by UUID.
    fn record(&self, kind: Kind, id: &str) -> Option<Fields>;
    /// A UUID from a UUID, a unique UUID prefix or a natural key (asset tag, branch code...).
    /// `Err` carries a reason when the key is ambiguous.
    fn resolve(&self, kind: Kind, key: &str) -> Result<Option<String>, String>;
    /// Records of `kind` whose `field` equals `value`.
    fn find(&self, kind: Kind, field: &str, value: &Value) -> Vec<(String, Fields)>;
    /// Current stock level of an item at a branch.
    fn stock_level(&self, item: &str, branch: &str) -> i64;
    /// Bookings of a branch on a day (YYYY-MM-DD), every status.
    fn bookings_on(&self, branch: &str, date: &str) -> Vec<(String, Fields)>;
}

/// The moment and the library system a decision is made in.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Local wall time at the branch.
    pub now: NaiveDateTime,
    /// Salts patron hashes, so a card number hashes the same on every replica of
    /// one library system and differently in another.
    pub system_id: String,
}

pub enum Op<'a> {
    Create,
    Update { id: &'a str, existing: &'a Fields },
}

/// Hash a patron's card number; guest passes and already-hashed references pass through.
pub fn patron_ref(system_id: &str, input: &str) -> Result<String, String> {
    let s = input.trim();
    if s.starts_with("p:") && s.len() == 18 && s[2..].bytes().all(|c| c.is_ascii_hexdigit()) {
        return Ok(s.to_string());
    }
    if let Some(g) = s.strip_prefix("G-").or_else(|| s.strip_prefix("g-")) {
        if !g.is_empty() && g.len() <= 16 && g.bytes().all(|c| c.is_ascii_alphanumeric()) {
            return Ok(format!("G-{}", g.to_ascii_uppercase()));
        }
        return Err("guest pass must be G- followed by up to 16 letters or digits".into());
    }
    let card = s.strip_prefix("card:").unwrap_or(s);
    if card.is_empty() || card.len() > 32 || !card.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return Err("expected a library card number or a guest pass G-...".into());
    }
    let mut h = Sha256::new();
    h.update(system_id.as_bytes());
    h.update(b"\0patron\0");
    h.update(card.as_bytes());
    Ok(format!("p:{}", &hex::encode(h.finalize())[..16]))
}

pub fn parse_money(s: &str) -> Option<i64> {
    let s = s.trim().trim_start_matches('$');
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, f),
        None => (s, ""),
    };
    if frac.len() > 2 || whole.is_empty() && frac.is_empty() {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.replace(',', "").parse().ok()?
    };
    let frac: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().ok()?
    };
    if whole < 0 || frac < 0 {
        return None;
    }
    whole.checked_mul(100)?.checked_add(frac)
}

pub fn format_money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, (cents % 100).abs())
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" => Some(true),
        "false" | "no" | "n" | "0" | "" => Some(false),
        _ => None,
    }
}

/// Accepts YYYY-MM-DDTHH:MM, "YYYY-MM-DD HH:MM" and seconds; stores YYYY-MM-DDTHH:MM.
pub fn normalise_datetime(s: &str) -> Option<String> {
    let s = s.trim().replace(' ', "T");
    let s = if s.len() == 19 && s.ends_with(":00") {
        s[..16].to_string()
    } else {
        s
    };
    parse_datetime(&s).map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
}

/// Checks one value against its declared type and converts it to its stored form.
fn normalise_value(
    kind: Kind,
    name: &str,
    ty: FieldType,
    v: Value,
    ctx: &Ctx,
    lk: &dyn Lookup,
) -> Result<Value, ValidationError> {
    if v.is_null() {
        return Ok(v);
    }
    let text = match &v {
        Value::Str(s) => s.trim().to_string(),
        other => other.display(),
    };
    if text.is_empty() && !matches!(ty, FieldType::Bool) {
        return Ok(Value::Null);
    }
    Ok(match ty {
        FieldType::Text => {
            if kind == Kind::Booking && name == "patron" {
                Value::Str(patron_ref(&ctx.system_id, &text).or_else(|m| err(name, m))?)
            } else if text.len() > 100_000 {
                return err(name, "text longer than 100000 characters");
            } else {
                Value::Str(text)
            }
        }
        FieldType::Int => match v {
            Value::Int(i) => Value::Int(i),
            _ => Value::Int(
                text.parse()
                    .or_else(|_| err(name, format!("'{text}' is not a whole number")))?,
            ),
        },
        FieldType::Money => match v {
            Value::Int(i) if i >= 0 => Value::Int(i),
            _ => Value::Int(
                parse_money(&text)
                    .ok_or(())
                    .or_else(|_| err(name, format!("'{text}' is not an amount like 12.50")))?,
            ),
        },
        FieldType::Bool => match v {
            Value::Bool(b) => Value::Bool(b),
            _ => Value::Bool(
                parse_bool(&text)
                    .ok_or(())
                    .or_else(|_| err(name, format!("'{text}' is not yes or no")))?,
            ),
        },
        FieldType::Date => {
            let d = chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                .or_else(|_| err(name, format!("'{text}' is not a date YYYY-MM-DD")))?;
            Value::Str(d.format("%Y-%m-%d").to_string())
        }
        FieldType::DateTime => Value::Str(
            normalise_datetime(&text)
                .ok_or(())
                .or_else(|_| err(name, format!("'{text}' is not a time YYYY-MM-DDTHH:MM")))?,
        ),
        FieldType::Enum(values) => {
            let t = text.to_ascii_lowercase().replace('_', "-");
            if !values.contains(&t.as_str()) {
                return err(name, format!("'{text}' is not one of: {}", values.join(", ")));
            }
            Value::Str(t)
        }
        FieldType::Branch => Value::Str(check_branch(name, &text, lk)?),
        FieldType::Branches => {
            let codes: Result<Vec<String>, _> = text
                .split(',')
                .map(|c| check_branch(name, c.trim(), lk))
                .collect();
            let mut codes = codes?;
            codes.sort();
            codes.dedup();
            Value::Str(codes.join(","))
        }
        FieldType::Ref(target) => match lk.resolve(target, &text) {
            Ok(Some(id)) => Value::Str(id),
            Ok(None) => return err(name, format!("unknown {target} '{text}'")),
            Err(why) => return err(name, why),
        },
    })
}

fn check_branch(field: &str, code: &str, lk: &dyn Lookup) -> Result<String, ValidationError> {
    let code = code.trim().to_ascii_uppercase();
    match lk.resolve(Kind::Branch, &code) {
        Ok(Some(_)) => Ok(code),
        _ => err(field, format!("unknown branch '{code}'")),
    }
}

/// Validate a create or an update. `input` holds only the fields given; the result is
/// the complete record for a create, or only the changed fields for an update.
pub fn validate(
    kind: Kind,
    op: Op<'_>,
    input: Fields,
    ctx: &Ctx,
    lk: &dyn Lookup,
) -> Result<Fields, ValidationError> {
    let mut given = Fields::new();
    for (name, v) in input {
        let Some(def) = kind.field(&name) else {
            return err(&name, format!("{kind} has no field '{name}'"));
        };
        given.insert(name, normalise_value(kind, def.name, def.ty, v, ctx, lk)?);
    }
    let (mut merged, self_id) = match &op {
        Op::Create => {
            let mut m = Fields::new();
            for def in kind.fields() {
                if let Some(d) = def.default {
                    m.insert(
                        def.name.to_string(),
                        normalise_value(kind, def.name, def.ty, Value::Str(d.into()), ctx, lk)?,
                    );
                }
            }
            (m, None)
        }
        Op::Update { id, existing } => (
            existing.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Some(*id),
        ),
    };
    fill_derived(kind, &mut given, &merged, ctx, lk)?;
    for (k, v) in &given {
        merged.insert(k.clone(), v.clone());
    }
    for def in kind.fields() {
        if def.required && merged.get(def.name).is_none_or(Value::is_null) {
            return err(def.name, "is required");
        }
    }
    rules(kind, self_id, &merged, &given, ctx, lk)?;
    Ok(match op {
        Op::Create => merged.into_iter().filter(|(_, v)| !v.is_null()).collect(),
        Op::Update { existing, .. } => given
            .into_iter()
            .filter(|(k, v)| existing.get(k) != Some(v))
            .collect(),
    })
}

/// Fields the node fills in when staff leave them out.
fn fill_derived(
    kind: Kind,
    given: &mut Fields,
    current: &Fields,
    ctx: &Ctx,
    lk: &dyn Lookup,
) -> Result<(), ValidationError> {
    let now = ctx.now.format("%Y-%m-%dT%H:%M").to_string();
    let absent = |g: &Fields, k: &str| {
        g.get(k).is_none_or(Value::is_null) && current.get(k).is_none_or(Value::is_null)
    };
    match kind {
        Kind::Booking => {
            if let Some(station) = given.get("station").and_then(Value::as_str) {
                if let Some(a) = lk.record(Kind::Asset, station) {
                    let branch = a.get("branch").cloned().unwrap_or(Value::Null);
                    match given.get("branch") {
                        Some(b) if !b.is_null() && *b != branch => {
                            return err(
                                "branch",
                                format!("station is at {}, not {}", branch.display(), b.display()),
                            )
                        }
                        _ => {
                            given.insert("branch".into(), branch);
                        }
                    }
                }
            }
        }
        Kind::Ticket => {
            if absent(given, "opened_at") {
                given.insert("opened_at".into(), Value::Str(now));
            }
            if absent(given, "branch") {
                if let Some(a) = given
                    .get("asset")
                    .and_then(Value::as_str)
                    .and_then(|a| lk.record(Kind::Asset, a))
                {
                    given.insert("branch".into(), a.get("branch").cloned().unwrap_or(Value::Null));
                }
            }
        }
        Kind::Retrieval if absent(given, "requested_at") => {
            given.insert("requested_at".into(), Value::Str(now));
        }
        _ => {}
    }
    Ok(())
}

fn s<'a>(f: &'a Fields, k: &str) -> Option<&'a str> {
    f.get(k).and_then(Value::as_str)
}
fn i(f: &Fields, k: &str) -> Option<i64> {
    f.get(k).and_then(Value::as_int)
}
fn b(f: &Fields, k: &str) -> bool {
    f.get(k).and_then(Value::as_bool).unwrap_or(false)
}

fn end_after_start(f: &Fields) -> Result<(NaiveDateTime, NaiveDateTime), ValidationError> {
    let start = s(f, "start")
        .and_then(parse_datetime)
        .ok_or(())
        .or_else(|_| err("start", "is required"))?;
    let end = s(f, "end")
        .and_then(parse_datetime)
        .ok_or(())
        .or_else(|_| err("end", "is required"))?;
    if end <= start {
        return err("end", "is before the start");
    }
    Ok((start, end))
}

fn non_negative(f: &Fields, names: &[&str]) -> Result<(), ValidationError> {
    for n in names {
        if i(f, n).is_some_and(|v| v < 0) {
            return err(n, "cannot be negative");
        }
    }
    Ok(())
}

/// The recurrence rules staff may write, as a step in days (months for monthly and longer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recurrence {
    Days(u32),
    Months(u32),
}

pub fn parse_rule(rule: &str) -> Option<Recurrence> {
    let r = rule.trim().to_ascii_lowercase();
    Some(match r.as_str() {
        "daily" => Recurrence::Days(1),
        "weekly" => Recurrence::Days(7),
        "monthly" => Recurrence::Months(1),
        "quarterly" => Recurrence::Months(3),
        "yearly" | "annually" => Recurrence::Months(12),
        _ => {
            let n: u32 = r
                .strip_prefix("every ")?
                .strip_suffix(" days")?
                .trim()
                .parse()
                .ok()?;
            if n == 0 || n > 3660 {
                return None;
            }
            Recurrence::Days(n)
        }
    })
}

pub fn next_due(rule: Recurrence, from: NaiveDate) -> Option<NaiveDate> {
    match rule {
        Recurrence::Days(n) => from.checked_add_days(chrono::Days::new(n.into())),
        Recurrence::Months(n) => from.checked_add_months(chrono::Months::new(n)),
    }
}

/// The booking policy of a branch, read from its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub hours: Hours,
    pub closures: Vec<NaiveDate>,
    pub session_minutes: i64,
    pub daily_cap_minutes: i64,
    pub express_minutes: i64,
    pub grace_minutes: i64,
    pub book_ahead_days: i64,
}

impl Policy {
    pub fn of(branch: &Fields) -> Policy {
        Policy {
            hours: s(branch, "hours")
                .and_then(|h| Hours::parse(h).ok())
                .unwrap_or_default(),
            closures: s(branch, "closures")
                .and_then(|c| parse_closures(c).ok())
                .unwrap_or_default(),
            session_minutes: i(branch, "session_minutes").unwrap_or(60),
            daily_cap_minutes: i(branch, "daily_cap_minutes").unwrap_or(120),
            express_minutes: i(branch, "express_minutes").unwrap_or(15),
            grace_minutes: i(branch, "grace_minutes").unwrap_or(10),
            book_ahead_days: i(branch, "book_ahead_days").unwrap_or(7),
        }
    }
}

pub fn branch_fields(lk: &dyn Lookup, code: &str) -> Option<Fields> {
    let id = lk.resolve(Kind::Branch, code).ok()??;
    lk.record(Kind::Branch, &id)
}

/// Bookings that hold a station at some time (not cancelled, not a no-show).
pub fn booking_is_active(f: &Fields) -> bool {
    !matches!(s(f, "status"), Some("cancelled") | Some("no-show"))
}

fn booking_rules(
    id: Option<&str>,
    f: &Fields,
    given: &Fields,
    ctx: &Ctx,
    lk: &dyn Lookup,
) -> Result<(), ValidationError> {
    let (start, end) = end_after_start(f)?;
    let station_id = s(f, "station").unwrap_or_default();
    let station = lk
        .record(Kind::Asset, station_id)
        .ok_or(())
        .or_else(|_| err("station", "unknown station"))?;
    if !b(&station, "bookable") {
        return err(
            "station",
            format!(
                "{} is not a bookable station",
                s(&station, "tag").unwrap_or(station_id)
            ),
        );
    }
    if matches!(
        s(&station, "status"),
        Some("retired") | Some("lost") | Some("in-repair")
    ) {
        return err(
            "station",
            format!(
                "{} is {}",
                s(&station, "tag").unwrap_or(station_id),
                s(&station, "status").unwrap_or("")
            ),
        );
    }
    let code = s(f, "branch").unwrap_or_default();
    let branch = branch_fields(lk, code)
        .ok_or(())
        .or_else(|_| err("branch", format!("unknown branch '{code}'")))?;
    let policy = Policy::of(&branch);
    if !booking_is_active(f) {
        return Ok(());
    }
    let timing_changed = id.is_none()
        || given.contains_key("start")
        || given.contains_key("end")
        || given.contains_key("status");
    if !timing_changed {
        return Ok(());
    }
    if start.date() != end.date() {
        return err("end", "a session ends on the day it starts");
    }
    let Some((open, close)) = policy.hours.on(start.date(), &policy.closures) else {
        return err("start", format!("{code} is closed on {}", start.date()));
    };
    if minute_of_day(&start) < open || minute_of_day(&end) > close {
        return err(
            "start",
            format!(
                "outside opening hours ({:02}:{:02}-{:02}:{:02})",
                open / 60,
                open % 60,
                close / 60,
                close % 60
            ),
        );
    }
    let length = (end - start).num_minutes();
    let max = if b(&station, "express") {
        policy.express_minutes
    } else {
        policy.session_minutes
    };
    if length > max {
        return err(
            "end",
            format!("session of {length} minutes is longer than the {max} minutes allowed"),
        );
    }
    if id.is_none() {
        let grace = chrono::Duration::minutes(policy.grace_minutes);
        if end <= ctx.now || start + grace < ctx.now {
            return err("start", "is in the past");
        }
        if (start.date() - ctx.now.date()).num_days() > policy.book_ahead_days {
            return err(
                "start",
                format!("bookings open only {} days ahead", policy.book_ahead_days),
            );
        }
    }
    let day = start.date().format("%Y-%m-%d").to_string();
    let patron = s(f, "patron").unwrap_or_default();
    let mut patron_minutes = length;
    for (other_id, o) in lk.bookings_on(code, &day) {
        if Some(other_id.as_str()) == id || !booking_is_active(&o) {
            continue;
        }
        let (Some(os), Some(oe)) = (
            s(&o, "start").and_then(parse_datetime),
            s(&o, "end").and_then(parse_datetime),
        ) else {
            continue;
        };
        let overlaps = os < end && start < oe;
        if overlaps && s(&o, "station") == Some(station_id) {
            return err(
                "start",
                format!(
                    "station is already booked {}-{}",
                    os.format("%H:%M"),
                    oe.format("%H:%M")
                ),
            );
        }
        if s(&o, "patron") == Some(patron) {
            if overlaps {
                return err("patron", "already has a booking at that time");
            }
            patron_minutes += (oe - os).num_minutes();
        }
    }
    if patron_minutes > policy.daily_cap_minutes {
        return err(
            "patron",
            format!(
                "would have {patron_minutes} minutes booked that day; the cap is {}",
                policy.daily_cap_minutes
            ),
        );
    }
    Ok(())
}

fn rules(
    kind: Kind,
    id: Option<&str>,
    f: &Fields,
    given: &Fields,
    ctx: &Ctx,
    lk: &dyn Lookup,
) -> Result<(), ValidationError> {
    match kind {
        Kind::Branch => {
            let code = s(f, "code").unwrap_or_default();
            if !crate::docid::is_branch_code(code) {
                return err("code", "must be 2-8 capital letters or digits");
            }
            if (id.is_none() || given.contains_key("code"))
                && lk
                    .find(Kind::Branch, "code", &Value::from(code))
                    .iter()
                    .any(|(o, _)| Some(o.as_str()) != id)
            {
                return err("code", format!("branch {code} already exists"));
            }
            if let Some(h) = s(f, "hours") {
                Hours::parse(h).or_else(|m| err("hours", m))?;
            }
            if let Some(c) = s(f, "closures") {
                parse_closures(c).or_else(|m| err("closures", m))?;
            }
            for n in [
                "session_minutes",
                "daily_cap_minutes",
                "express_minutes",
                "book_ahead_days",
            ] {
                if i(f, n).is_some_and(|v| v <= 0) {
                    return err(n, "must be more than 0");
                }
            }
            non_negative(f, &["grace_minutes"])?;
        }
        Kind::Staff => {
            if s(f, "email").is_some_and(|e| !e.contains('@')) {
                return err("email", "is not an email address");
            }
        }
        Kind::Asset => {
            let tag = s(f, "tag").unwrap_or_default();
            if (id.is_none() || given.contains_key("tag"))
                && lk
                    .find(Kind::Asset, "tag", &Value::from(tag))
                    .iter()
                    .any(|(o, _)| Some(o.as_str()) != id)
            {
                return err("tag", format!("asset tag {tag} is already used"));
            }
            non_negative(f, &["purchase_cost", "warranty_months"])?;
            if b(f, "bookable") && s(f, "category") != Some("public-pc") {
                return err("bookable", "only public PCs can be booked");
            }
        }
        Kind::Licence => non_negative(f, &["seats"])?,
        Kind::Seat => {
            let lic_id = s(f, "licence").unwrap_or_default();
            let lic = lk.record(Kind::Licence, lic_id).unwrap_or_default();
            if id.is_none() {
                if b(&lic, "retired") {
                    return err("licence", "is retired");
                }
                let used = lk
                    .find(Kind::Seat, "licence", &Value::from(lic_id))
                    .iter()
                    .filter(|(_, s)| !b(s, "retired"))
                    .count() as i64;
                let seats = i(&lic, "seats").unwrap_or(0);
                if used >= seats {
                    return err("licence", format!("all {seats} seats are assigned"));
                }
            }
        }
        Kind::StockItem => non_negative(f, &["reorder_level", "target_level", "unit_cost"])?,
        Kind::Movement => {
            let qty = i(f, "qty").unwrap_or(0);
            let mk = s(f, "kind").unwrap_or_default();
            if mk == "adjust" {
                if qty == 0 {
                    return err("qty", "an adjustment of 0 changes nothing");
                }
            } else if qty <= 0 {
                return err("qty", "must be more than 0");
            }
            if id.is_none() && matches!(mk, "issue" | "transfer-out") {
                let (item, branch) = (
                    s(f, "item").unwrap_or_default(),
                    s(f, "branch").unwrap_or_default(),
                );
                let level = lk.stock_level(item, branch);
                if qty > level {
                    return err("qty", format!("{branch} has only {level} in stock"));
                }
            }
        }
        Kind::Replacement => {
            if i(f, "qty").unwrap_or(0) <= 0 {
                return err("qty", "must be more than 0");
            }
        }
        Kind::Ticket => {
            non_negative(f, &["vendor_cost", "out_of_service_minutes"])?;
            let opened = s(f, "opened_at").unwrap_or_default();
            for n in ["first_response_at", "solved_at", "closed_at"] {
                if s(f, n).is_some_and(|t| t < opened) {
                    return err(n, "is before the ticket was opened");
                }
            }
        }
        Kind::Transfer => {
            match (s(f, "asset"), s(f, "item")) {
                (None, None) => return err("asset", "give an asset or a stock item"),
                (Some(_), Some(_)) => {
                    return err("item", "a transfer moves an asset or a stock item, not both")
                }
                (None, Some(_)) if i(f, "qty").unwrap_or(0) <= 0 => return err("qty", "must be more than 0"),
                _ => {}
            }
            if s(f, "from_branch") == s(f, "to_branch") {
                return err("to_branch", "is the branch it comes from");
            }
            if id.is_none() {
                if let Some(a) = s(f, "asset") {
                    let asset = lk.record(Kind::Asset, a).unwrap_or_default();
                    if s(&asset, "branch") != s(f, "from_branch") {
                        return err(
                            "from_branch",
                            format!("the asset is at {}", s(&asset, "branch").unwrap_or("?")),
                        );
                    }
                }
                if let (Some(item), Some(from)) = (s(f, "item"), s(f, "from_branch")) {
                    let level = lk.stock_level(item, from);
                    if i(f, "qty").unwrap_or(0) > level {
                        return err("qty", format!("{from} has only {level} in stock"));
                    }
                }
            }
        }
        Kind::Task => {
            if parse_rule(s(f, "rule").unwrap_or_default()).is_none() {
                return err(
                    "rule",
                    "use daily, weekly, monthly, quarterly, yearly or 'every N days'",
                );
            }
        }
        Kind::TaskRun => non_negative(f, &["size_mb"])?,
        Kind::Oncall | Kind::Training => {
            end_after_start(f)?;
            non_negative(f, &["attendees"])?;
        }
        Kind::Booking => booking_rules(id, f, given, ctx, lk)?,
        Kind::Usage => non_negative(
            f,
            &[
                "sessions",
                "minutes",
                "walkups",
                "bookings",
                "no_shows",
                "print_bw",
                "print_colour",
                "wifi_sessions",
                "microform_uses",
            ],
        )?,
        Kind::Retrieval => {
            if let (Some(a), Some(b)) = (s(f, "requested_at"), s(f, "fulfilled_at")) {
                if b < a {
                    return err("fulfilled_at", "is before the request");
                }
            }
        }
        Kind::Location | Kind::Device | Kind::Vendor | Kind::Page => {}
    }
    Ok(())
}
