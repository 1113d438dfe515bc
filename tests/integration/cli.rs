//! The `xrm-sandbox` binary as users run it: exit codes 0/1/2, and bad input reported as one clear message
//! naming the file and the JSON path, with nothing run.

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn xrm_sandbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xrm-sandbox")).args(args).output().expect("the binary runs")
}

fn conformance(file: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance").join(file).display().to_string()
}

/// Writes `files` into a fresh folder beside a copy of the conformance organization.
fn scratch(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xrm-sandbox-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::copy(conformance("org.json"), dir.join("org.json")).expect("copy org");
    for (file, text) in files {
        std::fs::write(dir.join(file), text).expect("write file");
    }
    dir
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const PROBE: &str = r#"{ "probe": { "crate": "PROBE_DIR" } }"#;

fn probe_plugins() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/probe");
    PROBE.replace("PROBE_DIR", &dir.display().to_string())
}

#[test]
fn passing_suite_exits_0_with_the_closing_line() {
    let out = xrm_sandbox(&["test", &conformance("identity.json"), "--filter", "IMP-2"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let last = stdout(&out).lines().last().unwrap_or_default().to_owned();
    assert!(last.starts_with("2 passed, 0 failed, "), "{last}");
}

#[test]
fn failing_case_exits_1_and_shows_expected_actual_and_the_execution_tree() {
    let suite = r#"{ "name": "fails", "org": "org.json", "cases": [ { "name": "wrong expectation",
        "actions": [ { "as": "@alice", "request": { "message": "Create", "target": { "@logicalname": "account", "name": "x" } },
                       "expect": { "error": { "code": "0x80040220" } } } ] } ] }"#;
    let dir = scratch("fails", &[("suite.json", suite)]);
    let out = xrm_sandbox(&["test", &dir.join("suite.json").display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("expected an error 0x80040220, got success"), "{text}");
    assert!(text.contains("Create account as @alice"), "{text}");
    assert!(text.ends_with("0 passed, 1 failed\nFailed cases:\n  fails::wrong expectation\n      action 0: expected an error 0x80040220, got success\n"), "{text}");
}

/// Bad input: exit 2, one message naming the file and the JSON path, no case run.
fn refused(name: &str, files: &[(&str, &str)], file: &str, expected: &[&str]) {
    let dir = scratch(name, files);
    let out = xrm_sandbox(&["test", &dir.join("suite.json").display().to_string()]);
    assert_eq!(out.status.code(), Some(2), "{name}: {}{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&dir.join(file).display().to_string()), "{name}: the message names the file: {err}");
    for e in expected {
        assert!(err.contains(e), "{name}: expected {e:?} in {err}");
    }
    assert!(!stdout(&out).contains("PASS") && !stdout(&out).contains("FAIL"), "{name}: nothing ran");
}

#[test]
fn a_syntax_error_in_a_suite_is_refused() {
    refused(
        "syntax",
        &[("suite.json", r#"{ "name": "x", "org": "org.json", "cases": [ }"#)],
        "suite.json",
        &["invalid JSON", "line 1"],
    );
}

#[test]
fn an_unknown_key_in_a_suite_is_refused_with_its_path() {
    let suite = r#"{ "name": "x", "org": "org.json", "cases": [ { "name": "c", "actions": [
        { "as": "@alice", "request": { "message": "Create", "target": { "@logicalname": "account" } }, "expcet": {} } ] } ] }"#;
    refused("typo", &[("suite.json", suite)], "suite.json", &["cases[0].actions[0]", "expcet"]);
}

#[test]
fn an_unknown_alias_is_refused_with_its_path() {
    let suite = r#"{ "name": "x", "org": "org.json", "cases": [ { "name": "c", "actions": [
        { "as": "@alcie", "request": { "message": "Create", "target": { "@logicalname": "account" } } } ] } ] }"#;
    refused("alias", &[("suite.json", suite)], "suite.json", &["cases[0].actions[0].as", "unknown alias `@alcie`"]);
}

#[test]
fn an_unknown_alias_in_the_organization_is_refused_with_its_path() {
    let org = r#"{ "name": "o", "businessunits": [ { "@alias": "root", "name": "R" } ],
                   "users": [ { "@alias": "u", "businessunit": "@nowhere" } ] }"#;
    let suite = r#"{ "name": "x", "org": "bad-org.json", "cases": [] }"#;
    refused(
        "org-alias",
        &[("bad-org.json", org), ("suite.json", suite)],
        "bad-org.json",
        &["users[0].businessunit", "unknown alias `@nowhere`"],
    );
}

#[test]
fn an_unknown_plugin_is_refused() {
    let suite = format!(
        r#"{{ "name": "x", "org": "org.json", "plugins": {}, "steps": [ {{ "plugin": "prbe", "message": "Create", "stage": 20 }} ], "cases": [] }}"#,
        probe_plugins()
    );
    refused("plugin", &[("suite.json", &suite)], "suite.json", &["steps[0].plugin", "unknown plug-in `prbe`"]);
}

#[test]
fn a_registration_with_a_bad_stage_is_refused_naming_the_step_and_the_rule() {
    let suite = format!(
        r#"{{ "name": "x", "org": "org.json", "plugins": {}, "steps": [ {{ "name": "odd", "plugin": "probe", "message": "Create", "stage": 25 }} ], "cases": [] }}"#,
        probe_plugins()
    );
    refused("stage", &[("suite.json", &suite)], "suite.json", &["steps[0].stage", "step `odd`", "PIPE-2"]);
}

#[test]
fn pipe_2_pipe_8_registrations_breaking_the_rules_are_refused() {
    let cases = [
        (r#"{ "plugin": "probe", "message": "Create", "stage": 20, "mode": 1 }"#, "only at stage 40"),
        (r#"{ "plugin": "probe", "message": "Create", "stage": 30 }"#, "custom messages"),
        (
            r#"{ "plugin": "probe", "message": "new_Recalculate", "stage": 30 }, { "plugin": "probe", "message": "new_Recalculate", "stage": 30 }"#,
            "already has its stage-30 plug-in",
        ),
        (
            r#"{ "plugin": "probe", "message": "Create", "stage": 40, "images": [ { "entityalias": "pre", "imagetype": 0 } ] }"#,
            "pre-image is not available on Create",
        ),
        (
            r#"{ "plugin": "probe", "message": "Delete", "stage": 40, "images": [ { "entityalias": "post", "imagetype": 1 } ] }"#,
            "post-image is not available on Delete",
        ),
        (
            r#"{ "plugin": "probe", "message": "Update", "stage": 20, "images": [ { "entityalias": "post", "imagetype": 1 } ] }"#,
            "only at stage 40",
        ),
    ];
    for (i, (step, rule)) in cases.iter().enumerate() {
        let suite = format!(
            r#"{{ "name": "x", "org": "org.json", "plugins": {}, "steps": [ {step} ], "cases": [] }}"#,
            probe_plugins()
        );
        refused(&format!("rule-{i}"), &[("suite.json", &suite)], "suite.json", &["steps[", rule]);
    }
}

#[test]
fn a_missing_file_is_refused() {
    let out = xrm_sandbox(&["test", "/nonexistent/suite.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/suite.json"));
}

#[test]
fn sec_1_an_unknown_privilege_or_depth_in_the_organization_is_refused() {
    let org = r#"{ "name": "o", "businessunits": [ { "@alias": "root", "name": "R" } ],
                   "roles": [ { "@alias": "r", "name": "R", "privileges": { "prvReadAcount": "Basic" } } ], "users": [] }"#;
    let suite = r#"{ "name": "x", "org": "bad-org.json", "cases": [] }"#;
    refused(
        "privilege",
        &[("bad-org.json", org), ("suite.json", suite)],
        "bad-org.json",
        &["roles[0].privileges.prvReadAcount", "unknown privilege"],
    );
    let org = r#"{ "name": "o", "businessunits": [ { "@alias": "root", "name": "R" } ],
                   "roles": [ { "@alias": "r", "name": "R", "privileges": { "prvReadAccount": "Everywhere" } } ], "users": [] }"#;
    refused(
        "depth",
        &[("bad-org.json", org), ("suite.json", suite)],
        "bad-org.json",
        &["roles", "unknown privilege depth `Everywhere`"],
    );
}

#[test]
fn org_4_a_role_given_to_an_access_team_is_refused() {
    let org = r#"{ "name": "o", "businessunits": [ { "@alias": "root", "name": "R" } ],
                   "roles": [ { "@alias": "r", "name": "R", "privileges": { "prvReadAccount": "Basic" } } ], "users": [],
                   "teams": [ { "@alias": "t", "name": "T", "businessunit": "@root", "teamtype": "Access", "roles": ["@r"] } ] }"#;
    let suite = r#"{ "name": "x", "org": "bad-org.json", "cases": [] }"#;
    refused(
        "access-team",
        &[("bad-org.json", org), ("suite.json", suite)],
        "bad-org.json",
        &["teams[0].roles", "access team holds no security roles", "0x80048331"],
    );
}

#[test]
fn org_1_business_units_must_form_one_tree() {
    let suite = r#"{ "name": "x", "org": "bad-org.json", "cases": [] }"#;
    let two_roots = r#"{ "name": "o", "businessunits": [ { "@alias": "a", "name": "A" }, { "@alias": "b", "name": "B" } ], "users": [] }"#;
    refused(
        "two-roots",
        &[("bad-org.json", two_roots), ("suite.json", suite)],
        "bad-org.json",
        &["businessunits[1]", "second root"],
    );
    let cycle = r#"{ "name": "o", "businessunits": [ { "@alias": "r", "name": "R" }, { "@alias": "a", "name": "A", "parent": "@b" },
                     { "@alias": "b", "name": "B", "parent": "@a" } ], "users": [] }"#;
    refused(
        "cycle",
        &[("bad-org.json", cycle), ("suite.json", suite)],
        "bad-org.json",
        &["businessunits[1].parent", "cycle"],
    );
}
