//! Identity through child pipelines, read from the library's own records rather than trace text: a child
//! pipeline shares its parent's CorrelationId, runs one level deeper, and gets a request of its own (IMP-5,
//! PIPE-9).

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use xrm_model::{Entity, Request};
use xrm_sandbox::pipeline::{Event, Session};
use xrm_sandbox::suite::Suite;

#[test]
fn imp_5_pipe_9_child_pipelines_share_the_correlation_id_one_level_deeper() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance/identity.json");
    let suite = Suite::load(&file).expect("suite loads");
    let org = suite.pipeline.org().clone();
    let alice = org.alias("alice").expect("alice");
    let dave = org.alias("dave").expect("dave");
    let mut account = Entity::new("account");
    account.set("name", "fixed");
    let traces = std::thread::scope(|s| {
        // Nested plug-ins need the runner's stack.
        let run = std::thread::Builder::new().stack_size(256 << 20).spawn_scoped(s, || {
            let mut session = Session::new(suite.pipeline.clone());
            session.execute(alice, Request::create(account), None).expect("create succeeds");
            (session.traces().to_vec(), session.log().to_vec())
        });
        run.expect("thread").join().expect("ran")
    });
    let (records, log) = traces;
    let top: Vec<_> = records.iter().filter(|r| r.depth == 1).collect();
    let child: Vec<_> = records.iter().filter(|r| r.depth == 2).collect();
    assert!(!top.is_empty() && !child.is_empty(), "{records:?}");
    assert!(records.iter().all(|r| r.correlation_id == top[0].correlation_id), "one correlation id");
    assert!(child.iter().all(|c| c.request_id != top[0].request_id), "each pipeline is its own request");
    assert!(child.iter().all(|c| c.user_id == dave && c.initiating_user_id == alice));
    let child_request = log.iter().find_map(|e| match e {
        Event::Request { depth: 2, caller, via, .. } => Some((*caller, *via)),
        _ => None,
    });
    assert_eq!(child_request, Some((dave, Some("user"))));
}
