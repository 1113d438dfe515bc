//! The sandbox on its own: each fault class of PIPE-12 produced by the probe, each limit obeyed and violated
//! (BOX-3), the host carrying on after every one, and components that do not fit refused at load (BOX-4).

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use xrm_model::{Fault, Request, Response, Uuid, codes};
use xrm_sandbox::context::ExecutionContext;
use xrm_sandbox::sandbox::{FailureKind, Limits, Plugin, PluginHost, Sandbox};

/// A host whose service refuses every call: these tests make none.
struct NoCalls;

impl PluginHost for NoCalls {
    fn call(&mut self, _: &std::sync::Arc<ExecutionContext>, _: Option<Uuid>, _: Request) -> Result<Response, Fault> {
        Err(Fault::new(codes::INVALID_ARGUMENT, "no service in this test"))
    }
}

fn sandbox() -> &'static Sandbox<NoCalls> {
    static SANDBOX: OnceLock<Sandbox<NoCalls>> = OnceLock::new();
    SANDBOX.get_or_init(|| Sandbox::new().expect("the engine starts"))
}

fn probe_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/probe");
        xrm_sandbox::build::plugin_crate(&dir).expect("the probe builds")
    })
    .clone()
}

fn probe() -> std::sync::Arc<Plugin<NoCalls>> {
    sandbox().load("probe", &probe_path()).expect("the probe loads")
}

fn context() -> ExecutionContext {
    ExecutionContext::new("Create", "account", Uuid::from_u128(1))
}

fn run(ops: &str, limits: Limits) -> xrm_sandbox::sandbox::Outcome<NoCalls> {
    let config = format!("{{\"ops\": {ops}}}");
    sandbox().execute(&probe(), context(), (Some(config), None), limits, NoCalls)
}

fn small_limits() -> Limits {
    Limits { timeout: Duration::from_millis(300), memory_bytes: 16 << 20, ..Limits::default() }
}

/// After any failure the same sandbox runs the next execution normally (PIPE-12: the host keeps running).
fn carries_on() {
    let out = run(r#"[{"trace": "still here at depth {Depth}"}]"#, small_limits());
    assert!(out.result.is_ok(), "{:?}", out.result.err());
    assert_eq!(out.trace.trim(), "still here at depth 1");
}

#[test]
fn pipe_12_a_panic_is_a_plugin_fault_with_its_message_in_the_trace() {
    let out = run(r#"[{"panic": "gave up"}]"#, small_limits());
    let failure = out.result.expect_err("a panic fails the execution");
    assert_eq!(failure.kind, FailureKind::Fault);
    assert_eq!(failure.fault.code, codes::PLUGIN_FAULT);
    assert!(out.trace.contains("gave up"), "trace: {}", out.trace);
    carries_on();
}

#[test]
fn pipe_12_box_3_time_limit_violated_then_obeyed() {
    let out = run(r#"[{"spin": true}]"#, small_limits());
    let failure = out.result.expect_err("an endless loop is stopped");
    assert_eq!(failure.kind, FailureKind::Timeout);
    assert_eq!(failure.fault.code, codes::PLUGIN_TIMEOUT);
    carries_on();
}

#[test]
fn pipe_12_box_3_memory_limit_violated_then_obeyed() {
    let out = run(r#"[{"allocate": 67108864}]"#, small_limits());
    let failure = out.result.expect_err("64 MiB does not fit in 16 MiB");
    assert_eq!(failure.kind, FailureKind::Memory);
    assert_eq!(failure.fault.code, codes::SANDBOX_WORKER_NOT_AVAILABLE);
    let out = run(r#"[{"allocate": 1048576}]"#, small_limits());
    assert!(out.result.is_ok(), "1 MiB fits: {:?}", out.result.err());
    carries_on();
}

#[test]
fn pipe_12_invalid_plugin_execution_is_0x80040265_with_the_plugins_message() {
    let out = run(r#"[{"throw": "not today"}]"#, small_limits());
    let failure = out.result.expect_err("throw fails");
    assert_eq!(failure.kind, FailureKind::Aborted);
    assert_eq!(failure.fault, Fault::new(codes::PLUGIN_ABORTED, "not today"));
    let out = run(r#"[{"retry": "later"}]"#, small_limits());
    assert_eq!(out.result.expect_err("retry fails").kind, FailureKind::Retry);
}

#[test]
fn box_1_the_plugin_changes_only_its_own_context() {
    let out = run(r#"[{"setshared": {"k": "v"}}, {"setoutput": {"o": 1}}]"#, small_limits());
    assert!(out.result.is_ok(), "{:?}", out.result.err());
    assert!(out.context.shared_variables.contains_key("k"));
    assert!(out.context.output_parameters.contains_key("o"));
}

fn load_bytes(name: &str, bytes: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("xrm-sandbox-box4-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, bytes).expect("write component");
    match sandbox().load(name, &path) {
        Ok(_) => panic!("`{name}` loaded but does not implement the interface"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn box_4_components_that_do_not_fit_are_refused_at_load_naming_the_plugin_and_the_problem() {
    let core = wat::parse_str("(module)").expect("wat");
    let err = load_bytes("core-module", &core);
    assert!(err.contains("plug-in `core-module`") && err.contains("core WebAssembly module, not a component"), "{err}");

    let err = load_bytes("random-bytes", b"this is not wasm at all");
    assert!(err.contains("plug-in `random-bytes`") && err.contains("not a WebAssembly file"), "{err}");

    let probe = std::fs::read(probe_path()).expect("probe bytes");
    let err = load_bytes("truncated", &probe[..probe.len() / 2]);
    assert!(err.contains("plug-in `truncated`") && err.contains("not a valid component"), "{err}");

    let empty = wat::parse_str("(component)").expect("wat");
    let err = load_bytes("no-export", &empty);
    assert!(err.contains("plug-in `no-export`") && err.contains("xrm:plugin/plugin@0.2.0"), "{err}");

    let other_version = wat::parse_str(r#"(component (import "xrm:plugin/tracing-service@0.3.0" (instance (export "trace" (func (param "message" string))))))"#).expect("wat");
    let err = load_bytes("wrong-version", &other_version);
    assert!(err.contains("plug-in `wrong-version`") && err.contains("xrm:plugin/tracing-service@0.3.0"), "{err}");

    let unknown =
        wat::parse_str(r#"(component (import "acme:net/socket" (instance (export "connect" (func)))))"#).expect("wat");
    let err = load_bytes("unknown-import", &unknown);
    assert!(err.contains("plug-in `unknown-import`") && err.contains("acme:net/socket"), "{err}");
}

#[test]
fn a_compiled_component_is_cached_on_disk_and_loaded_from_there_the_second_time() {
    let dir = std::env::temp_dir().join(format!("xrm-sandbox-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut sandbox = Sandbox::<NoCalls>::new().expect("sandbox");
    sandbox.set_cache_dir(Some(dir.clone()));
    sandbox.load("probe", &probe_path()).expect("first load compiles");
    let cached: Vec<_> = std::fs::read_dir(&dir).expect("cache dir").filter_map(Result::ok).map(|e| e.path()).collect();
    assert_eq!(cached.len(), 1, "one compiled file: {cached:?}");
    assert_eq!(cached[0].extension().and_then(|e| e.to_str()), Some("cwasm"));
    let written = std::fs::metadata(&cached[0]).and_then(|m| m.modified()).expect("mtime");
    sandbox.load("probe", &probe_path()).expect("second load uses the cache");
    let again = std::fs::metadata(&cached[0]).and_then(|m| m.modified()).expect("mtime");
    assert_eq!(written, again, "the cached file was not written again");
    // A corrupt cache file is compiled again, not trusted.
    std::fs::write(&cached[0], b"garbage").expect("corrupt the cache");
    let out_of_cache = sandbox.load("probe", &probe_path()).expect("a corrupt cache entry is replaced");
    let out = sandbox.execute(&out_of_cache, context(), (Some(r#"{"ops": []}"#.into()), None), small_limits(), NoCalls);
    assert!(out.result.is_ok(), "{:?}", out.result.err());
}

#[test]
fn box_4_more_components_that_do_not_fit_are_refused_at_load_naming_the_plugin_and_the_problem() {
    let err = load_bytes("empty-file", b"");
    assert!(err.contains("plug-in `empty-file`") && err.contains("not a WebAssembly file"), "{err}");

    let header_only = b"\0asm\x0d\x00\x01\x00".to_vec();
    // Only a header is a valid, empty component: it exports nothing.
    let err = load_bytes("header-only", &header_only);
    assert!(
        err.contains("plug-in `header-only`") && err.contains("does not export `xrm:plugin/plugin@0.2.0`"),
        "{err}"
    );

    let mut garbage = header_only.clone();
    garbage.extend(std::iter::repeat_n(0xFF_u8, 64));
    let err = load_bytes("garbage-after-header", &garbage);
    assert!(err.contains("plug-in `garbage-after-header`") && err.contains("not a valid component"), "{err}");

    // The interface is exported, but without `execute`.
    let no_execute =
        wat::parse_str(r#"(component (instance $i) (export "xrm:plugin/plugin@0.2.0" (instance $i)))"#).expect("wat");
    let err = load_bytes("no-execute", &no_execute);
    assert!(err.contains("plug-in `no-execute`") && err.contains("execute"), "{err}");

    // A plug-in built against another version of the interface exports that version.
    let newer =
        wat::parse_str(r#"(component (instance $i) (export "xrm:plugin/plugin@0.3.0" (instance $i)))"#).expect("wat");
    let err = load_bytes("newer-export", &newer);
    assert!(
        err.contains("plug-in `newer-export`")
            && err.contains("xrm:plugin@0.3.0")
            && err.contains("xrm:plugin@0.2.0")
            && err.contains("rebuild the plug-in with the current SDK"),
        "{err}"
    );

    // A WASI interface the host does not provide, next to the plug-in's own imports.
    let wasi_next = wat::parse_str(
        r#"(component
             (import "xrm:plugin/tracing-service@0.2.0" (instance (export "trace" (func (param "message" string)))))
             (import "wasi:cli/environment@0.3.0" (instance (export "get-arguments" (func (result (list string)))))))"#,
    )
    .expect("wat");
    let err = load_bytes("wasi-next", &wasi_next);
    assert!(err.contains("plug-in `wasi-next`") && err.contains("wasi:cli/environment@0.3.0"), "{err}");
}

/// A plug-in as the SDK of interface 0.1.0 built it: the 0.1.0 services imported, the 0.1.0 `plugin` exported.
const BUILT_AGAINST_0_1_0: &str = r#"(component
    (import "xrm:plugin/tracing-service@0.1.0" (instance (export "trace" (func (param "message" string)))))
    (import "xrm:plugin/organization-service-factory@0.1.0" (instance))
    (instance $plugin)
    (export "xrm:plugin/plugin@0.1.0" (instance $plugin)))"#;

#[test]
fn box_4_a_plugin_built_against_interface_0_1_0_is_refused_at_load_naming_both_versions() {
    let old = wat::parse_str(BUILT_AGAINST_0_1_0).expect("wat");
    let err = load_bytes("built-with-0.1", &old);
    assert!(err.contains("plug-in `built-with-0.1`"), "{err}");
    assert!(err.contains("built against the plug-in interface `xrm:plugin@0.1.0`"), "{err}");
    assert!(err.contains("this host implements `xrm:plugin@0.2.0`"), "{err}");
    assert!(err.contains("rebuild the plug-in with the current SDK"), "{err}");
    assert_eq!(xrm_sandbox::sandbox::interface(), "xrm:plugin@0.2.0");
}

fn hostile() -> std::sync::Arc<Plugin<NoCalls>> {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    let path = PATH.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/hostile");
        xrm_sandbox::build::plugin_crate(&dir).expect("the hostile plug-in builds")
    });
    sandbox().load("hostile", path).expect("the hostile plug-in loads")
}

fn attack(json: &str, limits: Limits) -> xrm_sandbox::sandbox::Outcome<NoCalls> {
    sandbox().execute(&hostile(), context(), (Some(json.to_owned()), None), limits, NoCalls)
}

#[test]
fn box_2_the_same_loaded_plugin_gives_every_execution_a_fresh_instance() {
    for _ in 0..3 {
        let out = attack(r#"{"attack": "counter"}"#, small_limits());
        assert!(out.result.is_ok(), "{:?}", out.result.err());
        assert_eq!(out.trace.trim(), "counter: this instance has run 1 execution(s)");
    }
}

#[test]
fn pipe_12_an_exit_is_a_plugin_fault_and_the_host_carries_on() {
    let out = attack(r#"{"attack": "exit"}"#, small_limits());
    let failure = out.result.expect_err("exit fails the execution");
    assert_eq!(failure.kind, FailureKind::Fault);
    assert!(failure.fault.message.contains("exited its process (status 1)"), "{}", failure.fault.message);
    carries_on();
}

#[test]
fn pipe_12_box_3_memory_bombs_big_and_small_are_0x8004418d_then_the_host_carries_on() {
    for bomb in [
        r#"{"attack": "huge-allocation", "bytes": 1073741824}"#,
        r#"{"attack": "small-allocations", "bytes": 67108864}"#,
    ] {
        let out = attack(bomb, small_limits());
        let failure = out.result.expect_err("past 16 MiB");
        assert_eq!(
            (failure.kind, failure.fault.code),
            (FailureKind::Memory, codes::SANDBOX_WORKER_NOT_AVAILABLE),
            "{bomb}"
        );
        carries_on();
    }
}

#[test]
fn pipe_12_box_3_stack_overflows_are_clean_faults() {
    let out = attack(r#"{"attack": "stack-overflow"}"#, small_limits());
    let failure = out.result.expect_err("overflows");
    assert_eq!(failure.kind, FailureKind::Fault);
    assert!(failure.fault.message.contains("overflowed its stack"), "{}", failure.fault.message);
    let out = run(r#"[{"recurse": 10000000}]"#, small_limits());
    let failure = out.result.expect_err("overflows the stack in linear memory");
    assert!(failure.fault.message.contains("its stack in linear memory overflowed"), "{}", failure.fault.message);
    carries_on();
}

/// A component exporting `xrm:plugin/plugin@0.2.0` whose `execute` is the function type `ty`, lifted from a core
/// function of the matching flat signature `core`.
fn exporting_execute(ty: &str, core: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(component
             (core module $m (func (export "f") {core} unreachable))
             (core instance $i (instantiate $m))
             (func $f {ty} (canon lift (core func $i "f")))
             (instance $p (export "execute" (func $f)))
             (export "xrm:plugin/plugin@0.2.0" (instance $p)))"#
    ))
    .expect("wat")
}

#[test]
fn box_4_an_export_with_the_right_name_but_other_function_types_is_refused_at_load() {
    let expected = "expected `execute: func(context: borrow<context>, configuration: step-configuration) -> \
                    result<_, plugin-error>;`";
    let err = load_bytes("no-params", &exporting_execute("", ""));
    assert!(err.contains("plug-in `no-params`") && err.contains("`execute` has other types"), "{err}");
    assert!(err.contains(expected) && err.contains("found `execute: func()`"), "{err}");

    let err = load_bytes(
        "wrong-params",
        &exporting_execute(
            r#"(param "context" u32) (param "configuration" u64) (result u32)"#,
            "(param i32 i64) (result i32)",
        ),
    );
    assert!(err.contains("plug-in `wrong-params`") && err.contains(expected), "{err}");
    assert!(err.contains("found `execute: func(context: u32, configuration: u64) -> u32`"), "{err}");

    // `execute` exported as something else than a function.
    let not_a_function = wat::parse_str(
        r#"(component (type $t u32) (instance $p (export "execute" (type $t))) (export "xrm:plugin/plugin@0.2.0" (instance $p)))"#,
    )
    .expect("wat");
    let err = load_bytes("execute-type", &not_a_function);
    assert!(err.contains("plug-in `execute-type`") && err.contains("`execute` is a type, not a function"), "{err}");
}

#[test]
fn box_4_an_import_of_an_unknown_interface_is_refused_at_load_even_when_it_needs_nothing() {
    let unknown = "an interface this host does not provide";
    let empty = wat::parse_str(r#"(component (import "acme:audit/log@1.0.0" (instance)))"#).expect("wat");
    let err = load_bytes("unknown-empty-import", &empty);
    assert!(err.contains("plug-in `unknown-empty-import`") && err.contains("`acme:audit/log@1.0.0`"), "{err}");
    assert!(err.contains(unknown), "{err}");

    // Types only: nothing the linker would have to supply either.
    let types_only = wat::parse_str(
        r#"(component (import "acme:audit/types@1.0.0" (instance (type $l u8) (export "level" (type (eq $l))))))"#,
    )
    .expect("wat");
    let err = load_bytes("unknown-types-import", &types_only);
    assert!(err.contains("`acme:audit/types@1.0.0`") && err.contains(unknown), "{err}");

    let non_empty =
        wat::parse_str(r#"(component (import "acme:net/socket" (instance (export "connect" (func)))))"#).expect("wat");
    let err = load_bytes("unknown-import", &non_empty);
    assert!(err.contains("plug-in `unknown-import`") && err.contains("`acme:net/socket`") && err.contains(unknown));

    // An unknown WASI interface, by a name close to those the host provides.
    let wasi = wat::parse_str(r#"(component (import "wasi:keyvalue/store@0.2.0" (instance)))"#).expect("wat");
    let err = load_bytes("unknown-wasi", &wasi);
    assert!(err.contains("`wasi:keyvalue/store@0.2.0`") && err.contains(unknown), "{err}");

    // A known interface with a nested instance no interface of the host has.
    let nested = wat::parse_str(r#"(component (import "wasi:io/error@0.2.0" (instance (export "inner" (instance)))))"#)
        .expect("wat");
    let err = load_bytes("nested-import", &nested);
    assert!(err.contains("`wasi:io/error@0.2.0` with a nested instance `inner`"), "{err}");
}

#[test]
fn box_4_an_empty_import_of_an_interface_the_host_provides_is_no_reason_to_refuse() {
    // Another 0.2 version of a WASI interface, and the contract's own: the component fails only for its export.
    let fine = wat::parse_str(
        r#"(component (import "wasi:io/error@0.2.0" (instance)) (import "xrm:plugin/tracing-service@0.2.0" (instance)))"#,
    )
    .expect("wat");
    let err = load_bytes("known-empty-imports", &fine);
    assert!(err.contains("xrm:plugin/plugin@0.2.0") && !err.contains("does not provide"), "{err}");
}
