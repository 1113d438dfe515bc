//! The hot paths, measured in a release build with warm-up and percentiles:
//!
//!   cargo bench -p xrm-sandbox --bench hot_paths
//!
//! 1. bare wasmtime: a fresh store, instantiation and call of an empty export (the limit);
//! 2. a fresh probe instance executing one trace op;
//! 3. a Create through three synchronous probe steps, each making one service call;
//! 4. a privilege + access check for a user with 5 roles and 2 teams (privileges resolved once);
//! 5. a RetrieveMultiple over 10,000 rows with a filter and a link-entity, security applied to every row;
//! 6. a Create through 3 synchronous probe steps + 1 asynchronous step, queued and drained;
//! 7. the rollback of a transaction that wrote 100 rows, in stores of 1,000 and 100,000 rows.

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant};

use wasmtime::Store;
use wasmtime::component::{Component, Linker};
use xrm_model::{Entity, EntityReference, Fault, Request, Response, Uuid, codes};
use xrm_sandbox::context::ExecutionContext;
use xrm_sandbox::pipeline::Session;
use xrm_sandbox::sandbox::{self, Limits, PluginHost, Sandbox};
use xrm_sandbox::suite::Suite;

const WARMUP: usize = 500;
const ITERATIONS: usize = 5_000;

/// Like `measure`, for operations too short to time one by one: each sample runs `batch` of them.
fn measure_batch(name: &str, batch: usize, mut f: impl FnMut()) {
    let mut times: Vec<f64> = Vec::with_capacity(ITERATIONS / 10);
    for i in 0..(ITERATIONS / 10 + WARMUP / 10) {
        let start = Instant::now();
        for _ in 0..batch {
            f();
        }
        if i >= WARMUP / 10 {
            times.push(start.elapsed().as_secs_f64() * 1e9 / batch as f64);
        }
    }
    times.sort_by(f64::total_cmp);
    let at = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    println!("{name:<58} p50 {:>8.1} ns   p99 {:>8.1} ns", at(50), at(99));
}

fn measure(name: &str, f: impl FnMut()) {
    measure_runs(name, WARMUP, ITERATIONS, f);
}

/// Times `runs` calls of `f` after `warmup` untimed ones and prints p50 and p99.
fn measure_runs(name: &str, warmup: usize, runs: usize, mut f: impl FnMut()) {
    for _ in 0..warmup {
        f();
    }
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    let at = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)].as_secs_f64() * 1e6;
    println!("{name:<58} p50 {:>8.1} µs   p99 {:>8.1} µs", at(50), at(99));
}

struct NoCalls;

impl PluginHost for NoCalls {
    fn call(&mut self, _: &ExecutionContext, _: Option<Uuid>, _: Request) -> Result<Response, Fault> {
        Err(Fault::new(codes::INVALID_ARGUMENT, "no calls"))
    }
}

fn bare_wasmtime() {
    let engine = sandbox::engine().expect("engine");
    let wat = r#"(component
        (core module $m (func (export "f")))
        (core instance $i (instantiate $m))
        (func (export "run") (canon lift (core func $i "f"))))"#;
    let component = Component::new(engine, wat::parse_str(wat).expect("wat")).expect("component");
    let pre = Linker::<()>::new(engine).instantiate_pre(&component).expect("pre");
    measure("1. bare wasmtime: store + instantiate + call", || {
        let mut store = Store::new(engine, ());
        store.set_epoch_deadline(1_000_000);
        let instance = pre.instantiate(&mut store).expect("instance");
        let run = instance.get_typed_func::<(), ()>(&mut store, "run").expect("export");
        run.call(&mut store, ()).expect("call");
    });
}

fn context() -> ExecutionContext {
    ExecutionContext::new("Create", "account", Uuid::from_u128(1))
}

fn probe_one_trace(root: &Path) {
    let path = xrm_sandbox::build::plugin_crate(&root.join("plugins/probe")).expect("probe builds");
    let sandbox = Sandbox::<NoCalls>::new().expect("sandbox");
    let probe = sandbox.load("probe", &path).expect("probe loads");
    let config = Some(r#"{"ops": [{"trace": "UserId={UserId} Depth={Depth}"}]}"#.to_owned());
    measure("2. fresh probe instance + execute with one trace op", || {
        let out = sandbox.execute(&probe, context(), (config.clone(), None), Limits::default(), NoCalls);
        assert!(out.result.is_ok());
    });
}

fn create_through_three_steps(root: &Path) {
    let suite = Suite::load(&root.join("benches/create3.json")).expect("bench suite loads");
    let alice = suite.pipeline.org().alias("alice").expect("alice");
    let mut account = Entity::new("account");
    account.set("name", "Contoso");
    // Runs on a thread with room for nested plug-ins, as the runner does.
    std::thread::scope(|s| {
        let thread = std::thread::Builder::new().stack_size(256 << 20);
        let handle = thread.spawn_scoped(s, || {
            measure("3. Create through 3 sync probe steps, 1 service call each", || {
                let mut session = Session::new(suite.pipeline.clone());
                session.execute(alice, Request::create(account.clone()), None).expect("create succeeds");
            });
        });
        handle.expect("bench thread").join().expect("bench ran");
    });
}

fn security_check() {
    use xrm_sandbox::org::Organization;
    use xrm_sandbox::security::{self, Access, RecordAccess, UserPrivileges};
    let depths = ["Basic", "Local", "Basic", "Local", "Basic"];
    let roles: Vec<_> = (0..5)
        .map(|i| {
            serde_json::json!({ "@alias": format!("r{i}"), "name": format!("R{i}"),
            "privileges": { "prvReadAccount": depths[i], "prvWriteContact": "Global",
                            "prvCreateTask": "Basic", "prvReadLead": "Deep" } })
        })
        .collect();
    let file = serde_json::json!({
        "name": "bench",
        "businessunits": [ { "@alias": "root", "name": "R" }, { "@alias": "a", "name": "A", "parent": "@root" },
                           { "@alias": "b", "name": "B", "parent": "@a" } ],
        "roles": roles,
        "users": [ { "@alias": "u", "businessunit": "@b", "roles": ["@r0", "@r1", "@r2"] },
                   { "@alias": "o", "businessunit": "@root", "roles": [] } ],
        "teams": [ { "@alias": "t1", "name": "T1", "businessunit": "@a", "roles": ["@r3"], "members": ["@u"] },
                   { "@alias": "t2", "name": "T2", "businessunit": "@root", "roles": ["@r4"], "members": ["@u"] } ]
    });
    let org = Organization::from_json(Path::new("bench.json"), file).expect("org");
    let user = org.alias("u").expect("u");
    let privileges = UserPrivileges::resolve(&org, user);
    let table = org.table("account").expect("account");
    // Owned by someone else in the parent business unit: every grant is tried before the answer (denied).
    let mut record = Entity::with_id("account", Uuid::from_u128(9));
    record.set("ownerid", xrm_model::Value::Lookup(EntityReference::new("systemuser", org.alias("o").expect("o"))));
    record.set(
        "owningbusinessunit",
        xrm_model::Value::Lookup(EntityReference::new("businessunit", org.alias("root").expect("root"))),
    );
    let access = RecordAccess::of(table, &record, Vec::new());
    measure_batch("4. privilege + access check, 5 roles and 2 teams", 1000, || {
        std::hint::black_box(security::check(&org, &privileges, Access::Read, std::hint::black_box(&access)));
    });
}

/// Runs `f` on a thread with room for nested plug-ins, as the runner does.
fn on_case_thread(f: impl FnOnce() + Send) {
    std::thread::scope(|s| {
        let thread = std::thread::Builder::new().stack_size(256 << 20);
        thread.spawn_scoped(s, f).expect("bench thread").join().expect("bench ran");
    });
}

fn retrieve_multiple_10k(root: &Path) {
    use xrm_sandbox::org::Organization;
    use xrm_sandbox::pipeline::{Pipeline, Registrations};
    let org = std::sync::Arc::new(Organization::load(&root.join("tests/conformance/org.json")).expect("org"));
    let alice = org.alias("alice").expect("alice");
    let pipeline =
        std::sync::Arc::new(Pipeline::new(org, Registrations::default(), Default::default()).expect("pipeline"));
    let mut session = Session::new(pipeline);
    for i in 0..10_000 {
        let mut contact = Entity::new("contact");
        contact.set("lastname", format!("c{i}"));
        let Ok(response) = session.execute(alice, Request::create(contact), None) else { panic!("contact") };
        let Some(xrm_model::ParameterValue::Value(xrm_model::Value::Guid(id))) = response.results.get("id").cloned()
        else {
            panic!("id")
        };
        let mut account = Entity::new("account");
        account.set("name", format!("a{i}")).set("numberofemployees", i % 100);
        account.set("primarycontactid", xrm_model::Value::Lookup(EntityReference::new("contact", id)));
        session.execute(alice, Request::create(account), None).expect("account");
    }
    let query = r#"{"entityname": "account", "columns": ["name"],
        "criteria": {"conditions": [{"attribute": "numberofemployees", "operator": "lt", "value": 10}]},
        "linkentities": [{"linkfromattributename": "primarycontactid", "linktoentityname": "contact", "linktoattributename": "contactid",
                          "entityalias": "c", "columns": ["lastname"]}]}"#;
    let query = xrm_model::json::Reader::default()
        .query(&serde_json::from_str(query).expect("json"), &xrm_model::json::Path::Root("q"))
        .expect("query");
    let request = Request::retrieve_multiple(query);
    measure_n("5. RetrieveMultiple, 10,000 rows, filter + link-entity", 50, || {
        let response = session.execute(alice, request.clone(), None).expect("query runs");
        assert!(!response.results.is_empty());
    });
}

fn create_with_async(root: &Path) {
    let suite = Suite::load(&root.join("benches/create3async.json")).expect("bench suite loads");
    let alice = suite.pipeline.org().alias("alice").expect("alice");
    let mut account = Entity::new("account");
    account.set("name", "Contoso");
    on_case_thread(|| {
        measure("6. Create through 3 sync steps + 1 async (queue and drain)", || {
            let mut session = Session::new(suite.pipeline.clone());
            session.execute(alice, Request::create(account.clone()), None).expect("create succeeds");
            assert_eq!(session.run_async(), 1);
        });
    });
}

fn rollback_100_rows() {
    use xrm_sandbox::store::{Store, Transactional};
    let row = |i: u128| {
        let mut e = Entity::with_id("account", Uuid::from_u128(i));
        e.set("name", format!("row {i}"));
        e
    };
    for size in [1_000u128, 100_000] {
        let mut base = Store::default();
        for i in 0..size {
            base.put(row(i));
        }
        let mut store = Transactional::new(base);
        measure(&format!("7. rollback of 100 written rows, store of {size} rows"), || {
            store.begin();
            for i in 0..100 {
                store.data_mut().put(row(size + i));
            }
            store.rollback();
        });
    }
}

/// Like `measure`, with `n` timed runs after one warm-up: for operations that take milliseconds.
fn measure_n(name: &str, n: usize, f: impl FnMut()) {
    measure_runs(name, 1, n, f);
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    bare_wasmtime();
    probe_one_trace(&root);
    create_through_three_steps(&root);
    security_check();
    retrieve_multiple_10k(&root);
    create_with_async(&root);
    rollback_100_rows();
}
