//! Hostile plug-ins, measured: the time limit holds within 100 ms whether the plug-in spins, sleeps in the host,
//! calls the service a million times or waits on a nested plug-in (BOX-3, PIPE-12); 100 MB of trace does not
//! grow the host's memory (PIPE-13); a suite naming a component that does not fit is refused before anything
//! runs (BOX-4). The outcomes themselves are pinned by the suites `tests/conformance/hostile-*.json`.

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use xrm_model::{Entity, Fault, ParameterValue, Request, Response, Uuid, codes, messages};
use xrm_sandbox::context::ExecutionContext;
use xrm_sandbox::sandbox::{FailureKind, Limits, Outcome, Plugin, PluginHost, Sandbox};
use xrm_sandbox::suite::{self, Suite, report};

mod budget;
mod cli;
mod files;
mod queries;

/// The time limit of the timing tests, as a suite's `"timeoutseconds": 0.3`.
const LIMIT: Duration = Duration::from_millis(300);
/// How late past the limit an execution may return (issue 7).
const GRACE: Duration = Duration::from_millis(100);

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub(crate) fn component(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, path)) = built.iter().find(|(n, _)| n == name) {
        return path.clone();
    }
    let path = xrm_sandbox::build::plugin_crate(&root().join("plugins").join(name)).expect("the plug-in builds");
    built.push((name.to_owned(), path.clone()));
    path
}

/// The tests run one at a time: on a small machine, a spinning plug-in or a busy child process would slow the
/// others' clocks down.
pub(crate) fn serial() -> std::sync::MutexGuard<'static, ()> {
    crate::exclusive()
}

fn context() -> ExecutionContext {
    ExecutionContext::new("Create", "annotation", Uuid::from_u128(7))
}

fn config(json: &str) -> (Option<String>, Option<String>) {
    (Some(json.to_owned()), None)
}

fn limits(timeout: Duration) -> Limits {
    Limits { timeout, ..Limits::default() }
}

/// Answers every Retrieve with a small record at once, as cheaply as a host can.
struct Quick;

impl PluginHost for Quick {
    fn call(
        &mut self,
        _: &std::sync::Arc<ExecutionContext>,
        _: Option<Uuid>,
        request: Request,
    ) -> Result<Response, Fault> {
        let target = request.target_reference().ok_or_else(|| Fault::new(codes::INVALID_ARGUMENT, "no target"))?;
        let mut entity = Entity::with_id(target.logical_name, target.id);
        entity.set("fullname", "Someone");
        Ok(Response::new(request.message).with(messages::ENTITY, ParameterValue::from(entity)))
    }
}

fn sandbox<H: PluginHost>() -> Sandbox<H> {
    Sandbox::new().expect("the engine starts")
}

/// Runs `plugin` and checks it stopped at the time limit, no later than `LIMIT + GRACE` after it started.
fn assert_stopped_in_time<H>(what: &str, run: impl FnOnce() -> Outcome<H>) -> Outcome<H> {
    let started = Instant::now();
    let out = run();
    let wall = started.elapsed();
    let failure = out.result.as_ref().err().unwrap_or_else(|| panic!("{what}: finished: {}", out.trace));
    assert_eq!(failure.kind, FailureKind::Timeout, "{what}: {:?}\n{}", failure.fault, out.trace);
    assert_eq!(failure.fault.code, codes::PLUGIN_TIMEOUT, "{what}");
    assert!(wall >= LIMIT, "{what}: stopped before the limit, after {wall:?}");
    assert!(wall <= LIMIT + GRACE, "{what}: returned {wall:?} after it started, more than {LIMIT:?} + {GRACE:?}");
    assert!(out.duration <= LIMIT + GRACE, "{what}: reported {:?}", out.duration);
    out
}

#[test]
fn box_3_pipe_12_an_endless_loop_returns_within_the_limit_plus_100_ms() {
    let _one = serial();
    let sandbox = sandbox::<Quick>();
    let probe = sandbox.load("probe", &component("probe")).expect("probe");
    for _ in 0..3 {
        assert_stopped_in_time("spin", || {
            sandbox.execute(&probe, context(), config(r#"{"ops": [{"spin": true}]}"#), limits(LIMIT), Quick)
        });
    }
}

#[test]
fn box_3_pipe_12_a_plugin_asleep_in_the_host_returns_within_the_limit_plus_100_ms() {
    let _one = serial();
    let sandbox = sandbox::<Quick>();
    let hostile = sandbox.load("hostile", &component("hostile")).expect("hostile");
    let out = assert_stopped_in_time("sleep", || {
        sandbox.execute(&hostile, context(), config(r#"{"attack": "sleep", "seconds": 3600}"#), limits(LIMIT), Quick)
    });
    assert!(!out.trace.contains("woke after 3600"), "{}", out.trace);
}

#[test]
fn box_3_pipe_12_a_million_service_calls_in_a_loop_return_within_the_limit_plus_100_ms() {
    let _one = serial();
    let sandbox = sandbox::<Quick>();
    let hostile = sandbox.load("hostile", &component("hostile")).expect("hostile");
    let attack = r#"{"attack": "call-loop", "count": 1000000}"#;
    let out = assert_stopped_in_time("call-loop", || {
        sandbox.execute(&hostile, context(), config(attack), limits(LIMIT), Quick)
    });
    assert!(!out.trace.contains("calls made"), "the loop was stopped before its end: {}", out.trace);
}

/// A host whose every call runs another plug-in (an endless loop) with the default two-minute limit, as a
/// pipeline runs a nested step for a plug-in's service call.
struct Nested {
    sandbox: Arc<Sandbox<Quick>>,
    inner: Arc<Plugin<Quick>>,
    inner_failures: Vec<FailureKind>,
}

impl PluginHost for Nested {
    fn call(&mut self, _: &std::sync::Arc<ExecutionContext>, _: Option<Uuid>, _: Request) -> Result<Response, Fault> {
        let ops = config(r#"{"ops": [{"spin": true}]}"#);
        let out = self.sandbox.execute(&self.inner, context(), ops, Limits::default(), Quick);
        match out.result {
            Ok(()) => Ok(Response::new("Retrieve")),
            Err(f) => {
                self.inner_failures.push(f.kind);
                Err(f.fault)
            }
        }
    }
}

#[test]
fn box_3_pipe_12_a_nested_plugin_with_a_longer_limit_stops_at_its_callers_deadline() {
    let _one = serial();
    let inner_sandbox = Arc::new(sandbox::<Quick>());
    let inner = inner_sandbox.load("probe", &component("probe")).expect("probe");
    let outer_sandbox = sandbox::<Nested>();
    let hostile = outer_sandbox.load("hostile", &component("hostile")).expect("hostile");
    let host = Nested { sandbox: inner_sandbox, inner, inner_failures: Vec::new() };
    let attack = r#"{"attack": "call-loop", "count": 1}"#;
    let out = assert_stopped_in_time("nested spin", || {
        outer_sandbox.execute(&hostile, context(), config(attack), limits(LIMIT), host)
    });
    assert_eq!(out.host.inner_failures, [FailureKind::Timeout], "the nested plug-in stopped at the same deadline");
    // The deadline does not outlive the execution: the next one on this thread has its own full limit.
    let probe = outer_sandbox.load("probe", &component("probe")).expect("probe");
    let ops = config(r#"{"ops": [{"trace": "after"}]}"#);
    let host = Nested { inner_failures: Vec::new(), ..out.host };
    let after = outer_sandbox.execute(&probe, context(), ops, limits(LIMIT), host);
    assert!(after.result.is_ok(), "{:?}", after.result.err());
}

#[test]
fn box_3_pipe_12_the_suites_endless_loop_step_stops_within_its_timeoutseconds_plus_100_ms() {
    let _one = serial();
    let suite = Suite::load(&root().join("tests/conformance/hostile-limits.json")).expect("the suite loads");
    let case = suite.cases.iter().find(|c| c.name.contains("endless loop")).expect("the endless loop case");
    let result = suite::run_case(&suite, case);
    assert!(result.passed, "{}\n{}", result.failures.join("\n"), result.tree);
    let step = result
        .nodes
        .iter()
        .find(|n| {
            matches!(&n.kind, report::NodeKind::Step { name, .. } if name == "endless loop")
                && matches!(n.outcome, report::Outcome::Failed { .. })
        })
        .unwrap_or_else(|| panic!("the endless loop step ran and failed:\n{}", result.tree));
    assert!(step.duration >= LIMIT && step.duration <= LIMIT + GRACE, "{:?}\n{}", step.duration, result.tree);
}

/// Peak resident memory of this process, from `/proc/self/status`.
pub(crate) fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    let kb: u64 = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a number of kB");
    kb * 1024
}

/// Runs in a process of its own (the parent test starts it), so that no other test's memory counts.
#[test]
fn pipe_13_rss_child() {
    if !crate::is_child("hostile::pipe_13_rss_child") {
        return;
    }
    let sandbox = sandbox::<Quick>();
    let hostile = sandbox.load("hostile", &component("hostile")).expect("hostile");
    let run = |attack: &str| sandbox.execute(&hostile, context(), config(attack), Limits::default(), Quick);
    // Warm up: the engine, the pool, the first instance, 1 MB through each path.
    for via in ["trace", "stdout"] {
        let out = run(&format!(r#"{{"attack": "trace-flood", "bytes": 1048576, "via": "{via}"}}"#));
        assert!(out.result.is_ok(), "{:?}", out.result.err());
    }
    let before = peak_rss();
    for via in ["trace", "stdout", "stderr"] {
        let out = run(&format!(r#"{{"attack": "trace-flood", "bytes": 104857600, "via": "{via}"}}"#));
        assert!(out.result.is_ok(), "100 MB via {via}: {:?}\n{}", out.result.err(), out.trace);
        let end = format!("trace-flood: the end, after 104857600 bytes via {via}");
        assert!(out.trace.trim_end().ends_with(&end), "the end is kept (via {via})");
        assert!(out.trace.len() <= 2 * (64 << 10) + 1, "via {via}: {} bytes kept", out.trace.len());
    }
    let grown = peak_rss().saturating_sub(before);
    println!("peak RSS grew by {} KiB over 300 MB of output", grown / 1024);
    assert!(grown < 16 << 20, "300 MB of output grew the host's peak RSS by {} MiB", grown >> 20);
}

#[test]
fn pipe_13_box_3_a_100_mb_trace_does_not_grow_host_memory() {
    let text = crate::in_child("hostile::pipe_13_rss_child");
    assert!(text.contains("peak RSS grew by"), "the child measured: {text}");
}

pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xrm-sandbox-hostile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// BOX-4 at the suite level: each component that does not fit stops the suite before any case runs, with exit
/// code 2 and a message naming the plug-in, its file and the problem.
#[test]
fn box_4_a_suite_naming_a_component_that_does_not_fit_is_refused_with_exit_2() {
    let _one = serial();
    let dir = scratch("box4");
    let org = std::fs::read_to_string(root().join("tests/conformance/org.json")).expect("org");
    std::fs::write(dir.join("org.json"), org).expect("org");
    let hostile = std::fs::read(component("hostile")).expect("hostile bytes");
    let core = wat::parse_str("(module)").expect("wat");
    let other_version = wat::parse_str(
        r#"(component (import "xrm:plugin/tracing-service@0.1.0" (instance (export "trace" (func (param "message" string))))))"#,
    )
    .expect("wat");
    let cases: [(&str, Vec<u8>, &str); 6] = [
        ("random", b"\x13\x37 definitely not WebAssembly".to_vec(), "not a WebAssembly file"),
        ("empty", Vec::new(), "not a WebAssembly file"),
        ("truncated", hostile[..hostile.len() / 3].to_vec(), "not a valid component"),
        ("core", core, "core WebAssembly module, not a component"),
        ("no-export", wat::parse_str("(component)").expect("wat"), "xrm:plugin/plugin@0.2.0"),
        ("other-version", other_version, "rebuild the plug-in with the current SDK"),
    ];
    for (name, bytes, problem) in cases {
        let file = format!("{name}.wasm");
        std::fs::write(dir.join(&file), bytes).expect("component");
        let suite = format!(
            r#"{{ "name": "box-4 {name}", "org": "org.json", "plugins": {{ "bad": "{file}" }},
                 "steps": [ {{ "plugin": "bad", "message": "Create", "primaryentity": "account", "stage": 20 }} ],
                 "cases": [ {{ "name": "never runs", "actions": [] }} ] }}"#
        );
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, suite).expect("suite");
        let out = Command::new(env!("CARGO_BIN_EXE_xrm-sandbox")).arg("test").arg(&path).output().expect("runs");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(2), "{name}: {text}");
        assert!(text.contains("plug-in `bad`") && text.contains(&file) && text.contains(problem), "{name}: {text}");
        assert!(!text.contains("never runs"), "{name}: no case ran: {text}");
    }
}

/// A plug-in calling the service in a loop fills the case's log up to its cap and no further: the host keeps
/// at most `MAX_LOG_EVENTS` events and says how many it left out (BOX-3).
#[test]
fn box_3_a_service_call_loop_fills_the_log_only_up_to_its_cap() {
    let _one = serial();
    let org = root().join("tests/conformance/org.json");
    let suite = serde_json::json!({
        "name": "log cap", "org": org,
        "plugins": { "hostile": { "crate": root().join("plugins/hostile") } },
        "steps": [ { "name": "loop", "plugin": "hostile", "message": "Create", "primaryentity": "account", "stage": 40,
                     "configuration": { "attack": "call-loop", "count": 12000 } } ],
        "cases": [ { "name": "loop", "actions": [
            { "as": "@alice", "request": { "message": "Create", "target": { "@logicalname": "account", "name": "x" } } } ] } ]
    });
    let suite = Suite::from_json(&root().join("tests/log-cap.json"), suite).unwrap_or_else(|e| panic!("{e}"));
    let result = suite::run_case(&suite, &suite.cases[0]);
    assert!(result.passed, "{:?}", result.failures);
    let cap = xrm_sandbox::pipeline::MAX_LOG_EVENTS;
    assert_eq!(result.nodes.len(), cap);
    // 12,000 calls + the request + the step: 12,002 events, of which the last 2,002 are left out.
    assert!(result.tree.ends_with(&format!("… and 2002 more requests and steps, not logged (a case logs {cap})\n")));
}
