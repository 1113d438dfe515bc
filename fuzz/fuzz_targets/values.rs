//! The JSON form of values, entities, requests and queries (`formats.md`, "Values"): reading never panics,
//! and whatever reads as a value, an entity or a parameter writes back (`value_to_json`, `entity_to_json`,
//! `parameter_to_json`) to JSON text that reads again as the same thing. "The same" is up to the one thing
//! the JSON form does not keep by design (`formats.md`: integer and bigint are both a plain number): a
//! `BigInt` that fits 32 bits reads back as an `Integer`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value as Json;
use xrm_model::json::{Path, Reader, entity_to_json, parameter_to_json, value_to_json};
use xrm_model::{Entity, ParameterValue, Uuid, Value};

fn resolve(alias: &str) -> Option<Uuid> {
    match alias {
        "alice" => Some(Uuid::from_u128(0xa11ce)),
        "contoso" => Some(Uuid::from_u128(0xc0)),
        _ => None,
    }
}

/// JSON written by the model, through its text form, as a file or a plug-in would see it.
fn through_text(json: &Json) -> Json {
    let text = serde_json::to_string(json).expect("written JSON serialises");
    match serde_json::from_str(&text) {
        Ok(back) => back,
        Err(e) => panic!("written JSON `{text}` does not parse: {e}"),
    }
}

/// A value as its JSON form keeps it: a 32-bit `BigInt` is an `Integer`.
fn canonical(v: &Value) -> Value {
    match v {
        Value::BigInt(n) => i32::try_from(*n).map_or(Value::BigInt(*n), Value::Integer),
        other => other.clone(),
    }
}

fn canonical_entity(e: &Entity) -> Entity {
    let mut e = e.clone();
    e.attributes.values_mut().for_each(|v| *v = canonical(v));
    e
}

fn canonical_parameter(p: &ParameterValue) -> ParameterValue {
    match p {
        ParameterValue::Value(v) => ParameterValue::Value(canonical(v)),
        ParameterValue::Entity(e) => ParameterValue::Entity(canonical_entity(e)),
        ParameterValue::EntityCollection(c) => {
            let mut c = c.clone();
            c.entities = c.entities.iter().map(canonical_entity).collect();
            ParameterValue::EntityCollection(c)
        }
        other => other.clone(),
    }
}

fn check_parameter(reader: &Reader, p: &ParameterValue, root: &Path) {
    let written = match p {
        ParameterValue::Value(_)
        | ParameterValue::Entity(_)
        | ParameterValue::EntityReferences(_)
        | ParameterValue::EntityCollection(_) => through_text(&parameter_to_json(p)),
        // Column sets, queries, relationships and shares are written for reports only, not read back.
        _ => return,
    };
    match reader.parameter_value(&written, root) {
        Ok(again) => assert_eq!(again, canonical_parameter(p), "parameter written as {written}"),
        Err(e) => panic!("parameter {p:?} written as {written} does not read back: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<Json>(data) else { return };
    let reader = Reader::new(&resolve);
    let root = Path::Root("v");
    if let Ok(value) = reader.value(&json, &root) {
        let written = through_text(&value_to_json(&value));
        match reader.value(&written, &root) {
            Ok(again) => assert_eq!(again, canonical(&value), "value written as {written}"),
            Err(e) => panic!("value {value:?} written as {written} does not read back: {e}"),
        }
    }
    if let Ok(entity) = reader.entity(&json, &root) {
        let written = through_text(&entity_to_json(&entity));
        match reader.entity(&written, &root) {
            Ok(again) => assert_eq!(again, canonical_entity(&entity), "entity written as {written}"),
            Err(e) => panic!("entity {entity:?} written as {written} does not read back: {e}"),
        }
    }
    if let Ok(p) = reader.parameter_value(&json, &root) {
        check_parameter(&reader, &p, &root);
    }
    if let Ok(request) = reader.request(&json, &root) {
        for p in request.parameters.values() {
            check_parameter(&reader, p, &root);
        }
    }
    let _ = reader.query(&json, &root);
    // A query inside a request, as suites and the probe carry it.
    if let Some(q) = json.get("query") {
        let _ = reader.query(q, &root);
    }
});
