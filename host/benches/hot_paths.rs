//! The hot paths, measured in a release build with warm-up and percentiles:
//!
//!   cargo bench -p xrm-sandbox --bench hot_paths
//!
//! 1. bare wasmtime: a fresh store, instantiation and call of an empty export (the limit);
//! 2. a fresh probe instance executing one trace op;
//! 3. a Create through three synchronous probe steps, each making one service call.

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant};

use wasmtime::Store;
use wasmtime::component::{Component, Linker};
use xrm_model::{Entity, Fault, Request, Response, Uuid, codes};
use xrm_sandbox::context::ExecutionContext;
use xrm_sandbox::pipeline::Session;
use xrm_sandbox::sandbox::{self, Limits, PluginHost, Sandbox};
use xrm_sandbox::suite::Suite;

const WARMUP: usize = 500;
const ITERATIONS: usize = 5_000;

fn measure(name: &str, mut f: impl FnMut()) {
    for _ in 0..WARMUP {
        f();
    }
    let mut times: Vec<Duration> = (0..ITERATIONS)
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

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    bare_wasmtime();
    probe_one_trace(&root);
    create_through_three_steps(&root);
}
