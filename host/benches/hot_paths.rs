//! The hot paths, measured side by side in one release-mode run with warm-up and percentiles:
//!
//!   cargo bench -p xrm-sandbox --bench hot_paths
//!
//! 1. bare wasmtime: a fresh store, instantiation and call of an empty export (the limit);
//! 2. a fresh probe instance executing one trace op; beside it, the probe as conformance suites build it (2b);
//! 3. a Create through three synchronous probe steps, each making one service call;
//! 4. the same three steps as plain Rust functions called in the host with the same context (no sandbox);
//! 5. a suite of 1,000 generated cases end to end; cold compile against cached load of a plug-in;
//! 6. a privilege + access check for a user with 5 roles and 2 teams (privileges resolved once);
//! 7. a RetrieveMultiple over 10,000 rows with a filter and a link-entity, security applied to every row;
//! 8. a Create through 3 synchronous probe steps + 1 asynchronous step, queued and drained;
//! 9. the rollback of a transaction that wrote 100 rows, in stores of 1,000 and 100,000 rows;
//! 10. a fresh probe instance sending one HTTP request answered by a stub (BOX-6), beside (2);
//! 11. a Retrieve by id and a RetrieveMultiple with an equality on an indexed lookup, in stores of 1,000 and
//!     1,000,000 rows;
//! 12. the queries of issue 12 built to make the engine work without bound: a long `LIKE`, 100,000 sibling
//!     link-entities, a self-join of 200 tasks twice with `top 1`;
//! 13. a CreateMultiple of 1,000 accounts with one probe step on Create and one on CreateMultiple, beside the
//!     same accounts sent as 1,000 Creates through the same steps;
//! 14. what SEC-10's invalidation costs: the check of (6) right after a change to the case's security tables,
//!     the user's privileges resolved again from the case's store first (the slow path a change forces once
//!     per user and version), beside the version compare every check pays (the fast path);
//! 15. a FetchXML `count` grouped by owner over 100,000 accounts, every row read and checked (QRY-6).
//!
//! It ends with the ratios 2/1 and 3/4, and the cost of one stubbed request (10 − 2b).
//!
//! (2), (3) and (8) run the probe built without its `http` feature: the same guest as before BOX-6, so that
//! their figures compare builds of the host. With the feature the probe imports 78 more functions (`wasi:http`),
//! and a component pays at instantiation for every function it imports; (2b) measures that.

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use wasmtime::Store;
use wasmtime::component::{Component, Linker};
use xrm_model::{ColumnSet, Entity, EntityReference, Fault, Request, Response, Uuid, codes};
use xrm_sandbox::context::ExecutionContext;
use xrm_sandbox::pipeline::{Pipeline, Session, Step};
use xrm_sandbox::sandbox::{self, Limits, PluginHost, Sandbox};
use xrm_sandbox::suite::{RunOptions, Suite};
use xrm_sandbox::testing;

/// The binary's allocator (host/src/main.rs), so that the figures are those of `xrm-sandbox test`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const WARMUP: usize = 500;
const ITERATIONS: usize = 5_000;

/// Timed runs of the microsecond measurements: `HOT_PATHS_RUNS`, else [`ITERATIONS`]. A profiler wants more of
/// them, so that the steady state outweighs the setup.
fn iterations() -> usize {
    std::env::var("HOT_PATHS_RUNS").ok().and_then(|n| n.parse().ok()).unwrap_or(ITERATIONS)
}

/// Like `measure`, for operations too short to time one by one: each sample runs `batch` of them.
fn measure_batch(name: &str, batch: usize, mut f: impl FnMut()) {
    let mut times: Vec<f64> = Vec::with_capacity(iterations() / 10);
    for i in 0..(iterations() / 10 + WARMUP / 10) {
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

/// Prints and returns p50 and p99, in µs.
fn measure(name: &str, f: impl FnMut()) -> (f64, f64) {
    measure_runs(name, WARMUP, iterations(), f)
}

/// Times `runs` calls of `f` after `warmup` untimed ones and prints p50 and p99.
fn measure_runs(name: &str, warmup: usize, runs: usize, mut f: impl FnMut()) -> (f64, f64) {
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
    (at(50), at(99))
}

struct NoCalls;

impl PluginHost for NoCalls {
    fn call(&mut self, _: &Arc<ExecutionContext>, _: Option<Uuid>, _: Request) -> Result<Response, Fault> {
        Err(Fault::new(codes::INVALID_ARGUMENT, "no calls"))
    }
}

fn bare_wasmtime() -> (f64, f64) {
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
    })
}

/// Answers every HTTP request with the same stub, recording nothing.
struct OneStub(sandbox::HttpReply);

impl PluginHost for OneStub {
    fn call(&mut self, _: &Arc<ExecutionContext>, _: Option<Uuid>, _: Request) -> Result<Response, Fault> {
        Err(Fault::new(codes::INVALID_ARGUMENT, "no calls"))
    }

    fn http(&mut self) -> Option<&mut dyn sandbox::HttpTransport> {
        Some(self)
    }
}

impl sandbox::HttpTransport for OneStub {
    fn answer(&mut self, _: &sandbox::HttpRequest) -> Result<sandbox::HttpReply, String> {
        Ok(self.0.clone())
    }

    fn record(&mut self, exchange: sandbox::HttpExchange) {
        assert!(matches!(exchange.outcome, sandbox::HttpOutcome::Answered { status: 200, .. }));
    }
}

/// (10): (2) plus one GET answered by a stub: the difference is what a stubbed request costs a plug-in.
fn probe_one_http_request(root: &Path) -> (f64, f64) {
    let path = xrm_sandbox::build::plugin_crate(&root.join("plugins/probe")).expect("probe builds");
    let sandbox = Sandbox::<OneStub>::new().expect("sandbox");
    let probe = sandbox.load("probe", &path).expect("probe loads");
    let config = Some(r#"{"ops": [{"http": {"url": "https://api.contoso.com/v1/rates"}}]}"#.to_owned());
    let reply = sandbox::HttpReply {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: r#"{"eur":1.1}"#.into(),
        delay: Duration::ZERO,
        source: "http[0]".into(),
    };
    measure("10. fresh probe instance + execute with one stubbed HTTP GET", || {
        let out = sandbox.execute(&probe, context(), (config.clone(), None), Limits::default(), OneStub(reply.clone()));
        assert!(out.result.is_ok(), "{}", out.trace);
    })
}

fn context() -> ExecutionContext {
    ExecutionContext::new("Create", "account", Uuid::from_u128(1))
}

/// The probe built without its `http` feature, in a target folder of its own (built once per run).
fn fixed_probe(root: &Path) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let target = root.join("target/bench-probe");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "--release", "--target", "wasm32-wasip2", "--no-default-features", "--manifest-path"])
                .arg(root.join("plugins/probe/Cargo.toml"))
                .arg("--target-dir")
                .arg(&target)
                .status()
                .expect("cargo runs");
            assert!(status.success(), "the probe builds without its `http` feature");
            target.join("wasm32-wasip2/release/probe.wasm")
        })
        .clone()
}

/// A suite of `benches/`, its probe replaced by [`fixed_probe`].
fn bench_suite(root: &Path, name: &str) -> Suite {
    let path = root.join("benches").join(name);
    let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("suite")).unwrap();
    json["plugins"]["probe"] = serde_json::json!(fixed_probe(root));
    Suite::from_json(&path, json).expect("bench suite loads")
}

fn probe_one_trace(path: &Path, name: &str) -> (f64, f64) {
    let sandbox = Sandbox::<NoCalls>::new().expect("sandbox");
    let probe = sandbox.load("probe", path).expect("probe loads");
    let config = Some(r#"{"ops": [{"trace": "UserId={UserId} Depth={Depth}"}]}"#.to_owned());
    measure(name, || {
        let out = sandbox.execute(&probe, context(), (config.clone(), None), Limits::default(), NoCalls);
        assert!(out.result.is_ok());
    })
}

fn create_through_three_steps(root: &Path) -> (f64, f64) {
    let suite = bench_suite(root, "create3.json");
    create_three_times(&suite.pipeline, "3. Create through 3 sync probe steps, 1 service call each")
}

fn create_three_times(pipeline: &Arc<Pipeline>, name: &str) -> (f64, f64) {
    let alice = pipeline.org().alias("alice").expect("alice");
    let mut account = Entity::new("account");
    account.set("name", "Contoso");
    on_case_thread(|| {
        measure(name, || {
            let mut session = Session::new(pipeline.clone());
            session.execute(alice, Request::create(account.clone()), None).expect("create succeeds");
        })
    })
}

/// (4): the three steps of `benches/create3.json` as Rust functions, making the same calls as the same users.
fn native_three_steps(root: &Path) -> (f64, f64) {
    let path = root.join("benches/create3.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let parts = |key: &str| Some(json[key].clone());
    let mut pipeline = xrm_sandbox::suite::load_pipeline(&path, json["org"].clone(), parts("plugins"), parts("steps"))
        .unwrap_or_else(|e| panic!("{e}"));
    pipeline.set_native("probe", Arc::new(native_step));
    create_three_times(&Arc::new(pipeline), "4. the same 3 steps as native Rust functions (no sandbox)")
}

fn native_step(step: &Step, ctx: &mut Arc<ExecutionContext>, host: &mut dyn PluginHost) -> Result<(), Fault> {
    let ctx = &*ctx;
    match step.name.as_str() {
        "pre" => {
            let me = EntityReference::new("systemuser", ctx.user_id);
            host.call(ctx, Some(ctx.user_id), Request::retrieve(me, ColumnSet::Columns(vec!["fullname".into()])))?;
        }
        "post 1" => {
            let mut task = Entity::new("task");
            task.set("subject", "follow up");
            host.call(ctx, Some(ctx.initiating_user_id), Request::create(task))?;
        }
        "post 2" => {
            let mut account = Entity::with_id("account", ctx.primary_entity_id);
            account.set("description", "seen");
            host.call(ctx, None, Request::update(account))?;
        }
        other => return Err(Fault::new(codes::PLUGIN_FAULT, format!("no native step `{other}`"))),
    }
    Ok(())
}

fn security_check() {
    use xrm_sandbox::org::Organization;
    use xrm_sandbox::security::{self, Access, RecordAccess, UserPrivileges};
    let depths = ["Basic", "Local", "Basic", "Local", "Basic"];
    let roles: Vec<_> = (0..5)
        .map(|i| {
            serde_json::json!({ "@alias": format!("r{i}"), "name": format!("R{i}"),
            "privileges": { "prvReadAccount": depths[i], "prvWriteContact": "Global",
                            "prvCreateActivity": "Basic", "prvReadLead": "Deep" } })
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
    if wanted(6) {
        measure_batch("6. privilege + access check, 5 roles and 2 teams", 1000, || {
            std::hint::black_box(security::check(&org, &privileges, Access::Read, std::hint::black_box(&access)));
        });
    }
    if wanted(14) {
        security_after_change(&org, user, &access);
    }
}

/// (14) The check of (6) after a security change (SEC-10): the user's privileges resolved again from the
/// case's security tables (index lookups of roles and teams, then the grants), then the check; and the version
/// compare the fast path pays instead.
fn security_after_change(
    org: &xrm_sandbox::org::Organization,
    user: Uuid,
    access: &xrm_sandbox::security::RecordAccess,
) {
    use xrm_sandbox::pipeline::principals;
    use xrm_sandbox::security::{self, Access, UserPrivileges};
    let mut store = org.data.clone();
    store.security_changed();
    measure_batch("14. check after a security change, privileges resolved again", 1000, || {
        let membership = principals::user_membership(org, std::hint::black_box(&store), user).expect("member");
        let privileges = UserPrivileges::of_membership(org, user, &membership);
        std::hint::black_box(security::check(org, &privileges, Access::Read, std::hint::black_box(access)));
    });
    let untouched = org.data.clone();
    measure_batch("14. the fast path's version compare", 1000, || {
        std::hint::black_box(std::hint::black_box(&untouched).security_version() == 0);
    });
}

/// Runs `f` on a case thread, as the runner does: requests made there run in place.
fn on_case_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    xrm_sandbox::threads::on_case_thread("bench", f).expect("bench ran")
}

fn retrieve_multiple_10k(root: &Path) {
    use xrm_sandbox::org::Organization;
    use xrm_sandbox::pipeline::{Pipeline, Registrations};
    let org = std::sync::Arc::new(Organization::load(&root.join("tests/conformance/org.json")).expect("org"));
    let alice = org.alias("alice").expect("alice");
    let pipeline =
        std::sync::Arc::new(Pipeline::new(org, Registrations::default(), Default::default()).expect("pipeline"));
    on_case_thread(|| retrieve_multiple_10k_here(pipeline, alice));
}

fn retrieve_multiple_10k_here(pipeline: std::sync::Arc<Pipeline>, alice: xrm_model::Uuid) {
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
    measure_n("7. RetrieveMultiple, 10,000 rows, filter + link-entity", 50, || {
        let response = session.execute(alice, request.clone(), None).expect("query runs");
        assert!(!response.results.is_empty());
    });
}

fn create_with_async(root: &Path) {
    let suite = bench_suite(root, "create3async.json");
    let alice = suite.pipeline.org().alias("alice").expect("alice");
    let mut account = Entity::new("account");
    account.set("name", "Contoso");
    on_case_thread(|| {
        measure("8. Create through 3 sync steps + 1 async (queue and drain)", || {
            let mut session = Session::new(suite.pipeline.clone());
            session.execute(alice, Request::create(account.clone()), None).expect("create succeeds");
            assert_eq!(session.run_async(), Ok(1));
        })
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
        measure(&format!("9. rollback of 100 written rows, store of {size} rows"), || {
            store.begin();
            for i in 0..100 {
                store.data_mut().put(row(size + i));
            }
            store.rollback();
        });
    }
}

/// The conformance organization with `records` added to its data, and a session as a user of it.
fn session_with(root: &Path, records: impl Iterator<Item = Entity>) -> (Session, Uuid) {
    use xrm_sandbox::org::Organization;
    use xrm_sandbox::pipeline::Registrations;
    let mut org = Organization::load(&root.join("tests/conformance/org.json")).expect("org");
    for record in records {
        org.data.put(record);
    }
    let alice = org.alias("alice").expect("alice");
    let pipeline =
        Arc::new(Pipeline::new(Arc::new(org), Registrations::default(), Default::default()).expect("pipeline"));
    (Session::new(pipeline), alice)
}

/// An account Alice owns (she reads accounts at Basic depth: the access check looks at every row).
fn owned_account(root: &Path, n: u128, contact: u128) -> Entity {
    static OWNER: std::sync::OnceLock<(Uuid, Uuid)> = std::sync::OnceLock::new();
    let (alice, sales) = *OWNER.get_or_init(|| {
        let org = xrm_sandbox::org::Organization::load(&root.join("tests/conformance/org.json")).expect("org");
        (org.alias("alice").expect("alice"), org.alias("sales").expect("sales"))
    });
    let lookup = |table: &str, id: Uuid| xrm_model::Value::Lookup(EntityReference::new(table, id));
    let mut account = Entity::with_id("account", Uuid::from_u128((1 << 64) | n));
    account.set("name", format!("account {n}"));
    account.set("ownerid", lookup("systemuser", alice)).set("owningbusinessunit", lookup("businessunit", sales));
    account.set("primarycontactid", lookup("contact", Uuid::from_u128((2 << 64) | contact)));
    account
}

/// (15): an aggregate reads every row the query would return, security checked, and folds it into its group.
fn aggregate_count_by_owner(root: &Path) {
    use xrm_sandbox::org::Organization;
    use xrm_sandbox::pipeline::Registrations;
    let mut org = Organization::load(&root.join("tests/conformance/org.json")).expect("org");
    org.settings.aggregate_query_record_limit = 200_000;
    for n in 0..100_000u128 {
        org.data.put(owned_account(root, n, n));
    }
    let alice = org.alias("alice").expect("alice");
    let pipeline =
        Arc::new(Pipeline::new(Arc::new(org), Registrations::default(), Default::default()).expect("pipeline"));
    let fetch = r#"<fetch aggregate="true"><entity name="account">
        <attribute name="accountid" alias="accounts" aggregate="count"/>
        <attribute name="ownerid" alias="owner" groupby="true"/></entity></fetch>"#;
    let request = Request::retrieve_multiple(xrm_model::Query::FetchXml(fetch.into()));
    on_case_thread(|| {
        let mut session = Session::new(pipeline);
        measure_n("15. FetchXML count grouped by owner, 100,000 accounts", 20, || {
            let response = session.execute(alice, request.clone(), None).expect("aggregate runs");
            let Some(xrm_model::ParameterValue::EntityCollection(found)) = response.results.get("EntityCollection")
            else {
                panic!("no collection")
            };
            assert_eq!(found.entities.len(), 1, "one owner, one group");
        });
    });
}

/// (11): both through an index (the primary key, the lookup's), so flat from 1,000 to 1,000,000 rows.
fn indexed_lookups(root: &Path) {
    for size in [1_000u128, 1_000_000] {
        // Two accounts per contact.
        let (mut session, alice) = session_with(root, (0..size).map(|n| owned_account(root, n, n / 2)));
        let target = EntityReference::new("account", Uuid::from_u128((1 << 64) | (size / 2)));
        let retrieve = Request::retrieve(target, ColumnSet::Columns(vec!["name".into()]));
        measure(&format!("11. Retrieve by id, {size} accounts"), || {
            session.execute(alice, retrieve.clone(), None).expect("retrieve");
        });
        let contact = Uuid::from_u128((2 << 64) | (size / 4));
        let query = format!(
            r#"{{"entityname": "account", "columns": ["name"],
                "criteria": {{"conditions": [{{"attribute": "primarycontactid", "operator": "eq", "value": "{contact}"}}]}}}}"#
        );
        let query = xrm_model::json::Reader::default()
            .query(&serde_json::from_str(&query).expect("json"), &xrm_model::json::Path::Root("q"))
            .expect("query");
        let request = Request::retrieve_multiple(query);
        measure(&format!("11. RetrieveMultiple, eq on an indexed lookup (2 rows), {size} accounts"), || {
            let response = session.execute(alice, request.clone(), None).expect("query runs");
            let Some(xrm_model::ParameterValue::EntityCollection(found)) = response.results.get("EntityCollection")
            else {
                panic!("no collection")
            };
            assert_eq!(found.entities.len(), 2);
        });
    }
}

/// (12): each through a session, as a plug-in's call would run it (without its deadline: the time is the
/// engine's whole work).
fn hostile_queries(root: &Path) {
    let mut long = owned_account(root, 0, 0);
    long.set("description", "a".repeat(400_000));
    let tasks = (0..200u128).map(|n| {
        // Owned as the accounts are, so the reader sees every row and the joins do their whole work.
        let owner = owned_account(root, 0, 0);
        let mut task = Entity::with_id("task", Uuid::from_u128((3 << 64) | n));
        task.set("subject", "same").set("statecode", xrm_model::Value::Choice(0));
        for column in ["ownerid", "owningbusinessunit"] {
            task.set(column, owner.attributes[column].clone());
        }
        task
    });
    // As a user who reads accounts and tasks org-wide: SYSTEM cannot call from outside (ORG-2).
    let (mut session, alice) = session_with(root, std::iter::once(long).chain(tasks));
    let reader = xrm_model::json::Reader::default();
    let query = |json: serde_json::Value| reader.query(&json, &xrm_model::json::Path::Root("q")).expect("query");
    let like = query(serde_json::json!({ "entityname": "account", "columns": ["name"],
        "criteria": { "conditions": [ { "attribute": "description", "operator": "like",
                                        "value": format!("%{}b", "a".repeat(40_000)) } ] } }));
    let siblings: Vec<_> = (0..100_000)
        .map(|i| {
            serde_json::json!({ "linkfromattributename": "subject", "linktoentityname": "task",
                                     "linktoattributename": "subject", "joinoperator": "LeftOuter",
                                     "entityalias": format!("t{i}") })
        })
        .collect();
    let siblings_qe = query(serde_json::json!({ "entityname": "task", "top": 1, "linkentities": siblings }));
    let links = "<link-entity name='task' from='subject' to='subject' link-type='outer'/>".repeat(100_000);
    let siblings_fetch =
        format!("<fetch top='1'><entity name='task'><attribute name='subject'/>{links}</entity></fetch>");
    let self_join = |alias: &str| {
        serde_json::json!({ "linkfromattributename": "statecode", "linktoentityname": "task",
                                                       "linktoattributename": "statecode", "entityalias": alias })
    };
    let join_top_1 = query(serde_json::json!({ "entityname": "task", "top": 1,
                                               "linkentities": [ self_join("a"), self_join("b") ] }));
    for (name, q) in [
        ("12. LIKE '%a…ab' (40,000 chars) over a 400,000-char column", like),
        ("12. 100,000 sibling link-entities, QueryExpression", siblings_qe),
        ("12. 100,000 sibling link-entities, FetchXML", xrm_model::Query::FetchXml(siblings_fetch)),
        ("12. 200 tasks self-joined twice, top 1", join_top_1),
    ] {
        let request = Request::retrieve_multiple(q);
        measure_runs(name, 1, 5, || {
            session.execute(alice, request.clone(), None).expect("query runs");
        });
    }
}

/// (13): PIPE-17's merged pipelines at scale: the step on Create runs once per account either way; the step on
/// CreateMultiple runs once for the bulk request, and once per Create (with a Targets of one) otherwise.
fn create_multiple_1000(root: &Path) {
    let suite = Suite::load(&root.join("benches/createmultiple.json")).expect("bench suite loads");
    let alice = suite.pipeline.org().alias("alice").expect("alice");
    let accounts: Vec<Entity> = (0..1_000)
        .map(|i| {
            let mut account = Entity::new("account");
            account.set("name", format!("account {i}"));
            account
        })
        .collect();
    on_case_thread(|| {
        measure_n("13. CreateMultiple of 1,000 accounts, 1 step on each message", 10, || {
            let mut session = Session::new(suite.pipeline.clone());
            let request = Request::multiple(xrm_model::messages::CREATE_MULTIPLE, accounts.clone());
            session.execute(alice, request, None).expect("bulk create succeeds");
            assert_eq!(session.store().count("account"), 1_001);
        });
        measure_n("13. the same 1,000 accounts as 1,000 Creates, same steps", 10, || {
            let mut session = Session::new(suite.pipeline.clone());
            for account in &accounts {
                session.execute(alice, Request::create(account.clone()), None).expect("create succeeds");
            }
            assert_eq!(session.store().count("account"), 1_001);
        });
    });
}

/// Like `measure`, with `n` timed runs after one warm-up: for operations that take milliseconds.
fn measure_n(name: &str, n: usize, f: impl FnMut()) -> (f64, f64) {
    measure_runs(name, 1, n, f)
}

/// (5): 1,000 generated cases, each a fresh copy of the organization and 3 Creates (by three users) through the
/// steps of (3), loaded with the plug-in from the warm compile cache and run with the default jobs.
fn suite_1000(root: &Path) {
    let mut suite: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("benches/create3.json")).unwrap()).unwrap();
    let cases: Vec<serde_json::Value> = (0..1_000)
        .map(|i| {
            let actions: Vec<serde_json::Value> = ["@alice", "@bob", "@dave"]
                .iter()
                .map(|u| {
                    serde_json::json!({ "as": u, "request": { "message": "Create",
                    "target": { "@logicalname": "account", "name": format!("account {i} of {u}") } } })
                })
                .collect();
            serde_json::json!({ "name": format!("case {i}"), "actions": actions })
        })
        .collect();
    suite["cases"] = serde_json::Value::Array(cases);
    // Absolute paths, so the copy written under target/ finds the organization and the plug-in.
    suite["org"] = serde_json::json!(root.join("tests/conformance/org.json"));
    suite["plugins"] = serde_json::json!({ "probe": { "crate": root.join("plugins/probe") } });
    // Also written out, so the command-line tool can be timed on the same suite.
    let out = root.join("target/suite-1000");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("suite.json"), serde_json::to_string(&suite).unwrap()).unwrap();
    let path = root.join("benches/suite-1000.json");
    let options = RunOptions::default();
    measure_runs("5. 1,000-case suite end to end (load + run), 2 jobs", 1, 5, || {
        let loaded = Suite::from_json(&path, suite.clone()).unwrap_or_else(|e| panic!("{e}"));
        let run = testing::run(vec![loaded], &options);
        assert_eq!(run.stats.passed, 1_000, "{:?}", run.results.iter().find(|r| !r.passed).map(|r| &r.failures));
    });
    println!("{:<58} peak RSS {:.0} MiB", "   the process so far", peak_rss_mib().unwrap_or(f64::NAN));
}

/// Peak resident memory of this process, from /proc (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// (5): loading a plug-in, compiled from scratch and from the on-disk cache: the follow-up sample as built
/// (with its debug information) and stripped of custom sections (its code and data only).
fn compile_cold_and_cached(root: &Path) {
    let built = xrm_sandbox::build::plugin_crate(&root.join("plugins/followup")).expect("followup builds");
    let bytes = std::fs::read(&built).unwrap();
    let stripped = root.join("target/followup-stripped.wasm");
    std::fs::write(&stripped, strip_custom_sections(&bytes)).unwrap();
    let cache = std::env::temp_dir().join(format!("xrm-sandbox-bench-cache-{}", std::process::id()));
    for (what, path) in [("as built", built.as_path()), ("stripped", stripped.as_path())] {
        let size = std::fs::metadata(path).unwrap().len() as f64 / 1024.0;
        let mut cold = Sandbox::<NoCalls>::new().expect("sandbox");
        cold.set_cache_dir(None);
        measure_runs(&format!("5. cold compile + load, followup {what} ({size:.0} KB)"), 1, 5, || {
            cold.load("followup", path).expect("loads");
        });
        let mut warm = Sandbox::<NoCalls>::new().expect("sandbox");
        warm.set_cache_dir(Some(cache.clone()));
        measure_runs(&format!("5. cached load, followup {what} ({size:.0} KB)"), 1, 20, || {
            warm.load("followup", path).expect("loads");
        });
    }
    let _ = std::fs::remove_dir_all(&cache);
}

/// A component or core module without its custom sections (names, debug information), nested ones included.
fn strip_custom_sections(bytes: &[u8]) -> Vec<u8> {
    let is_component = bytes.get(4..8) == Some(&[0x0d, 0x00, 0x01, 0x00]);
    let mut out = bytes[..8].to_vec();
    let mut at = 8;
    while at < bytes.len() {
        let id = bytes[at];
        let (size, len) = leb128(&bytes[at + 1..]);
        let payload = &bytes[at + 1 + len..at + 1 + len + size];
        at += 1 + len + size;
        match id {
            0 => {}
            // Core modules (1) and components (4) nested in a component carry their own custom sections.
            1 | 4 if is_component => {
                let inner = strip_custom_sections(payload);
                out.push(id);
                write_leb128(&mut out, inner.len());
                out.extend_from_slice(&inner);
            }
            _ => {
                out.push(id);
                write_leb128(&mut out, size);
                out.extend_from_slice(payload);
            }
        }
    }
    out
}

fn leb128(bytes: &[u8]) -> (usize, usize) {
    let (mut value, mut shift) = (0usize, 0);
    for (i, b) in bytes.iter().enumerate() {
        value |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return (value, i + 1);
        }
        shift += 7;
    }
    panic!("truncated LEB128")
}

fn write_leb128(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// `HOT_PATHS=2,3` runs only those measurements (for profiling one of them); unset runs all.
fn wanted(n: u32) -> bool {
    std::env::var("HOT_PATHS").map_or(true, |list| list.split(',').any(|x| x.trim() == n.to_string()))
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let none = (f64::NAN, f64::NAN);
    let bare = if wanted(1) { bare_wasmtime() } else { none };
    let probe = match wanted(2) {
        true => probe_one_trace(&fixed_probe(&root), "2. fresh probe instance + execute with one trace op"),
        false => none,
    };
    let probe_http = match wanted(2) || wanted(10) {
        true => {
            let path = xrm_sandbox::build::plugin_crate(&root.join("plugins/probe")).expect("probe builds");
            probe_one_trace(&path, "2b. the same, probe with `http` (wasi:http imports)")
        }
        false => none,
    };
    let sandboxed = if wanted(3) { create_through_three_steps(&root) } else { none };
    let native = if wanted(4) { native_three_steps(&root) } else { none };
    if wanted(5) {
        suite_1000(&root);
        compile_cold_and_cached(&root);
    }
    if wanted(6) || wanted(14) {
        security_check();
    }
    if wanted(7) {
        retrieve_multiple_10k(&root);
    }
    if wanted(8) {
        create_with_async(&root);
    }
    if wanted(9) {
        rollback_100_rows();
    }
    let http = if wanted(10) { probe_one_http_request(&root) } else { none };
    if wanted(11) {
        indexed_lookups(&root);
    }
    if wanted(12) {
        hostile_queries(&root);
    }
    if wanted(13) {
        create_multiple_1000(&root);
    }
    if wanted(15) {
        aggregate_count_by_owner(&root);
    }
    println!("ratio 2/1 (probe execution / bare wasmtime): p50 {:.1}x", probe.0 / bare.0);
    println!(
        "one stubbed HTTP request (10 - 2b):            p50 {:.1} µs   p99 {:.1} µs",
        http.0 - probe_http.0,
        http.1 - probe_http.1
    );
    println!(
        "ratio 3/4 (sandboxed steps / native steps):  p50 {:.2}x   p99 {:.2}x",
        sandboxed.0 / native.0,
        sandboxed.1 / native.1
    );
}
