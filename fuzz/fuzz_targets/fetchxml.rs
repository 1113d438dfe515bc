//! FetchXML: any text is either a fault (`0x80040203`, never a panic) or a query; `entity_name`, the quick
//! reader, agrees with the full parse; and every condition value the engine reads by a column's type is a
//! value that survives the JSON round trip the store and the suites use (up to integer and bigint, which
//! the JSON form writes alike).

#![no_main]

use libfuzzer_sys::fuzz_target;
use xrm_model::json::{Path, Reader, value_to_json};
use xrm_model::{FilterExpression, Value, codes};
use xrm_sandbox::org::ColumnType;
use xrm_sandbox::query::{fetchxml, values};

const TYPES: &[ColumnType] = &[
    ColumnType::String,
    ColumnType::Integer,
    ColumnType::BigInt,
    ColumnType::Double,
    ColumnType::Boolean,
    ColumnType::Decimal,
    ColumnType::Money,
    ColumnType::DateTime,
    ColumnType::Uniqueidentifier,
    ColumnType::Picklist,
];

fn texts_of(filter: &FilterExpression, out: &mut Vec<String>) {
    for c in &filter.conditions {
        out.extend(c.values.iter().filter_map(|v| match v {
            Value::Text(t) => Some(t.clone()),
            _ => None,
        }));
    }
    for f in &filter.filters {
        texts_of(f, out);
    }
}

/// A value as its JSON form keeps it (`formats.md`: integer and bigint are both a plain number).
fn canonical(v: Value) -> Value {
    match v {
        Value::BigInt(n) => i32::try_from(n).map_or(Value::BigInt(n), Value::Integer),
        other => other,
    }
}

fn round_trips(text: &str) {
    let reader = Reader::default();
    for ty in TYPES {
        let Some(value) = values::parse_value(ty, text) else { continue };
        let json = serde_json::to_string(&value_to_json(&value)).expect("a value is JSON");
        let back = serde_json::from_str(&json).expect("written JSON reads");
        match reader.value(&back, &Path::Root("v")) {
            Ok(again) => assert_eq!(again, canonical(value), "{text:?} as {ty:?} written as {json}"),
            Err(e) => panic!("{text:?} as {ty:?} written as {json} does not read back: {e}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let quick = fetchxml::entity_name(text);
    match fetchxml::parse(text) {
        Ok(query) => {
            assert_eq!(quick.as_deref(), Some(query.entity_name.as_str()), "entity_name disagrees with parse");
            let mut texts = Vec::new();
            texts_of(&query.criteria, &mut texts);
            for link in &query.link_entities {
                texts_of(&link.link_criteria, &mut texts);
            }
            texts.iter().for_each(|t| round_trips(t));
        }
        Err(fault) => assert_eq!(fault.code, codes::INVALID_ARGUMENT),
    }
    // The value readers on the raw text too (short inputs only: they are what conditions hold).
    if text.len() <= 64 {
        round_trips(text);
    }
});
