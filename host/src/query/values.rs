//! Condition values written as text (all FetchXML gives, and what JSON gives for most types), read as their
//! column's type.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use xrm_model::{Uuid, Value};

use crate::org::ColumnType;

/// FetchXML's text of a value as its column's type (the engine reads JSON text the same way): numbers,
/// decimal text for money and decimals, dates, GUIDs (braces or not) for ids and lookups, choice numbers,
/// booleans as 0, 1, true or false. `None` when the text is not of that type.
pub fn parse_value(ty: &ColumnType, text: &str) -> Option<Value> {
    use ColumnType as T;
    let t = text.trim();
    Some(match ty {
        T::String | T::Memo => Value::Text(text.to_owned()),
        T::Integer => Value::Integer(t.parse().ok()?),
        T::BigInt => Value::BigInt(t.parse().ok()?),
        // `inf`, `NaN` and `1e999` parse as f64 but are no value a column (or JSON) holds.
        T::Double => Value::Double(t.parse().ok().filter(|d: &f64| d.is_finite())?),
        T::Decimal => Value::Decimal(decimal(t)?),
        T::Money => Value::Money(decimal(t)?),
        T::DateTime => Value::DateTime(datetime(t)?),
        T::Uniqueidentifier | T::Lookup(_) => Value::Guid(Uuid::parse_str(t).ok()?),
        T::Picklist | T::MultiSelectPicklist => Value::Choice(t.parse().ok()?),
        T::Boolean => Value::Boolean(match t.to_ascii_lowercase().as_str() {
            "1" | "true" => true,
            "0" | "false" => false,
            _ => return None,
        }),
        // A party list is no value a condition compares (the platform queries `activityparty` instead).
        T::PartyList(_) => return None,
    })
}

/// The type [`parse_value`] wants, for messages.
pub fn type_name(ty: &ColumnType) -> &'static str {
    use ColumnType as T;
    match ty {
        T::String | T::Memo => "String",
        T::Integer => "Integer",
        T::BigInt => "BigInt",
        T::Double => "Double",
        T::Decimal => "Decimal",
        T::Money => "Money",
        T::DateTime => "DateTime",
        T::Uniqueidentifier | T::Lookup(_) => "Uniqueidentifier",
        T::Picklist | T::MultiSelectPicklist => "Picklist",
        T::Boolean => "Boolean (0, 1, true or false)",
        T::PartyList(_) => "nothing: a party list is not compared (query activityparty)",
    }
}

fn decimal(text: &str) -> Option<String> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (is_digits(whole) && is_digits(frac)).then(|| text.to_owned())
}

/// RFC 3339; a date and time without a zone (read as UTC); a date alone (its midnight, UTC). Years outside
/// 0000..=9999 (`+10000-01-01`) are refused: RFC 3339, the JSON form of dates, cannot write them.
fn datetime(text: &str) -> Option<DateTime<Utc>> {
    let naive = |format| NaiveDateTime::parse_from_str(text, format).ok().map(|t| t.and_utc());
    xrm_model::json::parse_datetime(text)
        .or_else(|| naive("%Y-%m-%dT%H:%M:%S%.f"))
        .or_else(|| naive("%Y-%m-%d %H:%M:%S%.f"))
        .or_else(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?.and_hms_opt(0, 0, 0).map(|t| t.and_utc()))
        .filter(xrm_model::json::is_writable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_values_are_read_as_their_column_type() {
        use ColumnType as T;
        let at = |text: &str| DateTime::parse_from_rfc3339(text).map(|t| Value::DateTime(t.to_utc())).ok();
        let g = Uuid::from_u128(1);
        for (ty, text, expected) in [
            (T::Integer, "42", Some(Value::Integer(42))),
            (T::Integer, "4.2", None),
            (T::Money, " 12.50 ", Some(Value::Money("12.50".into()))),
            (T::Decimal, "1e3", None),
            (T::DateTime, "2024-06-01", at("2024-06-01T00:00:00Z")),
            (T::DateTime, "2024-06-01T10:00:00", at("2024-06-01T10:00:00Z")),
            (T::DateTime, "2024-06-01T10:00:00+02:00", at("2024-06-01T08:00:00Z")),
            (T::Lookup(vec![]), "{00000000-0000-0000-0000-000000000001}", Some(Value::Guid(g))),
            (T::Uniqueidentifier, "nope", None),
            (T::Boolean, "1", Some(Value::Boolean(true))),
            (T::Boolean, "False", Some(Value::Boolean(false))),
            (T::Boolean, "yes", None),
            (T::Picklist, "2", Some(Value::Choice(2))),
            (T::String, " a ", Some(Value::from(" a "))),
        ] {
            assert_eq!(parse_value(&ty, text), expected, "{text:?} as {ty:?}");
        }
    }
}
