//! PIPE-10 as properties: random sequences of requests, some of them failing inside their transaction at a
//! random stage, leave the store exactly as a model that keeps only the committed requests says; and the
//! store's nested transactions against a model of savepoints.

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use xrm_model::{Entity, ExecuteMultipleSettings, Request, Uuid, Value};
use xrm_sandbox::pipeline::Session;
use xrm_sandbox::store::{Store, Transactional};
use xrm_sandbox::suite::Suite;

#[derive(Debug, Clone)]
enum StoreOp {
    Put(u8, u8),
    Remove(u8),
    Begin,
    Commit,
    Rollback,
}

fn store_op() -> impl Strategy<Value = StoreOp> {
    prop_oneof![
        (0u8..8, any::<u8>()).prop_map(|(id, v)| StoreOp::Put(id, v)),
        (0u8..8).prop_map(StoreOp::Remove),
        Just(StoreOp::Begin),
        Just(StoreOp::Commit),
        Just(StoreOp::Rollback),
    ]
}

fn contents(store: &Store) -> BTreeMap<u128, Value> {
    store.rows("account").map(|e| (e.id.unwrap().as_u128(), e.get("name").cloned().unwrap())).collect()
}

proptest! {
    #[test]
    fn pipe_10_nested_transactions_match_a_model_of_savepoints(ops in proptest::collection::vec(store_op(), 0..60)) {
        let mut store = Transactional::default();
        // The model: the current contents and a stack of saved contents.
        let mut model: BTreeMap<u128, Value> = BTreeMap::new();
        let mut saved: Vec<BTreeMap<u128, Value>> = Vec::new();
        for op in ops {
            match op {
                StoreOp::Put(id, v) => {
                    let mut e = Entity::with_id("account", Uuid::from_u128(id.into()));
                    e.set("name", format!("v{v}"));
                    store.data_mut().put(e);
                    model.insert(id.into(), Value::Text(format!("v{v}")));
                }
                StoreOp::Remove(id) => {
                    store.data_mut().remove("account", Uuid::from_u128(id.into()));
                    model.remove(&u128::from(id));
                }
                StoreOp::Begin => {
                    store.begin();
                    saved.push(model.clone());
                }
                StoreOp::Commit => {
                    store.commit();
                    saved.pop();
                }
                StoreOp::Rollback => {
                    store.rollback();
                    if let Some(m) = saved.pop() {
                        model = m;
                    }
                }
            }
            prop_assert_eq!(contents(store.data()), model.clone());
            prop_assert_eq!(store.depth(), saved.len());
        }
    }
}

/// The suite whose steps fail on demand: a PreOperation step and a PostOperation step each write a record
/// through a child pipeline, and throw when the account's name says so.
fn suite() -> Arc<Suite> {
    static SUITE: OnceLock<Arc<Suite>> = OnceLock::new();
    SUITE
        .get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("xrm-sandbox-props-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap();
            let suite = serde_json::json!({
                "name": "transactions",
                "org": root.join("tests/conformance/org.json"),
                "plugins": { "probe": { "crate": root.join("plugins/probe") } },
                "steps": [
                    { "name": "pre writes", "plugin": "probe", "message": "Create", "primaryentity": "account", "stage": 20,
                      "configuration": { "ops": [ { "create": { "@logicalname": "task", "subject": "pre {Target.name}" } },
                                                  { "when": { "Target.description": "fail at 20" }, "ops": [ { "throw": "no" } ] } ] } },
                    { "name": "post writes", "plugin": "probe", "message": "Create", "primaryentity": "account", "stage": 40,
                      "configuration": { "ops": [ { "create": { "@logicalname": "annotation", "subject": "post {Target.name}" } },
                                                  { "when": { "Target.description": "fail at 40" }, "ops": [ { "throw": "no" } ] },
                                                  { "when": { "Target.description": "swallow" }, "ops": [
                                                      { "catch": [ { "delete": { "@ref": "account", "id": "00000000-0000-0000-0000-000000000009" } } ] } ] } ] } }
                ],
                "cases": []
            });
            std::fs::write(dir.join("suite.json"), suite.to_string()).unwrap();
            Arc::new(Suite::load(&dir.join("suite.json")).unwrap_or_else(|e| panic!("{e}")))
        })
        .clone()
}

const OUTCOMES: [&str; 4] = ["ok", "fail at 20", "fail at 40", "swallow"];

fn names(session: &mut Session, table: &str, column: &str) -> Vec<String> {
    let mut v: Vec<String> = session
        .store()
        .rows(table)
        .filter_map(|e| match e.get(column) {
            Some(Value::Text(t)) => Some(t.clone()),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn pipe_10_only_committed_requests_leave_records(plan in proptest::collection::vec(0usize..4, 1..8)) {
        let suite = suite();
        let alice = suite.pipeline.org().alias("alice").unwrap();
        let (accounts, tasks, notes) = std::thread::scope(|s| {
            let run = std::thread::Builder::new().stack_size(256 << 20).spawn_scoped(s, || {
                let mut session = Session::new(suite.pipeline.clone());
                for (i, outcome) in plan.iter().enumerate() {
                    let mut account = Entity::new("account");
                    account.set("name", format!("a{i}")).set("description", OUTCOMES[*outcome]);
                    let result = session.execute(alice, xrm_model::Request::create(account), None);
                    assert_eq!(result.is_ok(), *outcome == 0, "request {i} ({}): {result:?}", OUTCOMES[*outcome]);
                }
                (names(&mut session, "account", "name"), names(&mut session, "task", "subject"), names(&mut session, "annotation", "subject"))
            });
            run.unwrap().join().unwrap()
        });
        // The model: each committed request leaves its account, its PreOperation task and its PostOperation note.
        let committed: Vec<usize> = plan.iter().enumerate().filter(|(_, o)| **o == 0).map(|(i, _)| i).collect();
        let mut want_accounts: Vec<String> = committed.iter().map(|i| format!("a{i}")).collect();
        want_accounts.push("Fabrikam".into());
        want_accounts.sort();
        let want_tasks: Vec<String> = committed.iter().map(|i| format!("pre a{i}")).collect();
        let want_notes: Vec<String> = committed.iter().map(|i| format!("post a{i}")).collect();
        prop_assert_eq!(accounts, want_accounts);
        prop_assert_eq!(tasks, want_tasks);
        prop_assert_eq!(notes, want_notes);
    }
}

/// A top-level request of a plan: one Create, or a batch of them.
#[derive(Debug, Clone)]
enum Sent {
    Single(usize),
    /// ExecuteTransaction: all or nothing.
    Transaction(Vec<usize>),
    /// ExecuteMultiple: each Create on its own, stopping at the first failure unless told to go on.
    Multiple {
        outcomes: Vec<usize>,
        continue_on_error: bool,
    },
}

fn sent() -> impl Strategy<Value = Sent> {
    let outcomes = || proptest::collection::vec(0usize..4, 1..4);
    prop_oneof![
        (0usize..4).prop_map(Sent::Single),
        outcomes().prop_map(Sent::Transaction),
        (outcomes(), any::<bool>())
            .prop_map(|(outcomes, continue_on_error)| Sent::Multiple { outcomes, continue_on_error }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// PIPE-10 and PIPE-17: whatever mix of single requests, ExecuteTransaction and ExecuteMultiple, the store
    /// holds exactly the records (with their plug-ins' writes) of the Creates that committed: every Create of a
    /// transaction that saw no failure, each Create of an ExecuteMultiple that succeeded before it stopped.
    #[test]
    fn pipe_10_batches_leave_only_committed_requests(plan in proptest::collection::vec(sent(), 1..6)) {
        let suite = suite();
        let alice = suite.pipeline.org().alias("alice").unwrap();
        let mut next = 0;
        let mut create = |outcome: usize| {
            let mut account = Entity::new("account");
            account.set("name", format!("a{next}")).set("description", OUTCOMES[outcome]);
            next += 1;
            (next - 1, Request::create(account))
        };
        let mut requests = Vec::new();
        let mut committed = Vec::new();
        for sent in &plan {
            match sent {
                Sent::Single(o) => {
                    let (i, r) = create(*o);
                    committed.extend((*o == 0).then_some(i));
                    requests.push(r);
                }
                Sent::Transaction(outcomes) => {
                    let creates: Vec<_> = outcomes.iter().map(|o| create(*o)).collect();
                    if outcomes.iter().all(|o| *o == 0) {
                        committed.extend(creates.iter().map(|(i, _)| *i));
                    }
                    requests.push(Request::execute_transaction(creates.into_iter().map(|(_, r)| r).collect(), false));
                }
                Sent::Multiple { outcomes, continue_on_error } => {
                    let creates: Vec<_> = outcomes.iter().map(|o| create(*o)).collect();
                    for ((i, _), o) in creates.iter().zip(outcomes) {
                        match *o == 0 {
                            true => committed.push(*i),
                            false if !continue_on_error => break,
                            false => {}
                        }
                    }
                    let settings = ExecuteMultipleSettings { continue_on_error: *continue_on_error, return_responses: true };
                    requests.push(Request::execute_multiple(creates.into_iter().map(|(_, r)| r).collect(), settings));
                }
            }
        }
        let (accounts, tasks, notes) = std::thread::scope(|s| {
            let run = std::thread::Builder::new().stack_size(256 << 20).spawn_scoped(s, || {
                let mut session = Session::new(suite.pipeline.clone());
                for request in requests {
                    let _ = session.execute(alice, request, None);
                }
                (names(&mut session, "account", "name"), names(&mut session, "task", "subject"), names(&mut session, "annotation", "subject"))
            });
            run.unwrap().join().unwrap()
        });
        let mut want_accounts: Vec<String> = committed.iter().map(|i| format!("a{i}")).collect();
        want_accounts.push("Fabrikam".into());
        want_accounts.sort();
        let mut want_tasks: Vec<String> = committed.iter().map(|i| format!("pre a{i}")).collect();
        want_tasks.sort();
        let mut want_notes: Vec<String> = committed.iter().map(|i| format!("post a{i}")).collect();
        want_notes.sort();
        prop_assert_eq!(accounts, want_accounts);
        prop_assert_eq!(tasks, want_tasks);
        prop_assert_eq!(notes, want_notes);
    }
}
