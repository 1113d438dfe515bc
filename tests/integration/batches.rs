//! PIPE-17's limits, which suites would need a thousand requests to show: a batch holds at most 1,000 requests,
//! refused before any runs, and a batch is no message to register steps on.

use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use xrm_model::{Entity, ExecuteMultipleSettings, ParameterValue, Request, codes, messages};
use xrm_sandbox::pipeline::Session;
use xrm_sandbox::suite::Suite;

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

/// A suite without plug-ins on the batch organization, loaded from a file of its own.
fn suite(name: &str, steps: serde_json::Value) -> Result<Arc<Suite>, String> {
    let dir = std::env::temp_dir().join(format!("xrm-sandbox-batches-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = root();
    let suite = json!({
        "name": name,
        "org": root.join("tests/conformance/batch-org.json"),
        "plugins": { "probe": { "crate": root.join("plugins/probe") } },
        "steps": steps,
        "cases": []
    });
    std::fs::write(dir.join("suite.json"), suite.to_string()).unwrap();
    Suite::load(&dir.join("suite.json")).map(Arc::new).map_err(|e| e.to_string())
}

fn creates(n: usize) -> Vec<Request> {
    (0..n)
        .map(|i| {
            let mut task = Entity::new("task");
            task.set("subject", format!("t{i}"));
            Request::create(task)
        })
        .collect()
}

#[test]
fn pipe_17_a_batch_holds_at_most_1000_requests() {
    let suite = suite("limit", json!([])).unwrap();
    let alice = suite.pipeline.org().alias("alice").unwrap();
    let mut session = Session::new(suite.pipeline.clone());
    let settings = ExecuteMultipleSettings { continue_on_error: false, return_responses: false };
    let full = session.execute(alice, Request::execute_multiple(creates(1000), settings), None).unwrap();
    assert_eq!(full.results.get(messages::IS_FAULTED), Some(&ParameterValue::from(false)));
    assert_eq!(session.store().count("task"), 1000);
    for too_many in
        [Request::execute_multiple(creates(1001), settings), Request::execute_transaction(creates(1001), false)]
    {
        let fault = session.execute(alice, too_many, None).unwrap_err();
        assert_eq!(fault.code, codes::INVALID_ARGUMENT);
        assert!(
            fault.message.contains("1001 requests, more than the maximum batch size (MaxBatchSize) of 1000"),
            "{fault}"
        );
    }
    assert_eq!(session.store().count("task"), 1000, "nothing of a refused batch runs");
}

#[test]
fn pipe_17_steps_cannot_be_registered_on_a_batch() {
    for message in [messages::EXECUTE_MULTIPLE, messages::EXECUTE_TRANSACTION] {
        let steps = json!([{ "name": "on a batch", "plugin": "probe", "message": message, "stage": 20,
                             "configuration": { "ops": [] } }]);
        let error = suite(&format!("register-{message}"), steps).err().unwrap();
        assert!(error.contains("steps[0].message"), "{error}");
        assert!(
            error.contains(&format!("step `on a batch`: steps cannot be registered on {message}: each of its requests runs through its own pipeline")),
            "{error}"
        );
    }
}
