//! Formatted values (QRY-7): the text the platform shows for a column's value, given with every record that
//! Retrieve and RetrieveMultiple return (`Entity.FormattedValues`).
//!
//! Choices and statuses give their labels (several choices joined by `; `), two options their label or
//! `Yes`/`No`, lookups the primary name of the record they point to, money its amount with the record's currency
//! symbol (`€2,500.50`; the base currency's for `_base` columns and for a record without a currency), dates and
//! times the date and time in the organization's time zone (`12/1/2026 9:00 AM`), whole numbers with thousands
//! separators (`1,000`), decimals and floating-point numbers with two places (`exchangerate` with ten). Text,
//! GUIDs and party lists have none.

use std::str::FromStr;

use chrono::{DateTime, FixedOffset, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use xrm_model::{Entity, EntityReference, Uuid, Value};

use crate::org::{ColumnType, Organization, Table};
use crate::store::Store;

/// Places of an exchange rate's formatted value.
const RATE_PLACES: u32 = 10;
/// Places of a decimal or floating-point number's formatted value.
const NUMBER_PLACES: u32 = 2;

/// Formats the values of records read from a store.
pub struct Formatter<'a> {
    org: &'a Organization,
    store: &'a Store,
}

impl<'a> Formatter<'a> {
    pub fn new(org: &'a Organization, store: &'a Store) -> Self {
        Formatter { org, store }
    }

    /// Adds to `out` the formatted value of each column of `record` (a record of `table`) that `out` holds
    /// under `prefix` and the column's name (`prefix` is empty for the record's own columns, `alias.` for a
    /// linked record's).
    pub fn add(&self, table: &Table, record: &Entity, prefix: &str, out: &mut Entity) {
        // One buffer for the prefixed names: a linked record has dozens of columns and the page hundreds of rows.
        let mut key = String::from(prefix);
        for (column, value) in &record.attributes {
            key.truncate(prefix.len());
            key.push_str(column);
            if !out.attributes.contains_key(&key) {
                continue;
            }
            if let Some(text) = self.value(table, record, column, value) {
                out.formatted_values.insert(key.clone(), text);
            }
        }
    }

    /// The formatted value of `record`'s `column`, when its type has one.
    pub fn value(&self, table: &Table, record: &Entity, column: &str, value: &Value) -> Option<String> {
        let ty = table.columns.get(column)?;
        match (ty, value) {
            (ColumnType::Picklist, Value::Choice(n)) => self.label(table, column, *n),
            (ColumnType::MultiSelectPicklist, Value::Choices(ns)) => {
                let labels: Option<Vec<String>> = ns.iter().map(|n| self.label(table, column, *n)).collect();
                labels.map(|l| l.join("; "))
            }
            (ColumnType::Boolean, Value::Boolean(b)) => {
                let label = self.label(table, column, i32::from(*b));
                Some(label.unwrap_or_else(|| if *b { "Yes" } else { "No" }.to_owned()))
            }
            (ColumnType::Lookup(_), Value::Lookup(r)) => self.name_of(r),
            (ColumnType::Money, Value::Money(text)) => self.money(table, record, column, text),
            (ColumnType::Decimal, Value::Decimal(text)) => {
                let places = if column == "exchangerate" { RATE_PLACES } else { NUMBER_PLACES };
                number(Decimal::from_str(text).ok()?, places)
            }
            (ColumnType::Double, Value::Double(n)) => number(Decimal::from_f64_retain(*n)?, NUMBER_PLACES),
            (ColumnType::Integer | ColumnType::BigInt, Value::Integer(n)) => Some(grouped(&n.to_string())),
            (ColumnType::Integer | ColumnType::BigInt, Value::BigInt(n)) => Some(grouped(&n.to_string())),
            (ColumnType::DateTime, Value::DateTime(t)) => Some(date_time(*t, self.org.settings.time_zone)),
            _ => None,
        }
    }

    /// The label of a choice's option, from the table's metadata (its own options or its global choice's).
    fn label(&self, table: &Table, column: &str, value: i32) -> Option<String> {
        table.column_meta(column)?.label(value).map(str::to_owned)
    }

    /// The primary name of the record a lookup points to; the name the reference carries when the record or
    /// its table has none.
    fn name_of(&self, r: &EntityReference) -> Option<String> {
        let from_record = self.org.table(&r.logical_name).and_then(|table| {
            let column = table.primary_name.as_deref()?;
            match self.store.get(&table.logical_name, r.id)?.get(column)? {
                Value::Text(name) => Some(name.clone()),
                _ => None,
            }
        });
        from_record.or_else(|| r.name.clone())
    }

    /// An amount with its currency's symbol and precision: the record's currency, or the base currency for a
    /// `_base` column and for a record without one.
    fn money(&self, table: &Table, record: &Entity, column: &str, text: &str) -> Option<String> {
        let is_base = column.strip_suffix("_base").is_some_and(|m| table.columns.get(m) == Some(&ColumnType::Money));
        let currency = match record.get("transactioncurrencyid") {
            Some(Value::Lookup(r)) if !is_base => r.id,
            _ => self.org.base_currency,
        };
        let (symbol, places) = self.currency(currency);
        let amount = Decimal::from_str(text).ok()?;
        let digits = number(amount.abs(), places)?;
        Some(if amount.is_sign_negative() && !amount.is_zero() {
            format!("-{symbol}{digits}")
        } else {
            symbol + &digits
        })
    }

    /// A currency's symbol (its ISO code when it has none) and its precision (2 when not set).
    fn currency(&self, id: Uuid) -> (String, u32) {
        let record = self.store.get("transactioncurrency", id);
        let text = |column: &str| match record.and_then(|r| r.get(column)) {
            Some(Value::Text(s)) => Some(s.clone()),
            _ => None,
        };
        let symbol = text("currencysymbol").or_else(|| text("isocurrencycode")).unwrap_or_default();
        let places = match record.and_then(|r| r.get("currencyprecision")) {
            Some(Value::Integer(n)) => u32::try_from(*n).unwrap_or(2),
            _ => 2,
        };
        (symbol, places)
    }
}

/// A number rounded half away from zero to `places`, with thousands separators: `1,234.50`.
fn number(n: Decimal, places: u32) -> Option<String> {
    let rounded = n.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero);
    let text = format!("{rounded:.prec$}", prec = places as usize);
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (whole, fraction) = digits.split_once('.').map_or((digits, None), |(w, f)| (w, Some(f)));
    let mut out = format!("{sign}{}", grouped(whole));
    if let Some(f) = fraction {
        out.push('.');
        out.push_str(f);
    }
    Some(out)
}

/// Whole-number text with a comma every three digits: `-1,000`.
pub(super) fn grouped(text: &str) -> String {
    let (sign, digits) = text.strip_prefix('-').map_or(("", text), |d| ("-", d));
    let mut out = String::with_capacity(text.len() + digits.len() / 3);
    out.push_str(sign);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A date and time in the time zone, as the platform's en-US format writes it: `12/1/2026 9:00 AM`.
fn date_time(t: DateTime<Utc>, zone: FixedOffset) -> String {
    t.with_timezone(&zone).format("%-m/%-d/%Y %-I:%M %p").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qry_7_numbers_are_grouped_and_rounded_half_away_from_zero() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(grouped("1000"), "1,000");
        assert_eq!(grouped("-1234567"), "-1,234,567");
        assert_eq!(grouped("100"), "100");
        assert_eq!(number(d("2500.5"), 2).unwrap(), "2,500.50");
        assert_eq!(number(d("-0.125"), 2).unwrap(), "-0.13");
        assert_eq!(number(d("0.92"), 10).unwrap(), "0.9200000000");
        assert_eq!(number(d("999999.999"), 2).unwrap(), "1,000,000.00");
        assert_eq!(number(d("12"), 0).unwrap(), "12");
    }

    #[test]
    fn qry_7_dates_are_written_in_the_time_zone() {
        let t = xrm_model::json::parse_datetime("2026-12-01T09:00:00Z").unwrap();
        assert_eq!(date_time(t, FixedOffset::east_opt(0).unwrap()), "12/1/2026 9:00 AM");
        assert_eq!(date_time(t, FixedOffset::east_opt(5 * 3600).unwrap()), "12/1/2026 2:00 PM");
        assert_eq!(date_time(t, FixedOffset::west_opt(10 * 3600).unwrap()), "11/30/2026 11:00 PM");
        let midnight = xrm_model::json::parse_datetime("2026-01-05T00:05:00Z").unwrap();
        assert_eq!(date_time(midnight, FixedOffset::east_opt(0).unwrap()), "1/5/2026 12:05 AM");
    }
}
