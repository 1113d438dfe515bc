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
