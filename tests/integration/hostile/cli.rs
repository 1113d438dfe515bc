//! Hostile and ordinary plug-ins through the real binary, as users run it: `xrm-sandbox test` and
//! `xrm-sandbox run` give a plug-in the same runtime (timers included) and the same stack as the library and
//! the suite runner do (BOX-5).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use super::{root, scratch, serial};

fn xrm_sandbox(dir: &Path, args: &[&str]) -> (Output, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xrm-sandbox")).current_dir(dir).args(args).output().expect("runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out, text)
}

/// A folder with the conformance organization and a suite registering `hostile` with `configuration` on
/// Create of annotation, and `cases`.
fn suite(name: &str, stage: i32, configuration: Json, cases: Json) -> PathBuf {
    let dir = scratch(name);
    std::fs::copy(root().join("tests/conformance/org.json"), dir.join("org.json")).expect("org");
    let suite = json!({
        "name": name, "org": "org.json",
        "plugins": { "hostile": { "crate": root().join("plugins/hostile") } },
        "steps": [ { "name": name, "plugin": "hostile", "message": "Create", "primaryentity": "annotation",
                     "stage": stage, "configuration": configuration } ],
        "cases": cases,
    });
    std::fs::write(dir.join("suite.json"), serde_json::to_string_pretty(&suite).expect("json")).expect("suite");
    let registrations = json!({ "plugins": suite["plugins"], "steps": suite["steps"] });
    std::fs::write(dir.join("registrations.json"), registrations.to_string()).expect("registrations");
    dir
}

fn create_annotation(subject: &str) -> Json {
    json!({ "message": "Create", "target": { "@logicalname": "annotation", "subject": subject } })
}

/// A plug-in that sleeps 10 ms and then polls the clock, as ordinary code waits, runs under `xrm-sandbox test`
/// and `xrm-sandbox run` as in the library: the suite runtime has timers (it panicked "timers are disabled").
#[test]
fn box_5_a_plugin_that_sleeps_runs_under_the_test_and_run_commands() {
    let _one = serial();
    let cases = json!([ { "name": "naps", "actions": [
        { "as": "@alice", "request": create_annotation("nap") },
        { "assert": { "traces": [ { "contains": "nap: slept at least 10 ms" } ] } } ] } ]);
    let dir = suite("nap", 20, json!({ "attack": "nap", "millis": 10 }), cases);
    let (out, text) = xrm_sandbox(&dir, &["test", "suite.json"]);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("1 passed"), "{text}");
    assert!(!text.contains("panicked"), "{text}");

    let request = create_annotation("nap").to_string();
    let (out, text) =
        xrm_sandbox(&dir, &["run", "--org", "org.json", "-r", "registrations.json", "--as", "@alice", &request]);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("nap: slept at least 10 ms"), "the step slept and said so: {text}");
}

/// Sixteen levels of plug-ins, each deep in WebAssembly recursion when it calls the next, hold all their
/// frames on one host stack at once: `run` gives that thread a case's stack, as `test` does, so the depth
/// fault past `maxDepth` comes back instead of the process aborting on the 8 MiB main thread.
#[test]
fn box_5_deep_recursion_nested_eight_levels_is_a_fault_under_run_and_test() {
    let _one = serial();
    let cases = json!([ { "name": "nests", "actions": [
        { "as": "@alice", "request": create_annotation("deep"), "expect": { "error": { "code": "0x80044182" } } },
        { "as": "@alice", "request": create_annotation("after") } ] } ]);
    let dir = suite("deep-nest", 20, json!({ "attack": "deep-nest", "on": "deep", "frames": DEEP_FRAMES }), cases);
    let mut org: Json = serde_json::from_str(&std::fs::read_to_string(dir.join("org.json")).unwrap()).unwrap();
    org["settings"]["maxDepth"] = json!(16);
    std::fs::write(dir.join("org.json"), org.to_string()).unwrap();
    let started = Instant::now();
    let (out, text) = xrm_sandbox(&dir, &["test", "suite.json"]);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("1 passed"), "{text}");

    let request = create_annotation("deep").to_string();
    let (out, text) =
        xrm_sandbox(&dir, &["run", "--org", "org.json", "-r", "registrations.json", "--as", "@alice", &request]);
    assert_eq!(out.status.code(), Some(1), "a failed request, not a crash: {text}");
    assert!(text.contains("0x80044182"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(60), "{:?}", started.elapsed());
}

/// Frames of the `deep-nest` attack per level: three quarters of the 1 MiB WebAssembly stack of an execution
/// (16,500 overflow it), so that sixteen levels need more than the 8 MiB of a process's main thread.
const DEEP_FRAMES: u64 = 12_000;

/// The library's own entry, called from inside an async runtime built without timers (as an application's
/// might be): the request moves to a case thread, and the sleeping plug-in runs as under `test`.
#[test]
fn box_5_a_plugin_that_sleeps_runs_through_the_library_inside_a_runtime_without_timers() {
    let _one = serial();
    let dir = suite("nap-library", 20, json!({ "attack": "nap", "millis": 10 }), json!([]));
    let suite = xrm_sandbox::suite::Suite::load(&dir.join("suite.json")).expect("the suite loads");
    let alice = suite.pipeline.org().alias("alice").expect("alice");
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime without timers");
    let mut session = xrm_sandbox::pipeline::Session::new(suite.pipeline.clone());
    let mut note = xrm_model::Entity::new("annotation");
    note.set("subject", "nap");
    let result = runtime.block_on(async { session.execute(alice, xrm_model::Request::create(note), None) });
    assert!(result.is_ok(), "{result:?}");
    assert!(session.traces().iter().any(|t| t.text.contains("nap: slept at least 10 ms")), "the step slept");
}
