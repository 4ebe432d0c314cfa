//! Human tables and JSON output.

use branchline_core::doc::Record;
use branchline_core::schema::{FieldType, Kind};
use branchline_core::validate::format_money;
use branchline_core::Value;
use std::collections::HashMap;

/// Print rows as an aligned table with a header.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count().min(48));
            }
        }
    }
    let line = |cells: Vec<String>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let w = widths.get(i).copied().unwrap_or(0);
                let c: String = if c.chars().count() > 48 {
                    c.chars().take(47).chain(['…']).collect()
                } else {
                    c.clone()
                };
                format!("{c:<w$}")
            })
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_uppercase()).collect());
    for r in rows {
        line(r.clone());
    }
}

/// A field's value for people: money as 12.50, references by name where known.
pub fn show_value(kind: Kind, field: &str, v: &Value, names: &HashMap<String, String>) -> String {
    match (kind.field(field).map(|f| f.ty), v) {
        (Some(FieldType::Money), Value::Int(c)) => format_money(*c),
        (Some(FieldType::Ref(_)), Value::Str(id)) => names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.chars().take(8).collect()),
        (_, Value::Int(ms)) if field.ends_with("_at") && field.starts_with(['c', 'u']) => {
            chrono::DateTime::from_timestamp_millis(*ms)
                .map(|t| {
                    t.with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M")
                        .to_string()
                })
                .unwrap_or_default()
        }
        _ => v.display(),
    }
}

pub fn records(kind: Kind, list: &[Record], names: &HashMap<String, String>) {
    let cols = kind.list_columns();
    let mut headers = vec!["id"];
    headers.extend(cols.iter().copied());
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|r| {
            let mut row = vec![r.id.chars().take(8).collect()];
            row.extend(cols.iter().map(|c| {
                r.get(c)
                    .map(|v| show_value(kind, c, v, names))
                    .unwrap_or_default()
            }));
            row
        })
        .collect();
    table(&headers, &rows);
    println!(
        "{} {}",
        list.len(),
        if list.len() == 1 { "record" } else { "records" }
    );
}

pub fn record(r: &Record, names: &HashMap<String, String>) {
    println!("{} {}", r.kind, r.id);
    let width = r.fields.keys().map(|k| k.len()).max().unwrap_or(0);
    for def in r.kind.fields() {
        if let Some(v) = r.get(def.name) {
            println!(
                "  {:<width$}  {}",
                def.name,
                show_value(r.kind, def.name, v, names)
            );
        }
    }
    for meta in branchline_core::schema::META_FIELDS {
        if let Some(v) = r.get(meta) {
            if !v.is_null() {
                println!("  {:<width$}  {}", meta, show_value(r.kind, meta, v, names));
            }
        }
    }
    if !r.work.is_empty() {
        println!("  work log:");
        for e in &r.work {
            let who = e
                .get("staff")
                .and_then(Value::as_str)
                .map(|s| names.get(s).cloned().unwrap_or_else(|| s.to_string()));
            println!(
                "    {}  {:>4} min  {}{}",
                e.get("at").map(Value::display).unwrap_or_default(),
                e.get("minutes").map(Value::display).unwrap_or_default(),
                e.get("text").map(Value::display).unwrap_or_default(),
                who.map(|w| format!("  ({w})")).unwrap_or_default()
            );
        }
    }
}

pub fn json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub fn time_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| ms.to_string())
}
