//! Hostile: a plug-in that attacks the sandbox it runs in, one attack per step, chosen by its unsecure
//! configuration, e.g. `{"attack": "open-file"}` (BOX-1..4, PIPE-12, PIPE-13). With `"on": "text"` it attacks
//! only when the Target's `subject` is that text.
//!
//! The suites in `tests/conformance/hostile-*.json` register it once per attack and assert the exact outcome;
//! `docs/sandbox.md` lists every attack and what the host does about it.
//!
//! The escape attempts (files, environment, arguments, sockets, processes) trace what they tried and the
//! error they got, one line each (`open /etc/passwd: denied (…)`), and fail the step if anything succeeded,
//! so a sandbox that let one through cannot pass a suite.

mod http;

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value as Json;
use xrm_sandbox_guest::{ColumnSet, Entity, Plugin, PluginContext, PluginError, StepConfiguration, Uuid, trace};

struct Hostile {
    attack: String,
    config: Json,
}

impl Plugin for Hostile {
    fn new(configuration: &StepConfiguration) -> Result<Self, PluginError> {
        let text = configuration.unsecure().unwrap_or("{}");
        let config: Json = serde_json::from_str(text)
            .map_err(|e| PluginError::invalid(format!("hostile: the configuration is not JSON: {e}")))?;
        let attack = config
            .get("attack")
            .and_then(Json::as_str)
            .ok_or_else(|| PluginError::invalid("hostile: the configuration names no `attack`"))?
            .to_owned();
        Ok(Hostile { attack, config })
    }

    fn execute(&self, context: &PluginContext) -> Result<(), PluginError> {
        if !self.armed(context) {
            return Ok(());
        }
        match self.attack.as_str() {
            "open-file" => {
                // WASI names a current directory (`/`) even when no directory is open: a name, not access.
                let cwd = std::env::current_dir().map(|d| d.display().to_string());
                trace!("open-file: the current directory is named {cwd:?}");
                escape("open-file", open_files())
            }
            "env" => escape("env", environment()),
            "args" => escape("args", arguments()),
            "socket" => escape("socket", sockets()),
            "process" => escape("process", processes()),
            "exit" => std::process::exit(3),
            "counter" => counter(),
            "panic" => fail(&self.text("message")?),
            "unreachable" => unreachable_trap(),
            "stack-overflow" => stack_overflow(),
            "divide-by-zero" => divide_by_zero(),
            "huge-allocation" => huge_allocation(self.number("bytes")?),
            "small-allocations" => small_allocations(self.number("bytes")?),
            "trace-flood" => trace_flood(context, self.number("bytes")?, self.config.get("via").and_then(Json::as_str)),
            "sleep" => sleep(self.number("seconds")?),
            "nap" => nap(self.number("millis")?),
            "deep-nest" => deep_nest(context, self.number("frames")?),
            "forged-query" => forged_query(&self.text("shape")?, self.config.get("count").and_then(Json::as_u64)),
            "call-loop" => call_loop(context, self.number("count")?),
            "big-entity" => big_entity(context, self.number("bytes")?),
            "record-flood" => record_flood(context, self.number("bytes")?, self.number("count")?),
            "shared-then-creates" => shared_then_creates(context, &self.config),
            "async-fork" => async_fork(context, &self.text("on")?, self.number("count")?),
            "huge-message" => huge_message(context, self.number("bytes")?, self.number("levels")?),
            "http-flood" => http::flood(&self.text("url")?, self.number("count")?),
            "http-huge-body" => http::huge_body(&self.text("host")?, self.number("bytes")?),
            "http-open-requests" => http::open_requests(&self.text("host")?, self.number("count")?),
            other => Err(PluginError::invalid(format!("hostile: unknown attack `{other}`"))),
        }
    }
}

impl Hostile {
    /// With `"on": "text"`, the attack runs only when the Target's `subject` is that text, so that a suite can
    /// register every attack on one message and pick one per request; without it, always.
    fn armed(&self, context: &PluginContext) -> bool {
        let Some(on) = self.config.get("on").and_then(Json::as_str) else {
            return true;
        };
        let subject = context.target_entity().and_then(|t| match t.get("subject") {
            Some(xrm_sandbox_guest::Value::Text(s)) => Some(s.clone()),
            _ => None,
        });
        subject.as_deref() == Some(on)
    }

    fn number(&self, key: &str) -> Result<u64, PluginError> {
        self.config
            .get(key)
            .and_then(Json::as_u64)
            .ok_or_else(|| PluginError::invalid(format!("hostile: `{}` needs a number `{key}`", self.attack)))
    }

    fn text(&self, key: &str) -> Result<String, PluginError> {
        let text = self.config.get(key).and_then(Json::as_str);
        text.map(str::to_owned)
            .ok_or_else(|| PluginError::invalid(format!("hostile: `{}` needs a text `{key}`", self.attack)))
    }
}

/// One escape attempt: what was tried, and whether the sandbox let it through.
struct Attempt {
    what: String,
    outcome: Result<String, String>,
}

fn attempt<T>(what: impl Into<String>, result: std::io::Result<T>, show: impl FnOnce(T) -> String) -> Attempt {
    Attempt { what: what.into(), outcome: result.map(show).map_err(|e| e.to_string()) }
}

/// Traces each attempt as `<attack>: <what>: denied (<error>)`, or `SUCCEEDED` when it got through, and
/// fails the step if any did.
fn escape(attack: &str, attempts: Vec<Attempt>) -> Result<(), PluginError> {
    let mut escaped = Vec::new();
    for Attempt { what, outcome } in attempts {
        match outcome {
            Err(error) => trace!("{attack}: {what}: denied ({error})"),
            Ok(got) => {
                trace!("{attack}: {what}: SUCCEEDED ({got})");
                escaped.push(what);
            }
        }
    }
    if escaped.is_empty() {
        trace!("{attack}: every attempt was denied");
        return Ok(());
    }
    Err(PluginError::invalid(format!("hostile: the sandbox let through: {}", escaped.join("; "))))
}

fn open_files() -> Vec<Attempt> {
    let bytes = |b: Vec<u8>| format!("read {} bytes", b.len());
    vec![
        attempt("read /etc/passwd", std::fs::read("/etc/passwd"), bytes),
        attempt("read Cargo.toml", std::fs::read("Cargo.toml"), bytes),
        attempt("create /tmp/xrm-hostile", std::fs::write("/tmp/xrm-hostile", b"escaped"), |()| "written".into()),
        attempt("list /", std::fs::read_dir("/"), |d| format!("{} entries", d.count())),
        attempt("list .", std::fs::read_dir("."), |d| format!("{} entries", d.count())),
    ]
}

fn environment() -> Vec<Attempt> {
    let mut attempts: Vec<Attempt> = ["PATH", "HOME", "CARGO"]
        .into_iter()
        .map(|name| Attempt {
            what: format!("read ${name}"),
            outcome: std::env::var(name).map(|v| format!("{} bytes", v.len())).map_err(|e| e.to_string()),
        })
        .collect();
    let visible = std::env::vars_os().count();
    attempts.push(Attempt {
        what: "list the environment".into(),
        outcome: if visible == 0 { Err("empty".into()) } else { Ok(format!("{visible} variables")) },
    });
    attempts
}

fn arguments() -> Vec<Attempt> {
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    vec![Attempt {
        what: "read the arguments".into(),
        outcome: if args.is_empty() { Err("none".into()) } else { Ok(args.join(" ")) },
    }]
}

fn sockets() -> Vec<Attempt> {
    use std::net::{TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
    let connected = |_| "connected".to_owned();
    vec![
        attempt("connect tcp 127.0.0.1:80", TcpStream::connect("127.0.0.1:80"), connected),
        attempt("connect tcp 1.1.1.1:443", TcpStream::connect("1.1.1.1:443"), connected),
        attempt("listen tcp 127.0.0.1:0", TcpListener::bind("127.0.0.1:0"), |_| "listening".into()),
        attempt("bind udp 0.0.0.0:0", UdpSocket::bind("0.0.0.0:0"), |_| "bound".into()),
        attempt("resolve example.com", ("example.com", 80).to_socket_addrs(), |a| format!("{} addresses", a.count())),
    ]
}

fn processes() -> Vec<Attempt> {
    let output = std::process::Command::new("sh").arg("-c").arg("id").output();
    vec![attempt("run sh -c id", output, |o| String::from_utf8_lossy(&o.stdout).into_owned())]
}

/// BOX-2: a static that would count executions if an instance were reused. Each execution sees 1.
fn counter() -> Result<(), PluginError> {
    static EXECUTIONS: AtomicU64 = AtomicU64::new(0);
    let n = EXECUTIONS.fetch_add(1, Ordering::SeqCst) + 1;
    trace!("counter: this instance has run {n} execution(s)");
    Ok(())
}

#[allow(clippy::panic)] // the attack is the panic
fn fail(message: &str) -> Result<(), PluginError> {
    panic!("{message}")
}

/// A WebAssembly `unreachable` instruction: a trap, not a panic.
fn unreachable_trap() -> Result<(), PluginError> {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}

/// Recursion without end in small frames: the WebAssembly stack itself overflows (the probe's `recurse`, with
/// 1 KiB frames, overflows the shadow stack in linear memory first).
fn stack_overflow() -> Result<(), PluginError> {
    #[inline(never)]
    #[allow(unconditional_recursion)] // the attack
    fn down(n: u64) -> u64 {
        // Using the result after the call keeps it from becoming a loop.
        std::hint::black_box(down(std::hint::black_box(n + 1))).wrapping_add(n)
    }
    trace!("stack-overflow: {}", down(0));
    Ok(())
}

/// Rust checks integer division, so dividing by zero panics with "attempt to divide by zero" before the
/// WebAssembly instruction could trap (tests/integration/sandbox.rs traps on the instruction itself).
fn divide_by_zero() -> Result<(), PluginError> {
    let zero = std::hint::black_box(0_u32);
    let quotient = std::hint::black_box(7_u32) / zero;
    trace!("7 / 0 = {quotient}");
    Ok(())
}

fn size(bytes: u64) -> Result<usize, PluginError> {
    usize::try_from(bytes).map_err(|_| PluginError::invalid(format!("hostile: {bytes} bytes do not fit")))
}

/// One allocation of `bytes`, every byte written: the allocator asks for all of it at once.
fn huge_allocation(bytes: u64) -> Result<(), PluginError> {
    let block = vec![0xA5_u8; size(bytes)?];
    trace!("huge-allocation: {} bytes", std::hint::black_box(&block).len());
    Ok(())
}

/// `bytes` in 1 KiB allocations, all kept alive: memory grows a little at a time.
fn small_allocations(bytes: u64) -> Result<(), PluginError> {
    const SMALL: usize = 1024;
    let mut blocks: Vec<Box<[u8; SMALL]>> = Vec::new();
    for _ in 0..size(bytes)? / SMALL {
        blocks.push(std::hint::black_box(Box::new([0x5A_u8; SMALL])));
    }
    trace!("small-allocations: {} blocks", blocks.len());
    Ok(())
}

/// Writes `bytes` of text in 1 KiB lines through the tracing service, stdout or stderr, then a last line the
/// same way.
fn trace_flood(context: &PluginContext, bytes: u64, via: Option<&str>) -> Result<(), PluginError> {
    use std::io::Write;
    const LINE: usize = 1024;
    let mut line = "flood ".repeat(LINE / 6 + 1);
    line.truncate(LINE - 1);
    line.push('\n');
    let via = via.unwrap_or("trace");
    let write = |text: &str| -> std::io::Result<()> {
        match via {
            "stdout" => std::io::stdout().lock().write_all(text.as_bytes()),
            "stderr" => std::io::stderr().lock().write_all(text.as_bytes()),
            _ => {
                context.tracing().trace(text.trim_end_matches('\n'));
                Ok(())
            }
        }
    };
    if !matches!(via, "trace" | "stdout" | "stderr") {
        return Err(PluginError::invalid(format!("hostile: unknown output `{via}`")));
    }
    let lines = bytes / LINE as u64;
    for _ in 0..lines {
        // A failed write is the attack's finding: report it and stop.
        if let Err(e) = write(&line) {
            trace!("trace-flood: a write failed: {e}");
            return Err(PluginError::invalid(format!("hostile: writing the flood failed: {e}")));
        }
    }
    let end = format!("trace-flood: the end, after {} bytes via {via}\n", lines * LINE as u64);
    write(&end).map_err(|e| PluginError::invalid(format!("hostile: writing the last line failed: {e}")))
}

/// Sleeps in the host (a clock subscription and a poll), where the epoch cannot interrupt it.
fn sleep(seconds: u64) -> Result<(), PluginError> {
    let started = std::time::Instant::now();
    std::thread::sleep(std::time::Duration::from_secs(seconds));
    trace!("sleep: asked for {seconds} s, woke after {:?}", started.elapsed());
    Ok(())
}

/// What an ordinary plug-in does while it waits: sleeps `millis`, then polls the clock for as long again.
fn nap(millis: u64) -> Result<(), PluginError> {
    let wait = std::time::Duration::from_millis(millis);
    let started = std::time::Instant::now();
    std::thread::sleep(wait);
    let slept = started.elapsed();
    let mut polls = 0_u64;
    while started.elapsed() < slept + wait {
        polls += 1;
    }
    let enough = if slept >= wait { "at least" } else { "LESS THAN" };
    trace!("nap: slept {enough} {millis} ms ({slept:?}), then polled the clock {polls} times");
    Ok(())
}

/// Recurses `frames` deep in small frames (WebAssembly stack, not linear memory), then creates an annotation
/// with the same subject from there, which runs this step again one level deeper: every level of the pipeline
/// holds its frames on the host thread's stack at once, until the organization's `maxDepth` stops it.
fn deep_nest(context: &PluginContext, frames: u64) -> Result<(), PluginError> {
    thread_local! {
        /// The subject to create with at the bottom, and the fault the create returned.
        static BOTTOM: std::cell::RefCell<(Option<String>, Option<xrm_sandbox_guest::Fault>)> =
            const { std::cell::RefCell::new((None, None)) };
    }
    /// Frames of plain integers: they live on the WebAssembly stack only.
    #[inline(never)]
    fn down(n: u64) -> u64 {
        if n == 0 {
            return bottom();
        }
        // Using the result after the call keeps it from becoming a loop.
        std::hint::black_box(down(std::hint::black_box(n - 1))).wrapping_add(n)
    }
    /// The create, through the raw interface: the SDK's service lives in the plug-in's context, out of reach.
    #[inline(never)]
    fn bottom() -> u64 {
        use xrm_sandbox_guest::bindings::xrm::plugin::{organization_service_factory as factory, types as w};
        let attributes = BOTTOM
            .with_borrow(|b| b.0.clone())
            .map(|subject| w::Attribute { name: "subject".into(), value: w::Value::Text(subject) });
        let note = w::Entity {
            logical_name: "annotation".into(),
            id: None,
            attributes: attributes.into_iter().collect(),
            key_attributes: Vec::new(),
            formatted_values: Vec::new(),
        };
        if let Err(f) = factory::create_organization_service(None).create(&note) {
            BOTTOM.with_borrow_mut(|b| b.1 = Some(xrm_sandbox_guest::Fault::new(f.code, f.message)));
        }
        1
    }
    let subject = context.target_entity().and_then(|t| match t.get("subject") {
        Some(xrm_sandbox_guest::Value::Text(s)) => Some(s.clone()),
        _ => None,
    });
    BOTTOM.with_borrow_mut(|b| *b = (subject, None));
    let sum = down(frames);
    if let Some(fault) = BOTTOM.with_borrow_mut(|b| b.1.take()) {
        return Err(fault.into());
    }
    trace!("deep-nest: {frames} frames at depth {}, sum {sum}", context.depth());
    Ok(())
}

/// Sends a QueryExpression through the raw interface, its filters and link-entities shaped as the SDK never
/// would: `self-child` (filter 0, the criteria, lists itself `count` times), `duplicate-child`, `filter-cycle`
/// (apart from the criteria), `criteria-out-of-range`, `child-out-of-range`, `link-criteria-out-of-range`,
/// `link-parent-out-of-range`, `link-cycle`, `deep-filters` (`count` levels), `sibling-links` (`count` links
/// side by side), or `ordinary` (one condition, one link-entity: well formed). Traces how many rows came back.
fn forged_query(shape: &str, count: Option<u64>) -> Result<(), PluginError> {
    use xrm_sandbox_guest::bindings::xrm::plugin::{organization_service_factory as factory, types as w};
    let count = usize::try_from(count.unwrap_or(1)).unwrap_or(usize::MAX);
    let filter = |children: Vec<u32>| w::FilterExpression {
        filter_operator: w::LogicalOperator::And,
        conditions: Vec::new(),
        filters: children,
    };
    let link = |parent: Option<u32>, criteria: Option<u32>| w::LinkEntity {
        parent,
        link_from_attribute_name: "ownerid".into(),
        link_to_entity_name: "systemuser".into(),
        link_to_attribute_name: "systemuserid".into(),
        join_operator: w::JoinOperator::LeftOuter,
        entity_alias: None,
        columns: w::ColumnSet::Columns(Vec::new()),
        criteria,
    };
    let n = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
    let (criteria, filters, links): (Option<u32>, Vec<w::FilterExpression>, Vec<w::LinkEntity>) = match shape {
        "self-child" => (Some(0), vec![filter(vec![0; count])], Vec::new()),
        "duplicate-child" => (Some(0), vec![filter(vec![1, 1]), filter(Vec::new())], Vec::new()),
        "filter-cycle" => (None, vec![filter(vec![1]), filter(vec![0])], Vec::new()),
        "criteria-out-of-range" => (Some(5), vec![filter(Vec::new())], Vec::new()),
        "child-out-of-range" => (Some(0), vec![filter(vec![7])], Vec::new()),
        "link-criteria-out-of-range" => (None, Vec::new(), vec![link(None, Some(3))]),
        "link-parent-out-of-range" => (None, Vec::new(), vec![link(None, None), link(Some(9), None)]),
        "link-cycle" => (None, Vec::new(), vec![link(None, None), link(Some(2), None), link(Some(1), None)]),
        "deep-filters" => {
            let chain = (0..count).map(|i| filter(if i + 1 < count { vec![n(i + 1)] } else { Vec::new() })).collect();
            (Some(0), chain, Vec::new())
        }
        "sibling-links" => (None, Vec::new(), (0..count).map(|_| link(None, None)).collect()),
        "ordinary" => {
            let mut f = filter(Vec::new());
            f.conditions.push(w::ConditionExpression {
                entity_name: None,
                attribute_name: "subject".into(),
                operator: w::ConditionOperator::NotNull,
                values: Vec::new(),
            });
            (Some(0), vec![f], vec![link(None, None)])
        }
        other => return Err(PluginError::invalid(format!("hostile: unknown query shape `{other}`"))),
    };
    let query = w::Query::Expression(w::QueryExpression {
        entity_name: "annotation".into(),
        column_set: w::ColumnSet::Columns(vec!["subject".into()]),
        criteria,
        filters,
        link_entities: links,
        orders: Vec::new(),
        top_count: Some(1),
        page_info: None,
        distinct: false,
    });
    let found = factory::create_organization_service(None)
        .retrieve_multiple(&query)
        .map_err(|f| PluginError::from(xrm_sandbox_guest::Fault::new(f.code, f.message)))?;
    trace!("forged-query: {shape} returned {} rows", found.entities.len());
    Ok(())
}

/// Calls the service `count` times in a loop, each call a Retrieve of the step's user as SYSTEM.
fn call_loop(context: &PluginContext, count: u64) -> Result<(), PluginError> {
    let service = context.service_factory().create_organization_service(None);
    let columns = ColumnSet::Columns(vec!["fullname".into()]);
    for _ in 0..count {
        service.retrieve("systemuser", context.user_id(), &columns)?;
    }
    trace!("call-loop: {count} calls made");
    Ok(())
}

/// Creates a task whose description is `bytes` long, then reads it back.
fn big_entity(context: &PluginContext, bytes: u64) -> Result<(), PluginError> {
    let service = context.service_factory().create_organization_service(None);
    let id: Uuid = {
        let mut task = Entity::new("task");
        task.set("subject", "big").set("description", "x".repeat(size(bytes)?));
        service.create(&task)?
    };
    trace!("big-entity: created task {id} with {bytes} bytes of text");
    let read = service.retrieve("task", id, &ColumnSet::Columns(vec!["description".into()]))?;
    let length = match read.get("description") {
        Some(xrm_sandbox_guest::Value::Text(t)) => t.len(),
        _ => 0,
    };
    trace!("big-entity: read back {length} bytes of text");
    Ok(())
}

/// Creates up to `count` tasks of `bytes` of text each, all kept in the case, stopping at the first fault,
/// which it returns (BOX-5: the case's memory budget ends it, not the host's memory).
fn record_flood(context: &PluginContext, bytes: u64, count: u64) -> Result<(), PluginError> {
    let service = context.service_factory().create_organization_service(None);
    let text = "r".repeat(size(bytes)?);
    for i in 0..count {
        let mut task = Entity::new("task");
        task.set("subject", format!("flood {i}")).set("description", text.as_str());
        if let Err(fault) = service.create(&task) {
            trace!("record-flood: create {i} failed: {:#x}", fault.code);
            return Err(fault.into());
        }
    }
    trace!("record-flood: {count} records of {bytes} bytes created");
    Ok(())
}

/// Sets a shared variable of `bytes`, then creates `count` annotations with subject `subject` (an asynchronous
/// step on them queues a job for each, holding this context as its parent). With `"touch": true` it sets a
/// small shared variable after each create, so that each job holds a copy of its own (BOX-5).
fn shared_then_creates(context: &PluginContext, config: &Json) -> Result<(), PluginError> {
    let number = |key: &str| config.get(key).and_then(Json::as_u64).unwrap_or(0);
    let subject = config.get("subject").and_then(Json::as_str).unwrap_or("child");
    let touch = config.get("touch").and_then(Json::as_bool).unwrap_or(false);
    context.set_shared_variable("big", xrm_sandbox_guest::Value::Text("s".repeat(size(number("bytes"))?)))?;
    let service = context.service_factory().create_organization_service(None);
    for i in 0..number("count") {
        let mut note = Entity::new("annotation");
        note.set("subject", subject);
        service.create(&note)?;
        if touch {
            context.set_shared_variable("touched", i32::try_from(i).unwrap_or(i32::MAX))?;
        }
    }
    trace!("shared-then-creates: {} creates after a {} byte shared variable", number("count"), number("bytes"));
    Ok(())
}

/// An asynchronous step that creates `count` annotations with the subject it fires on: each queues the step
/// again, without end but for the bound on the jobs one `runasync` runs (BOX-5).
fn async_fork(context: &PluginContext, on: &str, count: u64) -> Result<(), PluginError> {
    let service = context.service_factory().create_organization_service(None);
    for _ in 0..count {
        let mut note = Entity::new("annotation");
        note.set("subject", on);
        service.create(&note)?;
    }
    Ok(())
}

/// Fails with a message of `bytes`; above depth `levels`, first creates an annotation with the same subject
/// (running this step one level deeper) and fails with that call's message after `bytes` of its own (BOX-5:
/// each level's message is kept to 64 KB).
fn huge_message(context: &PluginContext, bytes: u64, levels: u64) -> Result<(), PluginError> {
    let own = "m".repeat(size(bytes)?);
    if u64::try_from(context.depth()).unwrap_or(0) < levels {
        let service = context.service_factory().create_organization_service(None);
        let mut note = Entity::new("annotation");
        note.set("subject", "huge-message");
        if let Err(fault) = service.create(&note) {
            let below = fault.message.len();
            trace!("huge-message: depth {} got a message of {below} bytes", context.depth());
            return Err(PluginError::invalid(format!("depth {}: {own} <- {}", context.depth(), fault.message)));
        }
    }
    Err(PluginError::invalid(format!("depth {}: {own}", context.depth())))
}

xrm_sandbox_guest::export_plugin!(Hostile);
