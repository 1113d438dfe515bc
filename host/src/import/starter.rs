//! The starter suite: one case per registered (message, table) that fires each of its steps once, with the
//! requests the message needs (a record to update, delete, assign or share first), then runs the queued
//! asynchronous steps and asserts who each step ran as (the stand-in traces `UserId=…`). A disabled step is
//! asserted not to have run.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value as Json, json};
use xrm_model::messages;

use super::StepOut;
use super::project::{DEFAULT_USER, OTHER_USER, Tables};

/// The table a step on every table is fired on.
const ANY_TABLE: &str = "account";

/// The suite: `org.json` and `registrations.json` beside it.
pub fn suite(name: &str, steps: &[&StepOut], tables: &Tables, apis: &[Json], notes: &mut Vec<String>) -> Json {
    let mut groups: BTreeMap<(String, String), Vec<&StepOut>> = BTreeMap::new();
    for step in steps {
        let table = step.primaryentity.clone().unwrap_or_else(|| ANY_TABLE.to_owned());
        groups.entry((step.message.clone(), table)).or_default().push(step);
    }
    let mut cases = Vec::new();
    for ((message, table), steps) in &groups {
        match case(message, table, steps, tables, apis) {
            Ok(case) => cases.push(case),
            Err(why) => notes.push(format!("no starter case for {message} of {table}: {why}")),
        }
    }
    json!({ "name": format!("{name}: starter suite"), "org": "org.json", "plugins": "registrations.json",
            "steps": "registrations.json", "cases": cases })
}

fn case(message: &str, table: &str, steps: &[&StepOut], tables: &Tables, apis: &[Json]) -> Result<Json, String> {
    let mut actions = Vec::new();
    let me = format!("@{DEFAULT_USER}");
    let record = json!({ "@ref": table, "id": "@record" });
    let create = |actions: &mut Vec<Json>| {
        let mut target = Map::new();
        target.insert("@logicalname".into(), json!(table));
        if let Some(name) = tables.primary_name(table) {
            target.insert(name, json!("xrm-sandbox starter"));
        }
        actions.push(json!({ "as": me, "request": { "message": "Create", "target": target }, "save": "record" }));
    };
    let other = json!({ "@ref": "systemuser", "id": format!("@{OTHER_USER}") });
    match message {
        messages::CREATE => create(&mut actions),
        messages::UPDATE => {
            create(&mut actions);
            let mut target = Map::new();
            target.insert("@logicalname".into(), json!(table));
            target.insert("@id".into(), json!("@record"));
            // Every column a step filters on, so that each filtered step fires: clearing a column sends it.
            let filtered: HashSet<&str> = steps
                .iter()
                .flat_map(|s| s.filteringattributes.iter().flat_map(|f| f.split(',')))
                .map(str::trim)
                .collect();
            for column in filtered.into_iter().filter(|c| !c.is_empty()) {
                target.insert(column.to_owned(), Json::Null);
            }
            if target.len() == 2 {
                match tables.primary_name(table) {
                    Some(name) => target.insert(name, json!("xrm-sandbox starter, updated")),
                    None => target.insert("statecode".into(), json!({ "@option": 0 })),
                };
            }
            actions.push(json!({ "as": me, "request": { "message": "Update", "target": target } }));
        }
        messages::DELETE | messages::RETRIEVE => {
            create(&mut actions);
            actions.push(json!({ "as": me, "request": { "message": message, "target": record } }));
        }
        messages::RETRIEVE_MULTIPLE => {
            let fetch = format!("<fetch><entity name=\"{table}\" /></fetch>");
            actions.push(json!({ "as": me, "request": { "message": message, "query": { "fetchxml": fetch } } }));
        }
        messages::ASSIGN => {
            create(&mut actions);
            actions.push(json!({ "as": me, "request": { "message": message, "target": record, "assignee": other } }));
        }
        messages::SET_STATE | messages::SET_STATE_DYNAMIC_ENTITY => {
            create(&mut actions);
            let (state, status) = inactive(tables, table);
            actions.push(json!({ "as": me, "request": { "message": messages::SET_STATE, "target": record,
                                                        "state": state, "status": status } }));
        }
        messages::GRANT_ACCESS | messages::MODIFY_ACCESS | messages::REVOKE_ACCESS => {
            create(&mut actions);
            let grant = json!({ "message": messages::GRANT_ACCESS, "target": record, "principal": other,
                                "accessmask": "ReadAccess" });
            actions.push(json!({ "as": me, "request": grant }));
            match message {
                messages::MODIFY_ACCESS => actions.push(json!({ "as": me, "request": { "message": message,
                    "target": record, "principal": other, "accessmask": "ReadAccess|WriteAccess" } })),
                messages::REVOKE_ACCESS => actions
                    .push(json!({ "as": me, "request": { "message": message, "target": record, "revokee": other } })),
                _ => {}
            }
        }
        messages::ASSOCIATE | messages::DISASSOCIATE => {
            // The built-in many-to-many relationship between accounts and leads.
            for (t, column, save) in [("account", "name", "one"), ("lead", "subject", "two")] {
                let mut target = Map::new();
                target.insert("@logicalname".into(), json!(t));
                target.insert(column.into(), json!("xrm-sandbox starter"));
                actions.push(json!({ "as": me, "request": { "message": "Create", "target": target }, "save": save }));
            }
            let relate = |m: &str| {
                json!({ "as": me, "request": { "message": m,
                "target": { "@ref": "account", "id": "@one" }, "relationship": "accountleads_association",
                "related": [{ "@ref": "lead", "id": "@two" }] } })
            };
            actions.push(relate(messages::ASSOCIATE));
            if message == messages::DISASSOCIATE {
                actions.push(relate(messages::DISASSOCIATE));
            }
        }
        custom => {
            let api = apis.iter().find(|a| a["uniquename"] == custom).ok_or("not a message the sandbox runs")?;
            let mut request = Map::new();
            request.insert("message".into(), json!(custom));
            if api["boundentity"].is_string() {
                create(&mut actions);
                request.insert("target".into(), record.clone());
            }
            let mut parameters = Map::new();
            for (name, ty) in api["request"].as_object().into_iter().flatten() {
                if ty.get("optional").is_some_and(|o| o == true) {
                    continue;
                }
                let ty = ty.as_str().or_else(|| ty["type"].as_str()).unwrap_or_default();
                parameters.insert(name.clone(), sample(ty).ok_or(format!("no sample value for a {ty} parameter"))?);
            }
            request.insert("parameters".into(), Json::Object(parameters));
            actions.push(json!({ "as": me, "request": request }));
        }
    }
    actions.push(json!({ "runasync": true }));
    actions.push(json!({ "assert": assertions(steps) }));
    let unbound_api = apis.iter().any(|a| a["uniquename"] == message && a["boundentity"].is_null());
    let table_label = match message {
        messages::ASSOCIATE | messages::DISASSOCIATE => "account and lead",
        _ if unbound_api => "no table",
        _ => table,
    };
    Ok(json!({ "name": format!("{message} of {table_label}: every step fires once, as its registered user"),
               "actions": actions }))
}

/// Who each step ran as (`UserId`), from the stand-in's trace; a disabled step has none; an asynchronous
/// step's job succeeded.
fn assertions(steps: &[&StepOut]) -> Json {
    let me = format!("@{DEFAULT_USER}");
    let mut traces = Vec::new();
    let mut jobs = Vec::new();
    for step in steps {
        let name = step.name.clone().unwrap_or_default();
        if step.statecode != 0 {
            traces.push(json!({ "step": name, "absent": true }));
            continue;
        }
        let user = step.impersonatinguserid.clone().unwrap_or_else(|| me.clone());
        traces.push(json!({ "step": name, "contains": format!("UserId={user}") }));
        // A job deleted once it succeeds (asyncautodelete) leaves nothing to assert.
        if step.mode == 1 && !step.asyncautodelete {
            jobs.push(json!({ "step": name, "status": "Succeeded" }));
        }
    }
    let mut assert = Map::new();
    assert.insert("traces".into(), Json::Array(traces));
    if !jobs.is_empty() {
        assert.insert("jobs".into(), Json::Array(jobs));
    }
    Json::Object(assert)
}

/// A state other than active and a status of it, from the table's State and Status columns when the export
/// gives them (else 1 and 2, as most tables have).
fn inactive(tables: &Tables, table: &str) -> (i32, i32) {
    let state_column = tables.column(table, "statecode");
    let state = state_column
        .and_then(|c| c["options"].as_object())
        .and_then(|o| o.keys().filter_map(|k| k.parse::<i32>().ok()).find(|v| *v != 0))
        .unwrap_or(1);
    let default = state_column.and_then(|c| c["defaultstatus"][state.to_string()].as_i64()).map(|v| v as i32);
    let of_state = tables.column(table, "statuscode").and_then(|c| c["options"].as_object()).and_then(|o| {
        o.iter().find(|(_, s)| s["state"].as_i64() == Some(i64::from(state))).and_then(|(k, _)| k.parse().ok())
    });
    (state, default.or(of_state).unwrap_or(2))
}

/// A value of a custom API parameter's type, as suites write it.
fn sample(ty: &str) -> Option<Json> {
    Some(match ty {
        "String" => json!("xrm-sandbox starter"),
        "Integer" => json!(1),
        "Boolean" => json!(true),
        "Float" => json!(1.5),
        "Decimal" => json!({ "@decimal": "1" }),
        "Money" => json!({ "@money": "1" }),
        "DateTime" => json!({ "@datetime": "2026-01-01T00:00:00Z" }),
        "Guid" => json!({ "@guid": "00000000-0000-4000-8000-000000000001" }),
        "Picklist" => json!({ "@option": 1 }),
        "EntityReference" => json!({ "@ref": "systemuser", "id": format!("@{DEFAULT_USER}") }),
        "Entity" => json!({ "@logicalname": ANY_TABLE }),
        _ => return None,
    })
}
