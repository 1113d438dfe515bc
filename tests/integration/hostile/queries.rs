//! Forged QueryExpressions through the raw interface, measured: each is refused at once, in time and memory
//! bounded by what the plug-in sent (BOX-5); the suite `tests/conformance/hostile-queries.json` pins the faults.

use std::process::Command;
use std::time::{Duration, Instant};

use xrm_sandbox::suite::{self, Suite};

use super::{peak_rss, root, serial};

fn queries_suite() -> Suite {
    Suite::load(&root().join("tests/conformance/hostile-queries.json")).expect("the suite loads")
}

/// Runs in a process of its own (the parent test starts it), so that no other test's memory counts.
#[test]
fn box_5_forged_query_child() {
    if !crate::is_child("hostile::queries::box_5_forged_query_child") {
        return;
    }
    let suite = queries_suite();
    let case = |name: &str| suite.cases.iter().find(|c| c.name.contains(name)).expect("the case");
    // Warm up: the engine, the pool, the plug-in, one refusal.
    assert!(suite::run_case(&suite, case("child listed twice")).passed);
    let before = peak_rss();
    let started = Instant::now();
    let result = suite::run_case(&suite, case("a million times"));
    let took = started.elapsed();
    assert!(result.passed, "{:?}\n{}", result.failures, result.tree);
    let grown = peak_rss().saturating_sub(before);
    println!("a filter naming itself a million times: refused in {took:?}, peak RSS grew by {} KiB", grown / 1024);
    // The plug-in sends 4 MB; the host copies it once (the WIT list) and stops at the first repeat.
    assert!(grown < 64 << 20, "peak RSS grew by {} MiB", grown >> 20);
    assert!(took < Duration::from_secs(2), "within the step's 2 s limit: {took:?}");
}

#[test]
fn box_5_a_filter_naming_itself_a_million_times_costs_what_was_sent_and_no_more() {
    let text = crate::in_child("hostile::queries::box_5_forged_query_child");
    assert!(text.contains("peak RSS grew by"), "the child measured: {text}");
}

/// The CLI path: the same suite through the binary, every forged shape refused and the host alive for the
/// ordinary request after each.
#[test]
fn box_5_forged_queries_through_xrm_sandbox_test() {
    let _one = serial();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_xrm-sandbox"))
        .arg("test")
        .arg(root().join("tests/conformance/hostile-queries.json"))
        .output()
        .expect("runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("10 passed, 0 failed"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
}
