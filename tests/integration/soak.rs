//! Parallel soak: 10,000 cases across all cores, each a different user writing and reading its own records
//! through plug-ins that make nested calls. No case sees another's data (each starts from its own copy of
//! the organization, and Basic depth hides other users' rows), nothing deadlocks, and memory stays flat: the
//! resident set after 10,000 finished cases is no larger than after 1,000, give or take allocator noise.
//!
//! It runs in a child process of its own, so no other test shares the process whose memory it reads.

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use serde_json::json;
use xrm_sandbox::suite::{self, Event, RunOptions};
use xrm_sandbox::testing::{CaseBuilder, OrgBuilder, StepBuilder, SuiteBuilder};

const USERS: usize = 50;
const CASES: usize = 10_000;

/// Resident memory now, from /proc (Linux).
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<f64>().unwrap() / 1024.0
}

fn org() -> OrgBuilder {
    let mut org = OrgBuilder::new("soak").business_unit("root", "Root").role(
        "owner",
        "Owner",
        [
            ("prvCreateAccount", "Basic"),
            ("prvReadAccount", "Basic"),
            ("prvWriteAccount", "Basic"),
            ("prvCreateActivity", "Basic"),
            ("prvReadActivity", "Basic"),
            ("prvCreateNote", "Basic"),
            ("prvReadNote", "Basic"),
        ],
    );
    for u in 0..USERS {
        org = org.user(&format!("u{u}"), &format!("User {u}"), "root", ["owner"]);
    }
    org
}

/// Creating an account makes a task (as the caller) whose own step writes a note and reads the tasks back:
/// two levels of nested calls per request.
fn steps() -> [StepBuilder; 2] {
    let on_account = StepBuilder::new("probe", "Create", 40).name("task for account").table("account").configuration(
        json!({ "ops": [ { "create": { "@logicalname": "task", "subject": "{Target.name}" }, "as": "user" } ] }),
    );
    let on_task = StepBuilder::new("probe", "Create", 40).name("note for task").table("task").configuration(json!({
        "ops": [
            { "create": { "@logicalname": "annotation", "subject": "note {Target.subject}" }, "as": "initiating" },
            { "retrievemultiple": { "entityname": "task", "columns": ["subject"] }, "as": "user", "trace": true }
        ]
    }));
    [on_account, on_task]
}

fn case(i: usize) -> CaseBuilder {
    let user = format!("u{}", i % USERS);
    let name = format!("account {i}");
    let mine = |table: &str, column: &str, value: &str| json!({ "@logicalname": table, "where": { column: value } });
    CaseBuilder::new(&format!("case {i}"))
        .request(&user, json!({ "message": "Create", "target": { "@logicalname": "account", "name": name } }))
        .save("mine")
        .request(
            &user,
            json!({ "message": "RetrieveMultiple",
                    "query": { "entityname": "account", "columns": ["name"] } }),
        )
        .expect_output(json!({ "count": 1 }))
        .request(
            &user,
            json!({ "message": "RetrieveMultiple", "query": { "entityname": "task", "columns": ["subject"] } }),
        )
        .expect_output(json!({ "count": 1 }))
        .assert_records(json!([
            { "@logicalname": "account", "count": 1 },
            { "@logicalname": "task", "count": 1 },
            { "@logicalname": "annotation", "count": 1 },
            mine("account", "name", &name),
            mine("task", "subject", &name),
            { "@logicalname": "annotation", "where": { "subject": format!("note {name}") }, "count": 1,
              "columns": { "createdby": format!("@{user}") } }
        ]))
}

#[test]
fn soak_10000_parallel_cases_stay_isolated_and_memory_stays_flat() {
    let text = crate::in_child("soak::soak_child");
    assert!(text.contains("soak: 10000 cases"), "the child measured: {text}");
}

#[test]
fn soak_child() {
    if !crate::is_child("soak::soak_child") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let [on_account, on_task] = steps();
    let mut builder =
        SuiteBuilder::new("soak").relative_to(&root).org(org()).plugin_crate("probe", "plugins/probe").step(on_account);
    builder = builder.step(on_task);
    for i in 0..CASES {
        builder = builder.case(case(i));
    }
    let suite = builder.build().unwrap_or_else(|e| panic!("{e}"));

    let (mut finished, mut failed) = (0usize, Vec::new());
    let (mut at_1000, mut at_10000) = (0.0, 0.0);
    let options = RunOptions::default();
    let stats = suite::run(vec![suite], &options, |event| {
        if let Event::CaseFinished(r) = event {
            finished += 1;
            if !r.passed && failed.len() < 3 {
                failed.push(format!("{}: {}\n{}", r.case, r.failures.join("\n"), r.tree));
            }
            if finished == 1_000 {
                at_1000 = rss_mib();
            }
            if finished == CASES {
                at_10000 = rss_mib();
            }
        }
    });
    assert!(failed.is_empty(), "{} failed; first:\n{}", stats.failed, failed.join("\n"));
    assert_eq!(stats.passed, CASES);
    println!(
        "soak: {CASES} cases on {} jobs; RSS {at_1000:.0} MiB at 1,000, {at_10000:.0} MiB at 10,000",
        options.jobs
    );
    // Finished cases must not pile up: allow allocator noise, not growth with the case count.
    assert!(at_10000 < at_1000 + 24.0, "memory grew from {at_1000:.0} MiB to {at_10000:.0} MiB");
}
