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

/// The table a step on every table is fired on, for its message.
fn any_table(message: &str) -> &'static str {
    match message {
        messages::ADD_USER_TO_RECORD_TEAM | messages::REMOVE_USER_FROM_RECORD_TEAM => "teamtemplate",
        messages::QUALIFY_LEAD => "lead",
        _ => ANY_TABLE,
    }
}

/// Whether the starter suite's organization needs its team template (an access-team case uses it).
pub fn needs_team_template(steps: &[&StepOut]) -> bool {
    steps.iter().any(|s| {
        matches!(s.message.as_str(), messages::ADD_USER_TO_RECORD_TEAM | messages::REMOVE_USER_FROM_RECORD_TEAM)
    })
}

/// The tables Merge works on (MERGE-1).
const MERGEABLE: &[&str] = &["account", "contact", "lead"];

/// Messages about no table: their steps' cases say so.
const NO_TABLE: &[&str] = &[messages::WHO_AM_I, messages::EXECUTE_MULTIPLE, messages::EXECUTE_TRANSACTION];

/// The team template the starter suite's access-team cases use (an organization record, on accounts).
pub const STARTER_TEAM: &str = "xrm_starter_team";

/// The suite: `org.json` and `registrations.json` beside it. Every step no case can fire is named in
/// `unfired`, with why.
pub fn suite(name: &str, steps: &[&StepOut], tables: &Tables, apis: &[Json], unfired: &mut Vec<String>) -> Json {
    let mut groups: BTreeMap<(String, String), Vec<&StepOut>> = BTreeMap::new();
    for step in steps {
        let table = step.primaryentity.clone().unwrap_or_else(|| any_table(&step.message).to_owned());
        groups.entry((step.message.clone(), table)).or_default().push(step);
    }
    let mut cases = Vec::new();
    for ((message, table), steps) in &groups {
        match case(message, table, steps, tables, apis) {
            Ok(case) => cases.push(case),
            Err(why) => unfired.extend(steps.iter().map(|s| {
                format!(
                    "step \"{}\" ({message} of {table}) is not fired by the starter suite: {why}",
                    s.name.as_deref().unwrap_or("(no name)")
                )
            })),
        }
    }
    json!({ "name": format!("{name}: starter suite"), "org": "org.json", "plugins": "registrations.json",
            "steps": "registrations.json", "cases": cases })
}

fn case(message: &str, table: &str, steps: &[&StepOut], tables: &Tables, apis: &[Json]) -> Result<Json, String> {
    let mut actions = match message {
        messages::ASSOCIATE | messages::DISASSOCIATE => relate(message),
        messages::MERGE | messages::QUALIFY_LEAD | messages::ADD_USER_TO_RECORD_TEAM => {
            special(message, table, tables)?
        }
        messages::REMOVE_USER_FROM_RECORD_TEAM => special(message, table, tables)?,
        _ if messages::is_built_in(messages::fires_for(message)) => on_record(message, table, steps, tables)?,
        custom => custom_api(custom, table, tables, apis)?,
    };
    actions.push(json!({ "runasync": true }));
    actions.push(json!({ "assert": assertions(steps) }));
    let unbound_api = apis.iter().any(|a| a["uniquename"] == message && a["boundentity"].is_null());
    let table_label = match message {
        messages::ASSOCIATE | messages::DISASSOCIATE => "account and lead",
        _ if unbound_api || NO_TABLE.contains(&message) => "no table",
        _ => table,
    };
    Ok(json!({ "name": format!("{message} of {table_label}: every step fires once, as its registered user"),
               "actions": actions }))
}

/// A request sent by the starter suite's user, its answer's id saved under `save` when given.
fn send(request: Json, save: Option<&str>) -> Json {
    let mut action = json!({ "as": format!("@{DEFAULT_USER}"), "request": request });
    if let Some(alias) = save {
        action["save"] = json!(alias);
    }
    action
}

/// A new record of `table`, named when the table has a primary name.
fn new_record(table: &str, tables: &Tables) -> Json {
    let mut target = Map::new();
    target.insert("@logicalname".into(), json!(table));
    if let Some(name) = tables.primary_name(table) {
        target.insert(name, json!("xrm-sandbox starter"));
    }
    Json::Object(target)
}

/// The messages about one record of the step's table (or none): the record is created first where the
/// message needs one, saved as `@record`.
fn on_record(message: &str, table: &str, steps: &[&StepOut], tables: &Tables) -> Result<Vec<Json>, String> {
    let record = json!({ "@ref": table, "id": "@record" });
    let other = json!({ "@ref": "systemuser", "id": format!("@{OTHER_USER}") });
    let mut actions = Vec::new();
    let needs_record = !matches!(
        message,
        messages::CREATE
            | messages::RETRIEVE_MULTIPLE
            | messages::CREATE_MULTIPLE
            | messages::UPSERT
            | messages::UPSERT_MULTIPLE
            | messages::WHO_AM_I
            | messages::EXECUTE_MULTIPLE
            | messages::EXECUTE_TRANSACTION
    );
    if needs_record {
        actions.push(send(json!({ "message": messages::CREATE, "target": new_record(table, tables) }), Some("record")));
    }
    let request = match message {
        messages::CREATE => {
            return Ok(vec![send(json!({ "message": message, "target": new_record(table, tables) }), Some("record"))]);
        }
        messages::UPDATE => json!({ "message": message, "target": update_target(table, steps, tables) }),
        messages::DELETE | messages::RETRIEVE => json!({ "message": message, "target": record }),
        messages::RETRIEVE_MULTIPLE => {
            json!({ "message": message, "query": { "fetchxml": format!("<fetch><entity name=\"{table}\" /></fetch>") } })
        }
        messages::ASSIGN => json!({ "message": message, "target": record, "assignee": other }),
        messages::SET_STATE | messages::SET_STATE_DYNAMIC_ENTITY => {
            let (state, status) = inactive(tables, table);
            json!({ "message": messages::SET_STATE, "target": record, "state": state, "status": status })
        }
        messages::GRANT_ACCESS | messages::MODIFY_ACCESS | messages::REVOKE_ACCESS => {
            let grant = json!({ "message": messages::GRANT_ACCESS, "target": record, "principal": other,
                                "accessmask": "ReadAccess" });
            match message {
                messages::MODIFY_ACCESS => {
                    actions.push(send(grant, None));
                    json!({ "message": message, "target": record, "principal": other,
                            "accessmask": "ReadAccess|WriteAccess" })
                }
                messages::REVOKE_ACCESS => {
                    actions.push(send(grant, None));
                    json!({ "message": message, "target": record, "revokee": other })
                }
                _ => grant,
            }
        }
        messages::CREATE_MULTIPLE | messages::UPSERT_MULTIPLE => {
            json!({ "message": message, "targets": [new_record(table, tables)] })
        }
        messages::UPSERT => json!({ "message": message, "target": new_record(table, tables) }),
        messages::UPDATE_MULTIPLE => json!({ "message": message, "targets": [update_target(table, steps, tables)] }),
        messages::WHO_AM_I => json!({ "message": message }),
        messages::EXECUTE_MULTIPLE | messages::EXECUTE_TRANSACTION => {
            json!({ "message": message, "requests": [{ "message": messages::WHO_AM_I }] })
        }
        other => return Err(format!("the starter suite has no request for {other} yet")),
    };
    actions.push(send(request, None));
    Ok(actions)
}

/// Associate and Disassociate, on the built-in many-to-many relationship between accounts and leads.
fn relate(message: &str) -> Vec<Json> {
    let mut actions = Vec::new();
    for (t, column, save) in [("account", "name", "one"), ("lead", "subject", "two")] {
        let mut target = json!({ "@logicalname": t });
        target[column] = json!("xrm-sandbox starter");
        actions.push(send(json!({ "message": messages::CREATE, "target": target }), Some(save)));
    }
    let relate = |m: &str| {
        send(
            json!({ "message": m, "target": { "@ref": "account", "id": "@one" }, "relationship": "accountleads_association",
                    "related": [{ "@ref": "lead", "id": "@two" }] }),
            None,
        )
    };
    actions.push(relate(messages::ASSOCIATE));
    if message == messages::DISASSOCIATE {
        actions.push(relate(messages::DISASSOCIATE));
    }
    actions
}

/// The messages that work on some tables only: Merge (accounts, contacts, leads: two records, one merged
/// into the other), QualifyLead (a new lead, qualified creating nothing, so that the steps on QualifyLead
/// itself fire) and the access-team messages (an account, and the team template the import adds).
fn special(message: &str, table: &str, tables: &Tables) -> Result<Vec<Json>, String> {
    let mut actions = Vec::new();
    match message {
        messages::MERGE => {
            if !MERGEABLE.contains(&table) {
                return Err(format!("Merge merges accounts, contacts and leads, not {table}"));
            }
            actions.push(send(
                json!({ "message": messages::CREATE, "target": new_record(table, tables) }),
                Some("record"),
            ));
            let second = json!({ "message": messages::CREATE, "target": { "@logicalname": table } });
            actions.push(send(second, Some("subordinate")));
            actions.push(send(
                json!({ "message": message, "target": { "@ref": table, "id": "@record" },
                        "parameters": { "SubordinateId": { "@guid": "@subordinate" }, "PerformParentingChecks": false } }),
                None,
            ));
        }
        messages::QUALIFY_LEAD => {
            if table != "lead" {
                return Err(format!("QualifyLead qualifies leads, not {table}"));
            }
            let lead = json!({ "@logicalname": "lead", "subject": "xrm-sandbox starter", "lastname": "Starter" });
            actions.push(send(json!({ "message": messages::CREATE, "target": lead }), Some("record")));
            actions.push(send(
                json!({ "message": message, "parameters": { "LeadId": { "@ref": "lead", "id": "@record" },
                        "CreateAccount": false, "CreateContact": false, "CreateOpportunity": false,
                        "Status": { "@option": 3 } } }),
                None,
            ));
        }
        _ => {
            if table != "teamtemplate" {
                return Err(format!("the access-team messages are on team templates, not {table}"));
            }
            let account = json!({ "@logicalname": "account", "name": "xrm-sandbox starter" });
            actions.push(send(json!({ "message": messages::CREATE, "target": account }), Some("record")));
            let team = |m: &str| {
                send(
                    json!({ "message": m, "parameters": { "Record": { "@ref": "account", "id": "@record" },
                            "SystemUserId": { "@guid": format!("@{OTHER_USER}") },
                            "TeamTemplateId": { "@guid": format!("@{STARTER_TEAM}") } } }),
                    None,
                )
            };
            actions.push(team(messages::ADD_USER_TO_RECORD_TEAM));
            if message == messages::REMOVE_USER_FROM_RECORD_TEAM {
                actions.push(team(message));
            }
        }
    }
    Ok(actions)
}

/// A custom API of the solution, with a sample value for each required parameter.
fn custom_api(name: &str, table: &str, tables: &Tables, apis: &[Json]) -> Result<Vec<Json>, String> {
    let api = apis.iter().find(|a| a["uniquename"] == name).ok_or("not a message the sandbox runs")?;
    let mut actions = Vec::new();
    let mut request = Map::new();
    request.insert("message".into(), json!(name));
    if api["boundentity"].is_string() {
        actions.push(send(json!({ "message": messages::CREATE, "target": new_record(table, tables) }), Some("record")));
        request.insert("target".into(), json!({ "@ref": table, "id": "@record" }));
    }
    let mut parameters = Map::new();
    for (parameter, ty) in api["request"].as_object().into_iter().flatten() {
        if ty.get("optional").is_some_and(|o| o == true) {
            continue;
        }
        let ty = ty.as_str().or_else(|| ty["type"].as_str()).unwrap_or_default();
        parameters.insert(parameter.clone(), sample(ty).ok_or(format!("no sample value for a {ty} parameter"))?);
    }
    request.insert("parameters".into(), Json::Object(parameters));
    actions.push(send(Json::Object(request), None));
    Ok(actions)
}

/// The change an Update fires its steps with: every column a step filters on (clearing a column sends it),
/// else the primary name.
fn update_target(table: &str, steps: &[&StepOut], tables: &Tables) -> Json {
    let mut target = Map::new();
    target.insert("@logicalname".into(), json!(table));
    target.insert("@id".into(), json!("@record"));
    let filtered: HashSet<&str> =
        steps.iter().flat_map(|s| s.filteringattributes.iter().flat_map(|f| f.split(','))).map(str::trim).collect();
    for column in filtered.into_iter().filter(|c| !c.is_empty()) {
        target.insert(column.to_owned(), Json::Null);
    }
    if target.len() == 2 {
        match tables.primary_name(table) {
            Some(name) => target.insert(name, json!("xrm-sandbox starter, updated")),
            None => target.insert("statecode".into(), json!({ "@option": 0 })),
        };
    }
    Json::Object(target)
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
