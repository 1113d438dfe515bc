//! The runner from Rust (`xrm_sandbox::testing`): suites built in code with the fluent builders run through the
//! same loader and runner as suite files, and results, records and traces can be asserted on.

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use serde_json::json;
use xrm_sandbox::suite::report::NodeKind;
use xrm_sandbox::testing::{self, CaseBuilder, OrgBuilder, StepBuilder, SuiteBuilder};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn org() -> OrgBuilder {
    OrgBuilder::new("contoso")
        .business_unit("root", "Contoso")
        .child_business_unit("sales", "Sales", "root")
        .role("salesperson", "Salesperson", [("prvCreateAccount", "Basic"), ("prvReadAccount", "Local")])
        .role("auditor", "Auditor", [("prvCreateNote", "Global"), ("prvReadNote", "Global")])
        .user("alice", "Alice", "sales", ["salesperson"])
        .user("svc", "Service account", "root", ["auditor"])
        .user("eve", "Eve (no roles)", "sales", [])
}

/// A suite on the probe plug-in: a PostOperation step registered to run as @svc, which traces its users and
/// writes a note as the step's user.
fn suite(name: &str) -> SuiteBuilder {
    SuiteBuilder::new(name).relative_to(root()).org(org()).plugin_crate("probe", "plugins/probe").step(
        StepBuilder::new("probe", "Create", 40).name("Audit note").table("account").run_as("svc").configuration(
            json!({
                "ops": [
                    { "trace": "UserId={UserId} InitiatingUserId={InitiatingUserId}" },
                    { "create": { "@logicalname": "annotation", "subject": "note on {Target.name}" }, "as": "user" }
                ]
            }),
        ),
    )
}

fn create_account(name: &str) -> serde_json::Value {
    json!({ "message": "Create", "target": { "@logicalname": "account", "name": name } })
}

#[test]
fn imp_1_a_suite_built_in_code_runs_and_its_assertions_hold() {
    let run = suite("built")
        .case(
            CaseBuilder::new("IMP-1: the step runs as its registered user")
                .request("alice", create_account("Contoso"))
                .save("contoso")
                .assert_traces(json!([{ "step": "Audit note", "contains": "UserId=@svc InitiatingUserId=@alice" }]))
                .assert_records(json!([{ "@logicalname": "annotation", "where": { "subject": "note on Contoso" },
                                         "count": 1, "columns": { "createdby": "@svc" } }])),
        )
        .case(
            CaseBuilder::new("SEC-2: a user without the privilege is refused")
                .request("eve", create_account("Nope"))
                .expect_error(Some("0x80040220"), Some("prvCreateAccount")),
        )
        .run()
        .unwrap();
    run.assert_passed();
    assert_eq!((run.stats.passed, run.stats.failed), (2, 0));

    // The results carry the execution tree: the step ran as @svc on behalf of @alice.
    let case = run.case("IMP-1: the step runs as its registered user").unwrap();
    let step = case.nodes.iter().find_map(|n| match &n.kind {
        NodeKind::Step { user_id, initiating_user_id, .. } => Some((user_id.clone(), initiating_user_id.clone())),
        NodeKind::Request { .. } | NodeKind::Http { .. } => None,
    });
    assert_eq!(step, Some(("@svc".to_owned(), "@alice".to_owned())));
}

#[test]
fn a_failing_case_makes_assert_passed_panic_with_its_report() {
    let run = suite("failing")
        .case(
            CaseBuilder::new("wrong expectation")
                .request("alice", create_account("Contoso"))
                .expect_error(Some("0x80040220"), None),
        )
        .run()
        .unwrap();
    assert_eq!(run.stats.failed, 1);
    let report = std::panic::catch_unwind(|| run.assert_passed()).unwrap_err();
    let report = report.downcast_ref::<String>().unwrap();
    assert!(report.starts_with("0 passed, 1 failed"), "{report}");
    assert!(report.contains("expected an error 0x80040220, got success"), "{report}");
    assert!(report.contains("Create account as @alice"), "the report shows the tree: {report}");
}

#[test]
fn builder_input_is_checked_like_a_file() {
    let bad = SuiteBuilder::new("bad")
        .relative_to(root())
        .org(org().user("bob", "Bob", "sales", ["no-such-role"]))
        .case(CaseBuilder::new("never runs").request("alice", create_account("x")));
    let error = bad.build().err().expect("an unknown role is refused").to_string();
    assert!(error.contains("users[3].roles") && error.contains("@no-such-role"), "{error}");

    let unknown_user = suite("unknown user").case(CaseBuilder::new("c").request("mallory", create_account("x")));
    let error = unknown_user.build().err().expect("an unknown caller is refused").to_string();
    assert!(error.contains("cases[0].actions[0].as") && error.contains("@mallory"), "{error}");
}

#[test]
fn suite_files_run_from_rust() {
    let run = testing::run_files(&[root().join("examples/contoso/suite.json")]).unwrap();
    run.assert_passed();
    assert_eq!(run.stats.passed, 3);
}
