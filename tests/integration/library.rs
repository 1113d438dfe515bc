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
        NodeKind::Request { .. } | NodeKind::Http { .. } | NodeKind::RunAsync { .. } => None,
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

/// Two cases for `case_tests!`: one test each.
fn per_case_suite() -> SuiteBuilder {
    suite("per case")
        .case(
            CaseBuilder::new("IMP-1: alice's account gets a note by @svc")
                .request("alice", create_account("One"))
                .assert_records(
                    json!([{ "@logicalname": "annotation", "count": 1, "columns": { "createdby": "@svc" } }]),
                ),
        )
        .case(
            CaseBuilder::new("SEC-2: eve is refused")
                .request("eve", create_account("Two"))
                .expect_error(Some("0x80040220"), None),
        )
}

xrm_sandbox::case_tests! { per_case_suite();
    case_tests_runs_the_first_case_alone => "IMP-1: alice's account gets a note by @svc",
    case_tests_runs_the_second_case_alone => "SEC-2: eve is refused",
}

#[test]
fn assert_case_fails_on_an_unknown_case_naming_the_cases_there_are() {
    let caught = std::panic::catch_unwind(|| testing::assert_case(per_case_suite(), "no such case"));
    let message = caught.err().and_then(|p| p.downcast_ref::<String>().cloned()).unwrap_or_default();
    assert!(message.contains("no case named `no such case`") && message.contains("SEC-2: eve is refused"), "{message}");
}

#[test]
fn a_failing_case_is_reported_at_the_callers_line() {
    let failing = suite("fails")
        .case(CaseBuilder::new("wrong").request("alice", create_account("x")).expect_error(Some("0x80040220"), None));
    let location = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let seen = location.clone();
    let previous = std::panic::take_hook();
    let this = std::thread::current().id();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() != this {
            return;
        }
        if let Some(l) = info.location() {
            *seen.lock().unwrap() = format!("{}:{}", l.file(), l.line());
        }
    }));
    let line = line!() + 1;
    let caught = std::panic::catch_unwind(|| testing::assert_case(&failing, "wrong"));
    std::panic::set_hook(previous);
    assert!(caught.is_err());
    let location = location.lock().unwrap().clone();
    assert!(location.ends_with(&format!("library.rs:{line}")), "#[track_caller]: {location}");
}

#[test]
fn pipe_18_a_step_built_in_code_names_the_plug_in_type_it_runs() {
    let org = OrgBuilder::new("numbers").business_unit("root", "Contoso").role(
        "salesperson",
        "Salesperson",
        [("prvCreateAccount", "Basic"), ("prvReadAccount", "Local")],
    );
    let run = SuiteBuilder::new("types")
        .relative_to(root())
        .org(org.user("alice", "Alice", "root", ["salesperson"]))
        .plugin_crate("followup", "plugins/followup")
        .step(
            StepBuilder::new("followup", "Create", 20)
                .name("Account number")
                .table("account")
                .plugin_type("AccountNumber")
                .configuration("N"),
        )
        .case(
            CaseBuilder::new("PIPE-18: the named type runs")
                .request("alice", create_account("Fabrikam"))
                .assert_records(json!([{ "@logicalname": "account", "where": { "name": "Fabrikam" }, "count": 1,
                                         "columns": { "accountnumber": "N-FABRIKAM" } }])),
        )
        .run()
        .unwrap();
    run.assert_passed();
}
