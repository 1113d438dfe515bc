//! Date operators (QRY-2): each becomes a span of instants, computed once per query from the case's clock and
//! the organization's time zone, so a row's check is two comparisons.
//!
//! Days begin at midnight in the organization's time zone (`settings.timeZone`, UTC by default) and weeks on
//! Sunday. "Last/next x days (weeks, months, years)" are whole days and include today; "last/next x hours"
//! and "older than x …" count from the clock's now.

use chrono::{DateTime, Datelike, Days, FixedOffset, Months, NaiveDate, TimeDelta, Utc};
use xrm_model::{ConditionOperator as Op, Value};

/// Instants from `from` (included) until `until` (excluded); an open end is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Span {
    pub(super) from: Option<DateTime<Utc>>,
    pub(super) until: Option<DateTime<Utc>>,
}

impl Span {
    pub(super) fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from.is_none_or(|from| t >= from) && self.until.is_none_or(|until| t < until)
    }
}

/// The clock and time zone date operators read.
#[derive(Debug, Clone, Copy)]
pub struct Calendar {
    pub now: DateTime<Utc>,
    pub zone: FixedOffset,
}

impl Calendar {
    fn today(&self) -> NaiveDate {
        self.now.with_timezone(&self.zone).date_naive()
    }

    /// Midnight of `day` in the zone, as an instant.
    fn start(&self, day: NaiveDate) -> Option<DateTime<Utc>> {
        let local = day.and_hms_opt(0, 0, 0)?;
        Some((local - TimeDelta::seconds(i64::from(self.zone.local_minus_utc()))).and_utc())
    }

    /// The days from `first` through `last`, both whole.
    fn days(&self, first: NaiveDate, last: NaiveDate) -> Option<Span> {
        Some(Span { from: Some(self.start(first)?), until: Some(self.start(last.succ_opt()?)?) })
    }

    /// The date a value names: a date as written, or a date and time's date in the zone.
    pub(super) fn date_of(&self, v: &Value) -> Option<NaiveDate> {
        match v {
            Value::Text(t) => NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d")
                .ok()
                .or_else(|| Some(xrm_model::json::parse_datetime(t.trim())?.with_timezone(&self.zone).date_naive())),
            Value::DateTime(t) => Some(t.with_timezone(&self.zone).date_naive()),
            _ => None,
        }
    }
}

/// Whether the operator is a date operator, and if so how many values it takes: a date (`on`), a count
/// (`last-x-days`), or none (`today`).
pub(super) fn arity(op: Op) -> Option<usize> {
    use Op::*;
    match op {
        On | OnOrBefore | OnOrAfter => Some(1),
        Yesterday | Today | Tomorrow | Last7Days | Next7Days | LastWeek | ThisWeek | NextWeek | LastMonth
        | ThisMonth | NextMonth | LastYear | ThisYear | NextYear => Some(0),
        LastXHours | NextXHours | LastXDays | NextXDays | LastXWeeks | NextXWeeks | LastXMonths | NextXMonths
        | LastXYears | NextXYears | OlderThanXMinutes | OlderThanXHours | OlderThanXDays | OlderThanXWeeks
        | OlderThanXMonths | OlderThanXYears => Some(1),
        _ => None,
    }
}

/// The span a date operator selects; `None` when the operator is no date operator, its value is not a date
/// or a whole number as it needs, or the span leaves the calendar.
pub(super) fn span(op: Op, value: Option<&Value>, cal: &Calendar) -> Option<Span> {
    use Op::*;
    let today = cal.today();
    let count = || -> Option<u32> {
        match value? {
            Value::Integer(n) => u32::try_from(*n).ok(),
            Value::BigInt(n) => u32::try_from(*n).ok(),
            Value::Text(t) => t.trim().parse().ok(),
            _ => None,
        }
    };
    let day = |n: i64| match n >= 0 {
        true => today.checked_add_days(Days::new(n.unsigned_abs())),
        false => today.checked_sub_days(Days::new(n.unsigned_abs())),
    };
    let week = today.checked_sub_days(Days::new(u64::from(today.weekday().num_days_from_sunday())))?;
    let month = today.with_day(1)?;
    let year = month.with_month(1)?;
    let months = |from: NaiveDate, n: i32| match n >= 0 {
        true => from.checked_add_months(Months::new(n.unsigned_abs())),
        false => from.checked_sub_months(Months::new(n.unsigned_abs())),
    };
    let whole = |first: NaiveDate, next: NaiveDate| cal.days(first, next.pred_opt()?);
    let before_now = |by: TimeDelta| Some(Span { from: None, until: Some(cal.now.checked_sub_signed(by)?) });
    let hours = |n: u32| TimeDelta::try_hours(i64::from(n));
    match op {
        On => cal.days(cal.date_of(value?)?, cal.date_of(value?)?),
        OnOrBefore => Some(Span { from: None, until: cal.start(cal.date_of(value?)?.succ_opt()?) }),
        OnOrAfter => Some(Span { from: cal.start(cal.date_of(value?)?), until: None }),
        Today => cal.days(today, today),
        Yesterday => cal.days(day(-1)?, day(-1)?),
        Tomorrow => cal.days(day(1)?, day(1)?),
        Last7Days => cal.days(day(-7)?, today),
        Next7Days => cal.days(today, day(7)?),
        LastXDays => cal.days(day(-i64::from(count()?))?, today),
        NextXDays => cal.days(today, day(i64::from(count()?))?),
        LastXWeeks => cal.days(day(-7 * i64::from(count()?))?, today),
        NextXWeeks => cal.days(today, day(7 * i64::from(count()?))?),
        LastXMonths => cal.days(months(today, -i32::try_from(count()?).ok()?)?, today),
        NextXMonths => cal.days(today, months(today, i32::try_from(count()?).ok()?)?),
        LastXYears => cal.days(months(today, -12 * i32::try_from(count()?).ok()?)?, today),
        NextXYears => cal.days(today, months(today, 12 * i32::try_from(count()?).ok()?)?),
        LastXHours => Some(Span {
            from: cal.now.checked_sub_signed(hours(count()?)?),
            until: cal.now.checked_add_signed(TimeDelta::nanoseconds(1)),
        }),
        NextXHours => Some(Span { from: Some(cal.now), until: cal.now.checked_add_signed(hours(count()?)?) }),
        ThisWeek => whole(week, week.checked_add_days(Days::new(7))?),
        LastWeek => whole(week.checked_sub_days(Days::new(7))?, week),
        NextWeek => whole(week.checked_add_days(Days::new(7))?, week.checked_add_days(Days::new(14))?),
        ThisMonth => whole(month, months(month, 1)?),
        LastMonth => whole(months(month, -1)?, month),
        NextMonth => whole(months(month, 1)?, months(month, 2)?),
        ThisYear => whole(year, months(year, 12)?),
        LastYear => whole(months(year, -12)?, year),
        NextYear => whole(months(year, 12)?, months(year, 24)?),
        OlderThanXMinutes => before_now(TimeDelta::try_minutes(i64::from(count()?))?),
        OlderThanXHours => before_now(hours(count()?)?),
        OlderThanXDays => before_now(TimeDelta::try_days(i64::from(count()?))?),
        OlderThanXWeeks => before_now(TimeDelta::try_weeks(i64::from(count()?))?),
        OlderThanXMonths => Some(Span { from: None, until: Some(cal.now.checked_sub_months(Months::new(count()?))?) }),
        OlderThanXYears => {
            Some(Span { from: None, until: Some(cal.now.checked_sub_months(Months::new(count()?.checked_mul(12)?))?) })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        xrm_model::json::parse_datetime(text).unwrap()
    }

    /// Wednesday 2026-12-02, 09:00 UTC.
    fn calendar(zone_hours: i32) -> Calendar {
        Calendar { now: at("2026-12-02T09:00:00Z"), zone: FixedOffset::east_opt(zone_hours * 3600).unwrap() }
    }

    fn span_of(op: Op, value: Option<Value>, zone: i32) -> (String, String) {
        let s = span(op, value.as_ref(), &calendar(zone)).unwrap();
        let text = |t: Option<DateTime<Utc>>| t.map_or("-".into(), |t| t.to_rfc3339());
        (text(s.from), text(s.until))
    }

    #[test]
    fn each_operator_selects_its_span() {
        let d = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        let z = "T00:00:00+00:00";
        let day = |s: &str| format!("{s}{z}");
        for (op, value, expected) in [
            (Op::Today, None, d(&day("2026-12-02"), &day("2026-12-03"))),
            (Op::Yesterday, None, d(&day("2026-12-01"), &day("2026-12-02"))),
            (Op::Tomorrow, None, d(&day("2026-12-03"), &day("2026-12-04"))),
            (Op::On, Some("2026-11-30".into()), d(&day("2026-11-30"), &day("2026-12-01"))),
            (Op::OnOrBefore, Some("2026-11-30".into()), d("-", &day("2026-12-01"))),
            (Op::OnOrAfter, Some("2026-11-30".into()), d(&day("2026-11-30"), "-")),
            (Op::ThisWeek, None, d(&day("2026-11-29"), &day("2026-12-06"))),
            (Op::LastWeek, None, d(&day("2026-11-22"), &day("2026-11-29"))),
            (Op::NextWeek, None, d(&day("2026-12-06"), &day("2026-12-13"))),
            (Op::ThisMonth, None, d(&day("2026-12-01"), &day("2027-01-01"))),
            (Op::LastMonth, None, d(&day("2026-11-01"), &day("2026-12-01"))),
            (Op::NextMonth, None, d(&day("2027-01-01"), &day("2027-02-01"))),
            (Op::ThisYear, None, d(&day("2026-01-01"), &day("2027-01-01"))),
            (Op::LastYear, None, d(&day("2025-01-01"), &day("2026-01-01"))),
            (Op::NextYear, None, d(&day("2027-01-01"), &day("2028-01-01"))),
            (Op::Last7Days, None, d(&day("2026-11-25"), &day("2026-12-03"))),
            (Op::Next7Days, None, d(&day("2026-12-02"), &day("2026-12-10"))),
            (Op::LastXDays, Some(3.into()), d(&day("2026-11-29"), &day("2026-12-03"))),
            (Op::NextXDays, Some("3".into()), d(&day("2026-12-02"), &day("2026-12-06"))),
            (Op::LastXMonths, Some(2.into()), d(&day("2026-10-02"), &day("2026-12-03"))),
            (Op::NextXYears, Some(1.into()), d(&day("2026-12-02"), &day("2027-12-03"))),
            (Op::LastXHours, Some(2.into()), d("2026-12-02T07:00:00+00:00", "2026-12-02T09:00:00.000000001+00:00")),
            (Op::NextXHours, Some(2.into()), d("2026-12-02T09:00:00+00:00", "2026-12-02T11:00:00+00:00")),
            (Op::OlderThanXMonths, Some(6.into()), d("-", "2026-06-02T09:00:00+00:00")),
            (Op::OlderThanXMinutes, Some(30.into()), d("-", "2026-12-02T08:30:00+00:00")),
        ] {
            assert_eq!(span_of(op, value, 0), expected, "{op:?}");
        }
    }

    #[test]
    fn days_begin_at_midnight_in_the_organization_time_zone() {
        // At 09:00 UTC it is already 2 December in UTC+10, and still 1 December... never: UTC-10 is 23:00 the
        // day before.
        assert_eq!(
            span_of(Op::Today, None, 10),
            ("2026-12-01T14:00:00+00:00".into(), "2026-12-02T14:00:00+00:00".into())
        );
        assert_eq!(
            span_of(Op::Today, None, -10),
            ("2026-12-01T10:00:00+00:00".into(), "2026-12-02T10:00:00+00:00".into())
        );
        let on = span(Op::On, Some(&Value::DateTime(at("2026-12-02T23:30:00Z"))), &calendar(2)).unwrap();
        assert!(on.contains(at("2026-12-03T10:00:00Z")), "a date and time names its date in the zone");
        assert_eq!(span(Op::LastXDays, Some(&"x".into()), &calendar(0)), None);
        assert_eq!(span(Op::LastXDays, Some(&Value::Integer(-1)), &calendar(0)), None);
    }
}
