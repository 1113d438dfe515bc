//! Currencies (CUR-1): the organization's transaction currencies and its base currency, the currency columns
//! of every table that has money, and the base-currency values computed on each write, as the platform does:
//! `<money>_base = <money> / exchangerate`.

use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value as Json;
use xrm_model::{Entity, EntityReference, Fault, Uuid, Value, codes};

use super::tables::{ColumnType, Table};
use crate::input::FileError;

/// A transaction currency of the organization file's `currencies`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Currency")]
pub(super) struct CurrencyFile {
    /// The name the file uses for the currency, such as `eur` (referenced as `@eur`).
    #[serde(rename = "@alias")]
    pub(super) alias: String,
    /// The currency's id (default: generated from the alias).
    #[serde(default)]
    transactioncurrencyid: Option<Uuid>,
    /// The ISO 4217 code, such as `EUR`.
    isocurrencycode: String,
    /// The currency's name, such as `Euro`.
    currencyname: String,
    /// The symbol, such as `€`.
    #[serde(default)]
    currencysymbol: Option<String>,
    /// Decimal places of amounts in this currency (default 2).
    #[serde(default = "two")]
    #[schemars(range(min = 0, max = 4))]
    currencyprecision: i32,
    /// Units of this currency worth one unit of the base currency, as a number or decimal text (the base
    /// currency's is 1).
    #[serde(default)]
    #[schemars(with = "Option<RateForm>")]
    exchangerate: Option<Json>,
    /// Whether this is the organization's base currency (exactly one currency is).
    #[serde(default)]
    base: bool,
}

/// An exchange rate: a number, or decimal text. Only its schema is used.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum RateForm {
    Number(f64),
    Text(String),
}

fn two() -> i32 {
    2
}

/// The alias of the base currency, whichever currency it is.
pub const BASE_ALIAS: &str = "basecurrency";

/// The base currency when the file declares none: US Dollar.
fn default_base() -> CurrencyFile {
    CurrencyFile {
        alias: "usd".into(),
        transactioncurrencyid: None,
        isocurrencycode: "USD".into(),
        currencyname: "US Dollar".into(),
        currencysymbol: Some("$".into()),
        currencyprecision: 2,
        exchangerate: None,
        base: true,
    }
}

/// The currency's id: given, or generated from its alias.
pub(super) fn id_of(currency: &CurrencyFile) -> Uuid {
    currency.transactioncurrencyid.unwrap_or_else(|| super::file::generated_id("transactioncurrency", &currency.alias))
}

/// The aliases the currencies bring, with where each is declared: each currency's own, and
/// [`BASE_ALIAS`] for the base currency. Without declared currencies, the default base currency's.
pub(super) fn aliases(declared: &[CurrencyFile]) -> Vec<(String, String, Uuid)> {
    let mut out: Vec<(String, String, Uuid)> = declared
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("currencies[{i}].@alias"), c.alias.clone(), id_of(c)))
        .collect();
    match declared.iter().position(|c| c.base) {
        Some(i) => out.push((format!("currencies[{i}].base"), BASE_ALIAS.into(), id_of(&declared[i]))),
        None if declared.is_empty() => out.push(("currencies".into(), BASE_ALIAS.into(), id_of(&default_base()))),
        None => {}
    }
    out
}

/// The currency records, and the base currency's id; exactly one currency is the base, at rate 1.
pub(super) fn records(path: &std::path::Path, declared: &[CurrencyFile]) -> Result<(Vec<Entity>, Uuid), FileError> {
    let defaults = [default_base()];
    let currencies = if declared.is_empty() { &defaults[..] } else { declared };
    let at = "currencies";
    let bases: Vec<usize> = currencies.iter().enumerate().filter(|(_, c)| c.base).map(|(i, _)| i).collect();
    let base = match bases.as_slice() {
        [one] => *one,
        [] => return Err(FileError::new(path, at, "one currency must be the base currency (`\"base\": true`)")),
        [_, second, ..] => {
            return Err(FileError::new(
                path,
                format!("{at}[{second}].base"),
                "only one currency can be the base currency",
            ));
        }
    };
    let mut rows = Vec::new();
    for (i, c) in currencies.iter().enumerate() {
        let rate_at = format!("{at}[{i}].exchangerate");
        let rate = match (&c.exchangerate, c.base) {
            (None, true) => Decimal::ONE,
            (Some(json), _) => rate(json).ok_or_else(|| {
                FileError::new(path, &rate_at, "expected a positive exchange rate, as a number or decimal text")
            })?,
            (None, false) => {
                return Err(FileError::new(path, &rate_at, "a currency other than the base needs its exchange rate"));
            }
        };
        if c.base && rate != Decimal::ONE {
            return Err(FileError::new(path, rate_at, "the base currency's exchange rate is 1"));
        }
        let mut row = Entity::with_id("transactioncurrency", id_of(c));
        row.set("currencyname", c.currencyname.clone())
            .set("isocurrencycode", c.isocurrencycode.clone())
            .set("exchangerate", Value::Decimal(rate.normalize().to_string()))
            .set("currencyprecision", c.currencyprecision);
        if let Some(symbol) = &c.currencysymbol {
            row.set("currencysymbol", symbol.clone());
        }
        rows.push(row);
    }
    Ok((rows, id_of(&currencies[base])))
}

fn rate(json: &Json) -> Option<Decimal> {
    let text = match json {
        Json::Number(n) => n.to_string(),
        Json::String(s) => s.clone(),
        _ => return None,
    };
    Decimal::from_str(text.trim()).ok().filter(|r| r.is_sign_positive() && !r.is_zero())
}

/// Gives a table that has money columns its currency columns: `transactioncurrencyid`, `exchangerate`, and
/// `<money>_base` for each money column.
pub(super) fn add_columns(table: &mut Table) {
    let money: Vec<String> = table
        .columns
        .iter()
        .filter(|(name, ty)| **ty == ColumnType::Money && !name.ends_with("_base"))
        .map(|(name, _)| name.clone())
        .collect();
    if money.is_empty() {
        return;
    }
    for name in money {
        table.columns.insert(format!("{name}_base"), ColumnType::Money);
    }
    table.columns.insert("transactioncurrencyid".into(), ColumnType::Lookup(vec!["transactioncurrency".into()]));
    table.columns.insert("exchangerate".into(), ColumnType::Decimal);
}

/// Whether the table has money columns (and so the currency columns).
pub fn has_money(table: &Table) -> bool {
    table.columns.values().any(|ty| *ty == ColumnType::Money)
}

impl Table {
    /// Stamps the currency of a write to a money table (CUR-1): `changes` is a Create's record (`current`
    /// none) or an Update's changes. A new record takes `base` unless it names its currency; whenever the
    /// currency or a money value is written, `exchangerate` is the currency's rate now (`rate_of`) and each
    /// `<money>_base` is the amount divided by it, to four decimal places. What a caller writes to
    /// `exchangerate` or a `_base` column is replaced.
    pub fn stamp_currency(
        &self,
        base: Uuid,
        rate_of: &dyn Fn(Uuid) -> Option<Decimal>,
        current: Option<&Entity>,
        changes: &mut Entity,
    ) -> Result<(), Fault> {
        if !has_money(self) {
            return Ok(());
        }
        let money: Vec<&String> = self
            .columns
            .iter()
            .filter(|(name, ty)| **ty == ColumnType::Money && !name.ends_with("_base"))
            .map(|(name, _)| name)
            .collect();
        changes.attributes.retain(|c, _| c != "exchangerate" && !(c.ends_with("_base") && self.is_base_column(c)));
        let currency_given = changes.contains("transactioncurrencyid");
        let money_given = money.iter().any(|m| changes.contains(m));
        if current.is_some() && !currency_given && !money_given {
            return Ok(());
        }
        let currency =
            match (changes.get("transactioncurrencyid"), current.and_then(|c| c.get("transactioncurrencyid"))) {
                (Some(Value::Lookup(r)), _) => r.id,
                (None, Some(Value::Lookup(r))) => r.id,
                _ => base,
            };
        let rate = rate_of(currency).ok_or_else(|| {
            Fault::new(codes::OBJECT_DOES_NOT_EXIST, format!("transactioncurrency With Id = {currency} Does Not Exist"))
        })?;
        changes.set("transactioncurrencyid", Value::Lookup(EntityReference::new("transactioncurrency", currency)));
        changes.set("exchangerate", Value::Decimal(rate.normalize().to_string()));
        for column in money {
            // A new currency re-values the amounts already stored, not only those written now.
            let amount = changes.get(column).or_else(|| current.and_then(|c| c.get(column))).cloned();
            let base_value = match amount {
                Some(Value::Money(text)) => match Decimal::from_str(&text) {
                    Ok(amount) => Value::Money(to_base(amount, rate).to_string()),
                    Err(_) => continue,
                },
                Some(Value::Null) => Value::Null,
                _ => continue,
            };
            changes.set(format!("{column}_base"), base_value);
        }
        Ok(())
    }

    fn is_base_column(&self, column: &str) -> bool {
        column.strip_suffix("_base").is_some_and(|money| self.columns.get(money) == Some(&ColumnType::Money))
    }
}

/// The amount in the base currency: divided by the rate, rounded half away from zero to 4 places.
fn to_base(amount: Decimal, rate: Decimal) -> Decimal {
    amount.checked_div(rate).unwrap_or(amount).round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)
}

/// A currency's rate as its record holds it.
pub fn rate_of(record: &Entity) -> Option<Decimal> {
    match record.get("exchangerate")? {
        Value::Decimal(text) | Value::Money(text) => Decimal::from_str(text).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_values_are_the_amount_divided_by_the_rate_to_four_places() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(to_base(d("1000"), d("0.92")).to_string(), "1086.9565");
        assert_eq!(to_base(d("10.00"), d("1")).to_string(), "10.00");
        assert_eq!(to_base(d("-1"), d("3")).to_string(), "-0.3333");
        assert_eq!(to_base(d("0.00005"), d("1")).to_string(), "0.0001", "half away from zero");
    }
}

#[cfg(test)]
mod file_tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use std::path::Path;

    use serde_json::{Value as Json, json};

    use crate::org::Organization;

    fn error(currencies: Json) -> String {
        let file = json!({ "name": "o", "businessunits": [{ "@alias": "root", "name": "Root" }],
                           "users": [{ "@alias": "alice", "businessunit": "@root" }], "currencies": currencies });
        match Organization::from_json(Path::new("org.json"), file) {
            Ok(_) => panic!("the organization loads"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn each_currency_mistake_is_reported_at_its_path() {
        let eur = json!({ "@alias": "eur", "isocurrencycode": "EUR", "currencyname": "Euro", "exchangerate": 0.9 });
        let usd = json!({ "@alias": "usd", "isocurrencycode": "USD", "currencyname": "US Dollar", "base": true });
        let e = error(json!([eur]));
        assert!(e.contains("at `currencies`") && e.contains("one currency must be the base currency"), "{e}");
        let e = error(json!([usd, usd.clone()]));
        assert!(e.contains("the alias `@usd` is used twice"), "{e}");
        let mut second = usd.clone();
        second["@alias"] = json!("usd2");
        let e = error(json!([usd, second]));
        assert!(e.contains("at `currencies[1].base`: only one currency can be the base currency"), "{e}");
        let e = error(json!([usd, { "@alias": "eur", "isocurrencycode": "EUR", "currencyname": "Euro" }]));
        assert!(e.contains("at `currencies[1].exchangerate`") && e.contains("needs its exchange rate"), "{e}");
        let e = error(
            json!([usd, { "@alias": "eur", "isocurrencycode": "EUR", "currencyname": "Euro", "exchangerate": "-2" }]),
        );
        assert!(e.contains("expected a positive exchange rate"), "{e}");
        let mut base_rate = usd.clone();
        base_rate["exchangerate"] = json!(2);
        let e = error(json!([base_rate]));
        assert!(e.contains("the base currency's exchange rate is 1"), "{e}");
    }

    #[test]
    fn without_currencies_the_base_is_the_us_dollar() {
        let file = json!({ "name": "o", "businessunits": [{ "@alias": "root", "name": "Root" }],
                           "users": [{ "@alias": "alice", "businessunit": "@root" }] });
        let org = Organization::from_json(Path::new("org.json"), file).unwrap();
        assert_eq!(org.alias("basecurrency"), Some(org.base_currency));
        let usd = org.data.get("transactioncurrency", org.base_currency).unwrap();
        assert_eq!(usd.get("isocurrencycode"), Some(&"USD".into()));
        assert!(org.table("account").unwrap().columns.contains_key("revenue_base"));
        assert!(!org.table("task").unwrap().columns.contains_key("exchangerate"), "no money, no currency columns");
    }
}
