//! Load-time validation: every name a suite, registration or organization uses is checked against the real
//! catalogues before anything runs, and each mistake is reported with its file, its full JSON path, what was
//! expected and the name most likely meant.

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use serde_json::{Value as Json, json};
use xrm_sandbox::suite::Suite;

/// A suite file's path in the conformance folder, so `"org": "org.json"` is the conformance organization.
fn here(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance").join(name)
}

/// The error text of loading `suite`, which must be refused.
fn refused(suite: Json) -> String {
    match Suite::from_json(&here("bad.json"), suite) {
        Ok(_) => panic!("the suite loaded"),
        Err(e) => e.to_string(),
    }
}

fn contains_all(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "expected {part:?} in:\n{text}");
    }
}

fn org_with_privilege(privilege: &str) -> Json {
    json!({ "name": "o", "businessunits": [ { "@alias": "root", "name": "R" } ],
            "roles": [ { "@alias": "r", "name": "R", "privileges": { privilege: "Basic" } } ],
            "users": [ { "@alias": "u", "businessunit": "@root", "roles": ["@r"] } ] })
}

#[test]
fn a_privilege_named_after_the_schema_where_the_platform_uses_another_name_says_which() {
    let err = refused(json!({ "name": "s", "org": org_with_privilege("prvCreateAnnotation"), "cases": [] }));
    contains_all(&err, &["org.roles[0].privileges.prvCreateAnnotation", "`prvCreateNote`", "annotation"]);
    let err = refused(json!({ "name": "s", "org": org_with_privilege("prvReadTask"), "cases": [] }));
    contains_all(&err, &["`prvReadActivity`"]);
    let err = refused(json!({ "name": "s", "org": org_with_privilege("prvCreatAccount"), "cases": [] }));
    contains_all(&err, &["unknown privilege `prvCreatAccount`", "did you mean `prvCreateAccount`?"]);
}

fn probe() -> Json {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/probe");
    json!({ "probe": { "crate": dir } })
}

/// A suite on the conformance organization that loads as it is; each mistake below is one change to it.
fn valid() -> Json {
    json!({
        "name": "valid",
        "org": "org.json",
        "plugins": probe(),
        "steps": [
            { "name": "Follow-up", "plugin": "probe", "message": "Update", "primaryentity": "account", "stage": 40,
              "filteringattributes": "name,revenue",
              "images": [ { "entityalias": "pre", "imagetype": 0, "attributes": "name" } ] }
        ],
        "cases": [
            { "name": "c", "actions": [
                { "as": "@alice", "request": { "message": "Create",
                    "target": { "@logicalname": "account", "name": "A", "industrycode": { "@option": 2 } } },
                  "save": "a" },
                { "as": "@alice", "request": { "message": "Retrieve", "target": { "@ref": "account", "id": "@a" },
                    "columns": ["name"] }, "expect": { "output": { "entity": { "name": "A" } } } },
                { "as": "@alice", "request": { "message": "RetrieveMultiple", "query": { "entityname": "account",
                    "columns": ["name"], "criteria": { "conditions": [ { "attribute": "name", "value": "A" } ] },
                    "orders": [ { "attribute": "revenue" } ],
                    "linkentities": [ { "linkfromattributename": "primarycontactid", "linktoentityname": "contact",
                                        "linktoattributename": "contactid", "entityalias": "c",
                                        "columns": ["fullname"] } ] } } },
                { "assert": { "records": [ { "@logicalname": "account", "where": { "name": "A" },
                                             "columns": { "ownerid": "@alice" } } ],
                              "traces": [ { "step": "Follow-up", "absent": true } ] } }
            ] }
        ]
    })
}

/// Changes the value at a `/`-separated pointer (as JSON Pointer) of `valid()`.
fn with(pointer: &str, value: Json) -> Json {
    let mut suite = valid();
    *suite.pointer_mut(pointer).unwrap_or_else(|| panic!("no {pointer}")) = value;
    suite
}

/// Adds `key` to the object at `pointer` of `valid()`.
fn added(pointer: &str, key: &str, value: Json) -> Json {
    let mut suite = valid();
    let object = suite.pointer_mut(pointer).and_then(Json::as_object_mut).unwrap_or_else(|| panic!("no {pointer}"));
    object.insert(key.to_owned(), value);
    suite
}

#[test]
fn the_valid_suite_loads() {
    Suite::from_json(&here("valid.json"), valid()).unwrap_or_else(|e| panic!("{e}"));
}

/// Each mistake a newcomer makes, with the JSON path and the words the error must have.
#[test]
fn every_misspelt_name_is_refused_with_its_path_and_the_name_meant() {
    let action = |i: usize| format!("/cases/0/actions/{i}");
    let cases: Vec<(Json, &str, &[&str])> = vec![
        (
            with("/steps/0/message", json!("Craete")),
            "steps[0].message",
            &["unknown message `Craete`", "did you mean `Create`?"],
        ),
        (with("/steps/0/message", json!("update")), "steps[0].message", &["case-sensitive: `Update`"]),
        (
            with("/steps/0/filteringattributes", json!("statuscod")),
            "steps[0].filteringattributes",
            &["`statuscod` of `account`", "`statuscode`"],
        ),
        (
            with("/steps/0/images/0/attributes", json!("nmae")),
            "steps[0].images[0].attributes",
            &["`nmae`", "did you mean `name`?"],
        ),
        (
            with("/steps/0/primaryentity", json!("Account")),
            "steps[0].primaryentity",
            &["logical names are lower case: `account`"],
        ),
        (with("/steps/0/plugin", json!("prbe")), "steps[0].plugin", &["unknown plug-in `prbe`", "`probe`"]),
        (
            added("/steps/0", "impersonatinguserid", json!("@sales")),
            "steps[0].impersonatinguserid",
            &["`@sales` is not a user", "@alice"],
        ),
        (
            added("/steps/0", "impersonatinguserid", json!("@alcie")),
            "steps[0].impersonatinguserid",
            &["unknown alias `@alcie`", "`@alice`"],
        ),
        (added("/steps/0", "rnak", json!(1)), "steps[0].rnak", &["unknown field `rnak`", "did you mean `rank`?"]),
        (
            with(&format!("{}/request/message", action(0)), json!("Craete")),
            "cases[0].actions[0].request.message",
            &["did you mean `Create`?"],
        ),
        (
            with(&format!("{}/request/target/@logicalname", action(0)), json!("acount")),
            "cases[0].actions[0].request.target.@logicalname",
            &["unknown table `acount`", "`account`"],
        ),
        (
            with(&format!("{}/request/columns/0", action(1)), json!("nmae")),
            "cases[0].actions[1].request.columns[0]",
            &["`name`"],
        ),
        (
            with(&format!("{}/expect/output/entity", action(1)), json!({ "nam": "A" })),
            "cases[0].actions[1].expect.output.entity.nam",
            &["`name`"],
        ),
        (
            with(&format!("{}/request/query/entityname", action(2)), json!("acount")),
            "cases[0].actions[2].request.query.entityname",
            &["`account`"],
        ),
        (
            with(&format!("{}/request/query/criteria/conditions/0/attribute", action(2)), json!("nmae")),
            "cases[0].actions[2].request.query.criteria.conditions[0].attribute",
            &["`name`"],
        ),
        (
            with(&format!("{}/request/query/orders/0/attribute", action(2)), json!("revenu")),
            "cases[0].actions[2].request.query.orders[0]",
            &["`revenue`"],
        ),
        (
            with(&format!("{}/request/query/linkentities/0/linktoentityname", action(2)), json!("contct")),
            "cases[0].actions[2].request.query.linkentities[0].linktoentityname",
            &["`contact`"],
        ),
        (
            with(&format!("{}/request/query/linkentities/0/columns/0", action(2)), json!("fulname")),
            "cases[0].actions[2].request.query.linkentities[0].columns[0]",
            &["of `contact`", "`fullname`"],
        ),
        (
            with(&format!("{}/assert/records/0/where", action(3)), json!({ "nme": "A" })),
            "cases[0].actions[3].assert.records[0].where.nme",
            &["`name`"],
        ),
        (
            with(&format!("{}/assert/records/0/columns", action(3)), json!({ "owner": "@alice" })),
            "cases[0].actions[3].assert.records[0].columns.owner",
            &["`ownerid`"],
        ),
        (
            with(&format!("{}/assert/records/0/@logicalname", action(3)), json!("Account")),
            "cases[0].actions[3].assert.records[0].@logicalname",
            &["lower case: `account`"],
        ),
        (
            with(&format!("{}/assert/records/0/columns/ownerid", action(3)), json!("@alcie")),
            "cases[0].actions[3].assert.records[0].columns.ownerid",
            &["unknown alias `@alcie`", "`@alice`"],
        ),
        (
            with(&format!("{}/assert/traces/0/step", action(3)), json!("Folow-up")),
            "cases[0].actions[3].assert.traces[0].step",
            &["unknown step `Folow-up`", "`Follow-up`"],
        ),
        (with(&format!("{}/as", action(0)), json!("@alcie")), "cases[0].actions[0].as", &["`@alice`"]),
        (with(&format!("{}/as", action(0)), json!("@sales")), "cases[0].actions[0].as", &["`@sales` is not a user"]),
        (
            with(&format!("{}/request/target/industrycode", action(0)), json!(2)),
            "cases[0].actions[0].request.target.industrycode",
            &["Picklist", "{\"@option\":2}"],
        ),
        (
            added(&format!("{}/request/target", action(0)), "ownerid", json!("@bob")),
            "cases[0].actions[0].request.target.ownerid",
            &["{\"@ref\":\"systemuser\",\"id\":\"@bob\"}"],
        ),
        (
            added(&format!("{}/request/target", action(0)), "revenue", json!(12.5)),
            "cases[0].actions[0].request.target.revenue",
            &["{\"@money\":\"12.5\"}"],
        ),
        (
            added(&format!("{}/request", action(1)), "targte", json!({})),
            "cases[0].actions[1].request.targte",
            &["did you mean `target`?"],
        ),
        (
            added(&format!("{}/request/target", action(0)), "AccountNumber", json!("1")),
            "cases[0].actions[0].request.target.AccountNumber",
            &["logical names are lower case: `accountnumber`"],
        ),
    ];
    for (suite, path, words) in cases {
        let err = refused(suite);
        contains_all(&err, &[&format!("at `{path}`")]);
        contains_all(&err, words);
        assert!(!err.contains("Lookup([") && !err.contains("Some("), "no Rust debug text: {err}");
    }
}

#[test]
fn a_suite_saying_case_instead_of_cases_is_refused_with_the_key_meant() {
    let mut suite = valid();
    let cases = suite.as_object_mut().unwrap().remove("cases").unwrap();
    suite["case"] = cases;
    contains_all(&refused(suite), &["unknown field `case`", "did you mean `cases`?"]);
}

#[test]
fn every_mistake_of_a_suite_is_reported_at_once() {
    let mut suite = with("/steps/0/message", json!("Craete"));
    suite["steps"][0]["primaryentity"] = json!("acount");
    // The steps are wrong, so the cases are not read yet: a second run shows theirs.
    let err = refused(suite);
    contains_all(&err, &["steps[0].message", "steps[0].primaryentity"]);
    let mut suite = valid();
    suite["cases"][0]["actions"][0]["request"]["message"] = json!("Craete");
    suite["cases"][0]["actions"][3]["assert"]["records"][0]["where"] = json!({ "nme": "A" });
    suite["cases"][0]["actions"][3]["assert"]["traces"][0]["step"] = json!("nope");
    // Each mistake once: the record the failed Create saves is still known to the actions after it.
    let err = refused(suite);
    assert_eq!(err.lines().count(), 3, "{err}");
}

#[test]
fn a_request_that_must_fail_may_name_what_does_not_exist() {
    let mut suite = valid();
    suite["cases"][0]["actions"][0]["request"]["target"]["nosuchcolumn"] = json!(1);
    suite["cases"][0]["actions"][0]["expect"] = json!({ "error": { "code": "0x80041103" } });
    suite["cases"][0]["actions"][0].as_object_mut().unwrap().remove("save");
    suite["cases"][0]["actions"].as_array_mut().unwrap().truncate(1);
    Suite::from_json(&here("valid.json"), suite).unwrap_or_else(|e| panic!("{e}"));
}

/// An organization with `records`.
fn org_with_records(records: Json) -> Json {
    json!({ "name": "o", "businessunits": [ { "@alias": "root", "name": "R" } ],
            "users": [ { "@alias": "alice", "businessunit": "@root" } ], "records": records })
}

#[test]
fn organization_records_are_checked_against_their_tables() {
    let cases: Vec<(Json, &str, &[&str])> = vec![
        (json!([{ "@logicalname": "acount", "name": "x" }]), "org.records[0].@logicalname", &["`account`"]),
        (json!([{ "@logicalname": "account", "nmae": "x" }]), "org.records[0].nmae", &["`name`"]),
        (
            json!([{ "@logicalname": "account", "industrycode": 3 }]),
            "org.records[0].industrycode",
            &["{\"@option\":3}"],
        ),
        (
            json!([{ "@logicalname": "account", "ownerid": "@root" }]),
            "org.records[0].ownerid",
            &["`@root` is a `businessunit`"],
        ),
    ];
    for (records, path, words) in cases {
        let err = refused(json!({ "name": "s", "org": org_with_records(records), "cases": [] }));
        contains_all(&err, &[&format!("at `{path}`")]);
        contains_all(&err, words);
    }
    let two = json!([{ "@logicalname": "account", "nmae": "x" }, { "@logicalname": "contact", "lastnme": "y" }]);
    let err = refused(json!({ "name": "s", "org": org_with_records(two), "cases": [] }));
    assert_eq!(err.lines().count(), 2, "both records reported: {err}");
}

#[test]
fn an_alias_in_a_lookup_column_of_an_organization_record_says_which_table() {
    let records = json!([
        { "@logicalname": "contact", "@alias": "dana", "lastname": "Reyes", "ownerid": "@alice" },
        { "@logicalname": "account", "name": "Contoso", "primarycontactid": "@dana" }
    ]);
    let suite = json!({ "name": "s", "org": org_with_records(records), "cases": [
        { "name": "c", "actions": [ { "assert": { "records": [
            { "@logicalname": "contact", "where": { "lastname": "Reyes" }, "count": 1, "columns": { "ownerid": "@alice" } },
            { "@logicalname": "account", "where": { "primarycontactid": "@dana" }, "count": 1 } ] } } ] } ] });
    let suite = Suite::from_json(&here("alias.json"), suite).unwrap_or_else(|e| panic!("{e}"));
    let result = xrm_sandbox::suite::run_case(&suite, &suite.cases[0]);
    assert!(result.passed, "{:?}", result.failures);
}

/// A step's `type` names a plug-in type: its form is checked at load, which type it is when the step runs
/// (PIPE-18).
#[test]
fn a_step_type_that_is_empty_or_padded_is_refused_at_load_pipe_18() {
    let err = refused(added("/steps/0", "type", json!("")));
    contains_all(&err, &["bad.json: at `steps[0].type`", "`type` is empty", "PIPE-18"]);
    let err = refused(added("/steps/0", "type", json!(" Contoso.Plugins.FollowUp ")));
    contains_all(&err, &["at `steps[0].type`", "spaces around", "write `Contoso.Plugins.FollowUp`"]);
    // Any name loads: the component says which types it holds when the step runs.
    Suite::from_json(&here("valid.json"), added("/steps/0", "type", json!("Contoso.Plugins.NotHeldYet")))
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The records of bulk messages, the requests of batches and records given as parameters are checked as a
/// request's `target` is, each mistake at its own path with the form to write.
#[test]
fn bulk_targets_batch_requests_and_record_parameters_are_checked_like_a_target() {
    let request = |request: Json| with("/cases/0/actions/0/request", request);
    let account = |extra: Json| {
        let mut a = json!({ "@logicalname": "account", "name": "A" });
        a.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        a
    };
    let cases: Vec<(Json, &str, &[&str])> = vec![
        (
            request(json!({ "message": "CreateMultiple",
                            "targets": [ account(json!({})), account(json!({ "industrycode": 2 })) ] })),
            "cases[0].actions[0].request.targets[1].industrycode",
            &["Picklist", "write `{\"@option\":2}`"],
        ),
        (
            request(json!({ "message": "CreateMultiple", "targets": [ account(json!({ "ownerid": "@bob" })) ] })),
            "cases[0].actions[0].request.targets[0].ownerid",
            &["{\"@ref\":\"systemuser\",\"id\":\"@bob\"}"],
        ),
        (
            request(json!({ "message": "UpsertMultiple", "targets": [ account(json!({ "nmae": "B" })) ] })),
            "cases[0].actions[0].request.targets[0].nmae",
            &["did you mean `name`?"],
        ),
        (
            request(json!({ "message": "ExecuteMultiple", "requests": [
                { "message": "Create", "target": account(json!({})) },
                { "message": "Create", "target": account(json!({ "industrycode": 3 })) } ] })),
            "cases[0].actions[0].request.requests[1].target.industrycode",
            &["write `{\"@option\":3}`"],
        ),
        (
            request(json!({ "message": "ExecuteTransaction", "requests": [
                { "message": "CreateMultiple", "targets": [ account(json!({ "revenue": 12.5 })) ] } ] })),
            "cases[0].actions[0].request.requests[0].targets[0].revenue",
            &["write `{\"@money\":\"12.5\"}`"],
        ),
        (
            request(
                json!({ "message": "ExecuteMultiple", "requests": [ { "message": "Craete", "target": account(json!({})) } ] }),
            ),
            "cases[0].actions[0].request.requests[0].message",
            &["did you mean `Create`?"],
        ),
        (
            request(json!({ "message": "Merge", "target": { "@ref": "account", "id": "@fabrikam" },
                            "parameters": { "SubordinateId": { "@guid": "@fabrikam" },
                                            "UpdateContent": { "@logicalname": "account", "industrycode": 4 },
                                            "PerformParentingChecks": false } })),
            "cases[0].actions[0].request.parameters.UpdateContent.industrycode",
            &["write `{\"@option\":4}`"],
        ),
        (
            request(json!({ "message": "new_Recalculate",
                            "parameters": { "Amount": { "@money": "1" },
                                            "Rate": [ { "@logicalname": "acount", "name": "x" } ] } })),
            "cases[0].actions[0].request.parameters.Rate[0].@logicalname",
            &["did you mean `account`?"],
        ),
    ];
    for (suite, path, words) in cases {
        let err = refused(suite);
        contains_all(&err, &[&format!("at `{path}`")]);
        contains_all(&err, words);
        assert!(!err.contains("Lookup([") && !err.contains("Some("), "no Rust debug text: {err}");
    }
    // Written as the error says, they load.
    let suite = request(json!({ "message": "ExecuteMultiple", "requests": [
        { "message": "CreateMultiple", "targets": [ account(json!({ "industrycode": { "@option": 2 },
                                                                   "ownerid": { "@ref": "systemuser", "id": "@bob" } })) ] } ] }));
    Suite::from_json(&here("valid.json"), suite).unwrap_or_else(|e| panic!("{e}"));
}
