//! Opening hours, as staff write them: "Mon-Fri 09:00-20:00; Sat 10:00-17:00; Sun closed".

use chrono::{Datelike, NaiveDate, NaiveDateTime};

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Open interval per weekday (Monday first), in minutes after midnight.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hours {
    pub days: [Option<(u32, u32)>; 7],
}

fn day_index(s: &str) -> Option<usize> {
    let s = s.trim().to_ascii_lowercase();
    DAYS.iter().position(|d| s.starts_with(d) && s.len() <= 9)
}

fn minutes(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

impl Hours {
    pub fn parse(s: &str) -> Result<Hours, String> {
        let mut hours = Hours::default();
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (days, times) = part
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("'{part}': expected days then times, e.g. 'Mon-Fri 09:00-17:00'"))?;
            let range = match days.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day_index(a), day_index(b));
                    match (a, b) {
                        (Some(a), Some(b)) if a <= b => a..=b,
                        _ => return Err(format!("'{days}': not a day range like Mon-Fri")),
                    }
                }
                None => {
                    let d = day_index(days).ok_or_else(|| format!("'{days}': not a day name"))?;
                    d..=d
                }
            };
            let interval = if times.trim().eq_ignore_ascii_case("closed") {
                None
            } else {
                let (a, b) = times
                    .split_once('-')
                    .ok_or_else(|| format!("'{times}': expected HH:MM-HH:MM or 'closed'"))?;
                let (a, b) = (
                    minutes(a).ok_or_else(|| format!("'{a}': not a time"))?,
                    minutes(b).ok_or_else(|| format!("'{b}': not a time"))?,
                );
                if a >= b {
                    return Err(format!("'{times}': closes before it opens"));
                }
                Some((a, b))
            };
            for d in range {
                hours.days[d] = interval;
            }
        }
        Ok(hours)
    }

    /// Opening interval on a date, honouring closures.
    pub fn on(&self, date: NaiveDate, closures: &[NaiveDate]) -> Option<(u32, u32)> {
        if closures.contains(&date) {
            return None;
        }
        self.days[date.weekday().num_days_from_monday() as usize]
    }

    /// Open minutes in a day (for utilisation reports).
    pub fn open_minutes(&self, date: NaiveDate, closures: &[NaiveDate]) -> u32 {
        self.on(date, closures).map(|(a, b)| b - a).unwrap_or(0)
    }
}

pub fn parse_closures(s: &str) -> Result<Vec<NaiveDate>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            NaiveDate::parse_from_str(p, "%Y-%m-%d").map_err(|_| format!("'{p}': not a date YYYY-MM-DD"))
        })
        .collect()
}

pub fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    // Stored times are always `YYYY-MM-DDTHH:MM`: read those by hand (conflict rules
    // parse every booking's times after each merge); anything else through chrono.
    let b = s.as_bytes();
    if b.len() == 16 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' {
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            b[r].iter().try_fold(0u32, |n, c| {
                c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
            })
        };
        if let (Some(y), Some(mo), Some(d), Some(h), Some(mi)) =
            (num(0..4), num(5..7), num(8..10), num(11..13), num(14..16))
        {
            return NaiveDate::from_ymd_opt(y as i32, mo, d)?.and_hms_opt(h, mi, 0);
        }
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").ok()
}

pub fn minute_of_day(t: &NaiveDateTime) -> u32 {
    use chrono::Timelike;
    t.hour() * 60 + t.minute()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_typical_hours() {
        let h = Hours::parse("Mon-Fri 09:00-20:00; Sat 10:00-17:00; Sun closed").unwrap_or_default();
        assert_eq!(h.days[0], Some((540, 1200)));
        assert_eq!(h.days[4], Some((540, 1200)));
        assert_eq!(h.days[5], Some((600, 1020)));
        assert_eq!(h.days[6], None);
    }

    #[test]
    fn refuses_nonsense() {
        assert!(Hours::parse("Fri-Mon 09:00-17:00").is_err());
        assert!(Hours::parse("Mon 17:00-09:00").is_err());
        assert!(Hours::parse("Mon 9-5").is_err());
        assert!(Hours::parse("Someday 09:00-10:00").is_err());
    }

    #[test]
    fn closures_close_the_day() {
        let h = Hours::parse("Mon-Sun 09:00-17:00").unwrap_or_default();
        let d = NaiveDate::from_ymd_opt(2026, 12, 25).unwrap_or_default();
        assert_eq!(h.on(d, &[]), Some((540, 1020)));
        assert_eq!(h.on(d, &[d]), None);
        assert_eq!(parse_closures("2026-12-25, 2026-12-26").map(|v| v.len()), Ok(2));
        assert!(parse_closures("25/12").is_err());
    }

    #[test]
    fn datetimes_read_by_hand_agree_with_chrono() {
        for s in [
            "2026-11-28T10:15",
            "2024-02-29T00:00",
            "2025-02-29T10:00",
            "2026-13-01T10:00",
            "2026-11-28T24:00",
            "2026-11-28T23:60",
            "2026-11-28 10:15",
            "2026-11-28T1015",
            "2026-1-28T10:15",
            "+026-11-28T10:15",
            "2026-11-28T10:15:00",
            "",
        ] {
            assert_eq!(
                parse_datetime(s),
                NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").ok(),
                "{s}"
            );
        }
    }
}
