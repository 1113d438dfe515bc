//! What a case keeps and queues is bounded per case (BOX-5): asynchronous jobs that queue jobs stop at the
//! organization's `maxAsyncJobs`, an exception message is kept to 64 KB at every level it passes through, and the
//! hostile suites run to the end under a 4 GiB address-space limit through the real binary. The suite
//! `tests/conformance/hostile-budget.json` pins the faults of the memory budget.

use std::process::Command;

use serde_json::json;
use xrm_model::{Entity, Request, codes};
use xrm_sandbox::budget::MAX_MESSAGE;
use xrm_sandbox::pipeline::{Event, Session};
use xrm_sandbox::suite::Suite;

use super::{root, scratch, serial};

fn annotation(subject: &str) -> Request {
    let mut note = Entity::new("annotation");
    note.set("subject", subject);
    Request::create(note)
}

/// A suite on the budget organization (`maxAsyncJobs: 300`) with an asynchronous step that creates ten
/// annotations it fires on again ("fork"), and an ordinary asynchronous step that only traces ("leaf").
fn fork_suite() -> Suite {
    let org = root().join("tests/conformance/hostile-budget-org.json");
    let suite = json!({
        "name": "async fork", "org": org,
        "plugins": { "hostile": { "crate": root().join("plugins/hostile") },
                     "probe": { "crate": root().join("plugins/probe") } },
        "steps": [
            { "name": "fork", "plugin": "hostile", "message": "Create", "primaryentity": "annotation", "stage": 40,
              "mode": 1, "configuration": { "attack": "async-fork", "on": "fork", "count": 10 } },
            { "name": "leaf", "plugin": "probe", "message": "Create", "primaryentity": "annotation", "stage": 40,
              "mode": 1, "configuration": { "ops": [ { "when": { "Target.subject": "leaf" },
                                                         "ops": [ { "trace": "leaf job ran" } ] } ] } } ],
        "cases": []
    });
    Suite::from_json(&root().join("tests/async-fork.json"), suite).unwrap_or_else(|e| panic!("{e}"))
}

/// An asynchronous step creating ten records that each queue it again stops at `maxAsyncJobs` with 0x80044182,
/// dropping the jobs left; the case runs its next request and jobs after it.
#[test]
fn box_5_jobs_that_queue_jobs_stop_at_max_async_jobs_and_the_case_carries_on() {
    let _one = serial();
    let suite = fork_suite();
    let alice = suite.pipeline.org().alias("alice").expect("alice");
    let mut session = Session::new(suite.pipeline.clone());

    // Obeyed: one job per create, each ends.
    session.execute(alice, annotation("leaf"), None).expect("a leaf");
    assert_eq!(session.run_async(), Ok(2), "the fork step and the leaf step, one job each");

    // Violated: 10 jobs per job, without end.
    session.execute(alice, annotation("fork"), None).expect("the first fork");
    let fault = session.run_async().expect_err("the bound stops the run");
    assert_eq!(fault.code, codes::INFINITE_LOOP, "{fault}");
    assert!(fault.message.contains("after 300 jobs") && fault.message.contains("maxAsyncJobs"), "{fault}");
    assert_eq!(session.queued_jobs(), 0, "the jobs left are dropped");

    // The case carries on.
    session.execute(alice, annotation("leaf"), None).expect("a leaf after");
    assert_eq!(session.run_async(), Ok(2));
    assert!(session.traces().iter().any(|t| t.text.contains("leaf job ran")));
}

/// Eight nested levels, each failing with 10 MB of its own around the message of the level below: the message
/// of each level, as its caller, the log and the trace records keep it, is at most 64 KB and says it was cut.
#[test]
fn box_5_an_exception_message_is_kept_to_64_kb_at_every_level() {
    let _one = serial();
    let suite = Suite::load(&root().join("tests/conformance/hostile-budget.json")).expect("the suite loads");
    let alice = suite.pipeline.org().alias("alice").expect("alice");
    let mut session = Session::new(suite.pipeline.clone());
    let bound = MAX_MESSAGE + 100;
    let fault = session.execute(alice, annotation("huge-message"), None).expect_err("the levels fail");
    assert_eq!(fault.code, codes::PLUGIN_ABORTED);
    assert!(fault.message.len() <= bound, "{} bytes", fault.message.len());
    assert!(fault.message.ends_with("of this message cut: a message keeps 64 KB]"), "{}", &fault.message[..200]);
    let mut failed = 0;
    for event in session.log() {
        if let Event::Request { outcome: Some(Err(f)), .. } | Event::Step { outcome: Some(Err(f)), .. } = event {
            assert!(f.message.len() <= bound, "a logged fault of {} bytes", f.message.len());
            failed += 1;
        }
    }
    assert!(failed >= 16, "eight steps and eight requests failed: {failed}");
    for trace in session.traces() {
        let kept = trace.exception.as_ref().map_or(0, String::len);
        assert!(kept <= bound + 64, "a trace record keeps {kept} bytes");
        let below = trace.text.lines().filter_map(|l| l.split("got a message of ").nth(1));
        for bytes in below.filter_map(|b| b.split(' ').next()?.parse::<usize>().ok()) {
            assert!(bytes <= bound, "a level got a message of {bytes} bytes");
        }
    }
    session.execute(alice, annotation("ordinary"), None).expect("the next request runs");
}

/// The hostile suites through the real binary with its address space capped at 4 GiB (`ulimit -v`): every case
/// ends with its fault, none with the host out of memory. The component cache starts empty, so the plug-ins are
/// compiled under the limit too: compiled in the runner's own process, they left too little address space for
/// a 50 MB entity or a case thread's stack.
#[test]
fn box_5_the_hostile_suites_pass_under_a_4_gib_address_space_limit() {
    let _one = serial();
    let exe = env!("CARGO_BIN_EXE_xrm-sandbox");
    let cache = scratch("cold-cache");
    let suites = ["hostile-budget.json", "hostile-limits.json", "hostile-queries.json"]
        .map(|s| root().join("tests/conformance").join(s).display().to_string())
        .join(" ");
    let script = format!("ulimit -v 4194304 && exec '{exe}' test --jobs 1 {suites}");
    let out = Command::new("sh").arg("-c").arg(&script).env("XRM_SANDBOX_CACHE_DIR", &cache).output().expect("sh runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&cache);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(" passed, 0 failed"), "{text}");
}
