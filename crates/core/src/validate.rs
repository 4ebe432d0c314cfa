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
    // Free text keeps its line breaks and indentation; one-line values are trimmed.
    let multiline = matches!(name, "text" | "description" | "notes" | "resolution");
    let text = match &v {
        Value::Str(s) if multiline => s.clone(),
        Value::Str(s) => s.trim().to_string(),
        other => other.display(),
    };
    if multiline && text.trim().is_empty() {
        return Ok(Value::Null);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::fields;
    use std::collections::BTreeMap;

    /// An in-memory `Lookup` over a handful of records.
    #[derive(Default)]
    struct Fake {
        records: BTreeMap<String, (Kind, Fields)>,
        levels: BTreeMap<(String, String), i64>,
    }

    impl Fake {
        fn with(mut self, kind: Kind, id: &str, f: Fields) -> Self {
            self.records.insert(id.to_string(), (kind, f));
            self
        }
    }

    impl Lookup for Fake {
        fn record(&self, kind: Kind, id: &str) -> Option<Fields> {
            self.records
                .get(id)
                .filter(|(k, _)| *k == kind)
                .map(|(_, f)| f.clone())
        }
        fn resolve(&self, kind: Kind, key: &str) -> Result<Option<String>, String> {
            if self.records.get(key).is_some_and(|(k, _)| *k == kind) {
                return Ok(Some(key.to_string()));
            }
            let nk = kind.natural_key().unwrap_or("");
            Ok(self
                .records
                .iter()
                .find(|(_, (k, f))| *k == kind && f.get(nk).and_then(Value::as_str) == Some(key))
                .map(|(id, _)| id.clone()))
        }
        fn find(&self, kind: Kind, field: &str, value: &Value) -> Vec<(String, Fields)> {
            self.records
                .iter()
                .filter(|(_, (k, f))| *k == kind && f.get(field) == Some(value))
                .map(|(id, (_, f))| (id.clone(), f.clone()))
                .collect()
        }
        fn stock_level(&self, item: &str, branch: &str) -> i64 {
            self.levels
                .get(&(item.to_string(), branch.to_string()))
                .copied()
                .unwrap_or(0)
        }
        fn bookings_on(&self, branch: &str, date: &str) -> Vec<(String, Fields)> {
            self.find(Kind::Booking, "branch", &Value::from(branch))
                .into_iter()
                .filter(|(_, f)| {
                    f.get("start")
                        .and_then(Value::as_str)
                        .is_some_and(|s| s.starts_with(date))
                })
                .collect()
        }
    }

    fn world() -> Fake {
        let branch = fields([
            ("code", "CEN".into()),
            ("name", "Central".into()),
            ("hours", "Mon-Fri 09:00-20:00; Sat 10:00-17:00; Sun closed".into()),
            ("closures", "2026-12-25".into()),
            ("session_minutes", 60.into()),
            ("daily_cap_minutes", 120.into()),
            ("express_minutes", 15.into()),
            ("grace_minutes", 10.into()),
            ("book_ahead_days", 7.into()),
        ]);
        let station = |tag: &str, express: bool| {
            fields([
                ("tag", tag.into()),
                ("name", "Public PC".into()),
                ("category", "public-pc".into()),
                ("branch", "CEN".into()),
                ("bookable", true.into()),
                ("express", express.into()),
                ("status", "deployed".into()),
            ])
        };
        let mut f = Fake::default()
            .with(Kind::Branch, "b-cen", branch)
            .with(Kind::Asset, "s1", station("PC1", false))
            .with(Kind::Asset, "s2", station("PC2", false))
            .with(Kind::Asset, "x1", station("EXP1", true))
            .with(
                Kind::Asset,
                "p1",
                fields([
                    ("tag", "PR1".into()),
                    ("category", "printer".into()),
                    ("branch", "CEN".into()),
                ]),
            )
            .with(Kind::StockItem, "toner", fields([("name", "Toner".into())]))
            .with(
                Kind::Licence,
                "lic",
                fields([("product", "Office".into()), ("seats", 1.into())]),
            );
        f.levels.insert(("toner".into(), "CEN".into()), 3);
        f
    }

    fn ctx() -> Ctx {
        // Monday 23 November 2026, 08:00.
        Ctx {
            now: parse_datetime("2026-11-23T08:00").unwrap_or_default(),
            system_id: "sys".into(),
        }
    }

    fn book(
        lk: &Fake,
        station: &str,
        patron: &str,
        start: &str,
        end: &str,
    ) -> Result<Fields, ValidationError> {
        let input = fields([
            ("station", station.into()),
            ("patron", patron.into()),
            ("start", start.into()),
            ("end", end.into()),
        ]);
        validate(Kind::Booking, Op::Create, input, &ctx(), lk)
    }

    fn field_of(r: Result<Fields, ValidationError>) -> String {
        r.err().map(|e| e.field).unwrap_or_else(|| "accepted".into())
    }

    #[test]
    fn a_booking_fills_its_branch_and_hashes_the_patron() {
        let f = book(
            &world(),
            "PC1",
            "21234567890",
            "2026-11-23T10:00",
            "2026-11-23T11:00",
        )
        .unwrap();
        assert_eq!(f["branch"], Value::from("CEN"));
        assert_eq!(f["station"], Value::from("s1"));
        let p = f["patron"].as_str().unwrap();
        assert!(p.starts_with("p:") && !p.contains("1234"), "{p}");
        assert_eq!(f["status"], Value::from("booked"));
    }

    #[test]
    fn booking_rules_name_their_field() {
        let w = world();
        assert_eq!(
            field_of(book(&w, "PC1", "1", "2026-11-23T11:00", "2026-11-23T10:00")),
            "end"
        );
        assert_eq!(
            field_of(book(&w, "PC1", "1", "2026-11-23T08:00", "2026-11-23T09:00")),
            "start",
            "before opening"
        );
        assert_eq!(
            field_of(book(&w, "PC1", "1", "2026-11-23T19:30", "2026-11-23T20:30")),
            "start",
            "after closing"
        );
        assert_eq!(
            field_of(book(&w, "PC1", "1", "2026-11-29T10:00", "2026-11-29T11:00")),
            "start",
            "Sunday closed"
        );
        assert_eq!(
            field_of(book(&w, "PC1", "1", "2026-11-23T10:00", "2026-11-23T11:30")),
            "end",
            "over 60 minutes"
        );
        assert_eq!(
            field_of(book(&w, "EXP1", "1", "2026-11-23T10:00", "2026-11-23T10:30")),
            "end",
            "express is 15"
        );
        assert_eq!(
            field_of(book(&w, "EXP1", "1", "2026-11-23T10:00", "2026-11-23T10:15")),
            "accepted"
        );
        assert_eq!(
            field_of(book(&w, "PC1", "1", "2026-12-03T10:00", "2026-12-03T11:00")),
            "start",
            "beyond 7 days"
        );
        assert_eq!(
            field_of(book(&w, "PR1", "1", "2026-11-23T10:00", "2026-11-23T11:00")),
            "station",
            "a printer"
        );
        assert_eq!(
            field_of(book(&w, "NOPE", "1", "2026-11-23T10:00", "2026-11-23T11:00")),
            "station"
        );
        assert_eq!(
            field_of(book(
                &w,
                "PC1",
                "not a card!",
                "2026-11-23T10:00",
                "2026-11-23T11:00"
            )),
            "patron"
        );
        let mut past = ctx();
        past.now = parse_datetime("2026-11-23T12:00").unwrap_or_default();
        let input = fields([
            ("station", "PC1".into()),
            ("patron", "1".into()),
            ("start", "2026-11-23T10:00".into()),
            ("end", "2026-11-23T11:00".into()),
        ]);
        assert_eq!(
            field_of(validate(Kind::Booking, Op::Create, input, &past, &w)),
            "start",
            "in the past"
        );
    }

    #[test]
    fn closures_close_the_branch_for_bookings() {
        let mut w = world();
        if let Some((_, b)) = w.records.get_mut("b-cen") {
            b.insert("closures".into(), "2026-11-24".into());
        }
        assert_eq!(
            field_of(book(&w, "PC1", "1", "2026-11-24T10:00", "2026-11-24T11:00")),
            "start"
        );
    }

    #[test]
    fn double_booking_and_daily_cap_are_refused_locally() {
        let mut w = world();
        let first = book(&w, "PC1", "555", "2026-11-23T10:00", "2026-11-23T11:00").unwrap();
        w = w.with(Kind::Booking, "bk1", first);
        assert_eq!(
            field_of(book(&w, "PC1", "777", "2026-11-23T10:30", "2026-11-23T11:30")),
            "start"
        );
        assert_eq!(
            field_of(book(&w, "PC2", "555", "2026-11-23T10:30", "2026-11-23T11:00")),
            "patron",
            "same patron, same time"
        );
        let second = book(&w, "PC2", "555", "2026-11-23T12:00", "2026-11-23T13:00").unwrap();
        w = w.with(Kind::Booking, "bk2", second);
        assert_eq!(
            field_of(book(&w, "PC2", "555", "2026-11-23T14:00", "2026-11-23T14:30")),
            "patron",
            "over the 120-minute cap"
        );
        // A cancelled booking frees its slot.
        if let Some((_, b)) = w.records.get_mut("bk1") {
            b.insert("status".into(), "cancelled".into());
        }
        assert_eq!(
            field_of(book(&w, "PC1", "777", "2026-11-23T10:30", "2026-11-23T11:30")),
            "accepted"
        );
    }

    #[test]
    fn unknown_branch_duplicate_tag_and_bad_values() {
        let w = world();
        let asset = |tag: &str, branch: &str| {
            fields([
                ("tag", tag.into()),
                ("name", "PC".into()),
                ("category", "staff-pc".into()),
                ("branch", branch.into()),
            ])
        };
        let v = |f| validate(Kind::Asset, Op::Create, f, &ctx(), &w);
        assert_eq!(field_of(v(asset("NEW", "ZZZ"))), "branch");
        assert_eq!(field_of(v(asset("PC1", "CEN"))), "tag");
        assert_eq!(
            field_of(v(asset("NEW", "cen"))),
            "accepted",
            "codes are case-insensitive"
        );
        let mut bad = asset("NEW", "CEN");
        bad.insert("purchase_cost".into(), "12.345".into());
        assert_eq!(field_of(v(bad)), "purchase_cost");
        let mut bad = asset("NEW", "CEN");
        bad.insert("category".into(), "toaster".into());
        assert_eq!(field_of(v(bad)), "category");
        let mut bad = asset("NEW", "CEN");
        bad.insert("colour".into(), "red".into());
        assert_eq!(field_of(v(bad)), "colour");
        let mut bad = asset("NEW", "CEN");
        bad.remove("name");
        assert_eq!(field_of(v(bad)), "name");
        let ok = v(asset("NEW", "CEN")).unwrap();
        assert_eq!(ok["status"], Value::from("in-stock"), "defaults fill in");
    }

    #[test]
    fn updates_return_only_what_changed_and_keep_tags_unique() {
        let w = world();
        let existing = w.record(Kind::Asset, "s1").unwrap();
        let up = |f| {
            validate(
                Kind::Asset,
                Op::Update {
                    id: "s1",
                    existing: &existing,
                },
                f,
                &ctx(),
                &w,
            )
        };
        let changed = up(fields([("status", "in-repair".into()), ("tag", "PC1".into())])).unwrap();
        assert_eq!(changed, fields([("status", "in-repair".into())]));
        assert_eq!(field_of(up(fields([("tag", "PC2".into())]))), "tag");
    }

    #[test]
    fn stock_cannot_be_issued_beyond_the_level() {
        let w = world();
        let mv = |kind: &str, qty: i64| {
            validate(
                Kind::Movement,
                Op::Create,
                fields([
                    ("item", "Toner".into()),
                    ("branch", "CEN".into()),
                    ("kind", kind.into()),
                    ("qty", qty.into()),
                ]),
                &ctx(),
                &w,
            )
        };
        assert_eq!(field_of(mv("issue", 3)), "accepted");
        assert_eq!(field_of(mv("issue", 4)), "qty");
        assert_eq!(field_of(mv("transfer-out", 4)), "qty");
        assert_eq!(field_of(mv("receive", 0)), "qty");
        assert_eq!(field_of(mv("adjust", -2)), "accepted");
        assert_eq!(field_of(mv("adjust", 0)), "qty");
    }

    #[test]
    fn schedules_transfers_seats_and_tickets() {
        let w = world();
        let v = |k, f| validate(k, Op::Create, f, &ctx(), &w);
        let shift = |s: &str, e: &str| {
            fields([
                ("staff", "nobody".into()),
                ("branches", "CEN".into()),
                ("start", s.into()),
                ("end", e.into()),
            ])
        };
        assert_eq!(
            field_of(v(Kind::Oncall, shift("2026-11-23T08:00", "2026-11-24T08:00"))),
            "staff"
        );
        let training = |s: &str, e: &str| {
            fields([
                ("title", "T".into()),
                ("branch", "CEN".into()),
                ("start", s.into()),
                ("end", e.into()),
            ])
        };
        assert_eq!(
            field_of(v(
                Kind::Training,
                training("2026-11-23T10:00", "2026-11-23T09:00")
            )),
            "end"
        );
        assert_eq!(
            field_of(v(
                Kind::Training,
                training("2026-11-23 09:00", "2026-11-23T10:00")
            )),
            "accepted"
        );
        let task = |rule: &str| {
            fields([
                ("title", "Backup".into()),
                ("kind", "backup".into()),
                ("rule", rule.into()),
                ("next_due", "2026-11-23".into()),
            ])
        };
        assert_eq!(field_of(v(Kind::Task, task("every 3 days"))), "accepted");
        assert_eq!(field_of(v(Kind::Task, task("sometimes"))), "rule");
        let transfer = |to: &str| {
            fields([
                ("asset", "PC1".into()),
                ("from_branch", "CEN".into()),
                ("to_branch", to.into()),
            ])
        };
        assert_eq!(field_of(v(Kind::Transfer, transfer("CEN"))), "to_branch");
        let none = fields([("from_branch", "CEN".into()), ("to_branch", "CEN".into())]);
        assert_eq!(field_of(v(Kind::Transfer, none)), "asset");
        let seat = fields([("licence", "Office".into()), ("asset", "PC1".into())]);
        assert_eq!(field_of(v(Kind::Seat, seat.clone())), "accepted");
        let full = Fake::default()
            .with(
                Kind::Licence,
                "lic",
                fields([("product", "Office".into()), ("seats", 1.into())]),
            )
            .with(Kind::Asset, "s1", fields([("tag", "PC1".into())]))
            .with(
                Kind::Seat,
                "seat1",
                fields([("licence", "lic".into()), ("asset", "s1".into())]),
            );
        assert_eq!(
            field_of(validate(Kind::Seat, Op::Create, seat, &ctx(), &full)),
            "licence"
        );
        let ticket = fields([
            ("asset", "PR1".into()),
            ("category", "printer".into()),
            ("summary", "jam".into()),
        ]);
        let t = v(Kind::Ticket, ticket).unwrap();
        assert_eq!(
            t["branch"],
            Value::from("CEN"),
            "the ticket takes the asset's branch"
        );
        assert_eq!(t["opened_at"], Value::from("2026-11-23T08:00"));
    }

    #[test]
    fn money_dates_and_recurrence() {
        assert_eq!(parse_money("12.5"), Some(1250));
        assert_eq!(parse_money("$1,299.99"), Some(129999));
        assert_eq!(parse_money("-3"), None);
        assert_eq!(parse_money("1.234"), None);
        assert_eq!(format_money(129999), "1299.99");
        assert_eq!(
            normalise_datetime("2026-11-23 09:05:00").as_deref(),
            Some("2026-11-23T09:05")
        );
        assert_eq!(normalise_datetime("23/11/2026"), None);
        let d = chrono::NaiveDate::from_ymd_opt(2026, 1, 31).unwrap_or_default();
        assert_eq!(
            next_due(Recurrence::Months(1), d),
            chrono::NaiveDate::from_ymd_opt(2026, 2, 28)
        );
        assert_eq!(parse_rule("Every 14 days"), Some(Recurrence::Days(14)));
        assert_eq!(parse_rule("every 0 days"), None);
        assert_eq!(patron_ref("s", "G-12ab"), Ok("G-12AB".into()));
        assert_eq!(patron_ref("s", "123"), patron_ref("s", "card:123"));
        assert_ne!(
            patron_ref("s", "123"),
            patron_ref("t", "123"),
            "salted per library system"
        );
    }
}
