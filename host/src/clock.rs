//! The case's clock: what "now" is for the `createdon` / `modifiedon` stamps, the execution context's
//! `OperationCreatedOn`, asynchronous jobs and every date operator of a query (QRY-2).
//!
//! A case starts at the organization's `settings.now` when it has one, else on the system clock. A suite moves
//! it: `{"clock": "2026-12-01T09:00:00Z"}` sets it (and stops it: a set clock stands still until it is moved
//! again), `{"advance": "P3D"}` moves it forward (or back, `-P1D`) by an ISO 8601 duration, a running clock too.

use chrono::{DateTime, Days, FixedOffset, Months, Offset, TimeDelta, Utc};

#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    /// The time the clock stands at, when it was set; else it runs with the system clock.
    fixed: Option<DateTime<Utc>>,
    /// How far `advance` moved a running clock from the system clock.
    offset: TimeDelta,
}

impl Clock {
    /// A clock standing at `at`, or running with the system clock.
    pub fn new(at: Option<DateTime<Utc>>) -> Clock {
        Clock { fixed: at, offset: TimeDelta::zero() }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.fixed.unwrap_or_else(Utc::now) + self.offset
    }

    /// Sets the clock to `at`, where it stands until moved.
    pub fn set(&mut self, at: DateTime<Utc>) {
        *self = Clock::new(Some(at));
    }

    /// Moves the clock by `period`; `Err` when the time would leave the dates a column can hold.
    pub fn advance(&mut self, period: &Period) -> Result<(), String> {
        let now = self.now();
        let then =
            period.after(now).ok_or_else(|| format!("moving the clock from {now} by that leaves the calendar"))?;
        match &mut self.fixed {
            Some(fixed) => *fixed = then,
            None => self.offset += then - now,
        }
        Ok(())
    }
}

/// An ISO 8601 duration (`P1Y2M3W4DT5H6M7.5S`, `-P1D` backwards): calendar months and days, then a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    back: bool,
    months: u32,
    days: u64,
    time: TimeDelta,
}

impl Period {
    /// Reads the text; `None` when it is not an ISO 8601 duration.
    pub fn parse(text: &str) -> Option<Period> {
        let (back, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let rest = rest.strip_prefix('P')?;
        let (date, time) = match rest.split_once('T') {
            Some((date, time)) if !time.is_empty() => (date, Some(time)),
            Some(_) => return None,
            None => (rest, None),
        };
        let mut period = Period { back, months: 0, days: 0, time: TimeDelta::zero() };
        let mut any = false;
        for (number, unit) in parts(date)? {
            let n: u32 = number.parse().ok()?;
            any = true;
            match unit {
                'Y' => period.months = period.months.checked_add(n.checked_mul(12)?)?,
                'M' => period.months = period.months.checked_add(n)?,
                'W' => period.days = period.days.checked_add(u64::from(n) * 7)?,
                'D' => period.days = period.days.checked_add(u64::from(n))?,
                _ => return None,
            }
        }
        for (number, unit) in parts(time.unwrap_or_default())? {
            let n: f64 = number.parse().ok().filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
            any = true;
            let seconds = match unit {
                'H' => n * 3600.0,
                'M' => n * 60.0,
                'S' => n,
                _ => return None,
            };
            // INVARIANT: a finite, non-negative number of seconds; `as` saturates a huge one, refused below.
            let millis = (seconds * 1000.0).round() as i64;
            period.time = period.time.checked_add(&TimeDelta::try_milliseconds(millis)?)?;
        }
        any.then_some(period)
    }

    /// `at` moved by the period: months first (clamped to the month's end, as .NET's `AddMonths`), then days,
    /// then the time; `None` past the calendar's ends.
    pub fn after(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let months = Months::new(self.months);
        let days = Days::new(self.days);
        let moved = match self.back {
            false => at.checked_add_months(months)?.checked_add_days(days)?.checked_add_signed(self.time)?,
            true => at.checked_sub_months(months)?.checked_sub_days(days)?.checked_sub_signed(self.time)?,
        };
        xrm_model::json::is_writable(&moved).then_some(moved)
    }
}

/// A time zone as an offset from UTC: `+02:00`, `-0530`, `Z` or `UTC`.
pub fn parse_offset(text: &str) -> Option<FixedOffset> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
        return Some(Utc.fix());
    }
    let (sign, rest) = match t.split_at_checked(1)? {
        ("+", rest) => (1, rest),
        ("-", rest) => (-1, rest),
        _ => return None,
    };
    let (hours, minutes) = rest.split_once(':').unwrap_or_else(|| rest.split_at(rest.len().min(2)));
    let (hours, minutes): (i32, i32) =
        (hours.parse().ok()?, if minutes.is_empty() { 0 } else { minutes.parse().ok()? });
    if hours > 14 || minutes > 59 || rest.starts_with('+') || rest.starts_with('-') {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

/// `3D4M` as (`3`, `D`), (`4`, `M`); `None` when a number has no unit.
fn parts(text: &str) -> Option<Vec<(&str, char)>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c.is_ascii_alphabetic() {
            let number = &text[start..i];
            if number.is_empty() {
                return None;
            }
            out.push((number, c));
            start = i + c.len_utf8();
        }
    }
    (start == text.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        xrm_model::json::parse_datetime(text).unwrap()
    }

    #[test]
    fn periods_read_as_iso_8601_durations() {
        let from = at("2026-01-31T10:00:00Z");
        for (text, expected) in [
            ("P3D", "2026-02-03T10:00:00Z"),
            ("P1M", "2026-02-28T10:00:00Z"),
            ("P1Y2M", "2027-03-31T10:00:00Z"),
            ("P2W", "2026-02-14T10:00:00Z"),
            ("PT90M", "2026-01-31T11:30:00Z"),
            ("PT1.5S", "2026-01-31T10:00:01.500Z"),
            ("P1DT2H", "2026-02-01T12:00:00Z"),
            ("-P1D", "2026-01-30T10:00:00Z"),
        ] {
            let period = Period::parse(text).unwrap_or_else(|| panic!("{text} reads"));
            assert_eq!(period.after(from), Some(at(expected)), "{text}");
        }
        for bad in ["", "P", "3D", "PT", "P1DT", "P1X", "PD", "P-1D", "P1.5D", "PT1H2", "P99999999999Y"] {
            assert_eq!(Period::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Period::parse("P9000Y").unwrap().after(from), None, "past year 9999");
    }

    #[test]
    fn a_set_clock_stands_still_and_moves_when_advanced() {
        let mut clock = Clock::new(Some(at("2026-12-01T09:00:00Z")));
        assert_eq!(clock.now(), at("2026-12-01T09:00:00Z"));
        clock.advance(&Period::parse("P3D").unwrap()).unwrap();
        assert_eq!(clock.now(), at("2026-12-04T09:00:00Z"));
        // A running clock moves by the same amount and keeps running.
        let mut running = Clock::new(None);
        running.advance(&Period::parse("P1D").unwrap()).unwrap();
        let ahead = running.now() - Utc::now();
        assert!(ahead > TimeDelta::hours(23) && ahead <= TimeDelta::hours(24), "{ahead}");
        clock.set(at("2030-01-01T00:00:00Z"));
        assert_eq!(clock.now(), at("2030-01-01T00:00:00Z"));
    }
}
