//! The sandbox: the only module that touches wasmtime (BOX-1..4, PIPE-12).
//!
//! One engine per process, with the pooling allocator and epoch interruption. Each plug-in is compiled once
//! (and cached on disk) and pre-instantiated once; every execution gets a fresh `Store` and instance (BOX-2)
//! with its own time and memory limits (BOX-3). Calls the plug-in makes to its organization service go to a
//! [`PluginHost`] that the caller supplies: the sandbox never knows what runs them.

mod bindings;
mod cache;
mod clock;
mod convert;
mod engine;
mod fault;
mod fit;
mod host;
mod output;
mod slots;
mod version;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Store, StoreLimits};
use wasmtime_wasi::WasiCtx;
use xrm_model::{Fault, Request, Response, Uuid};

use crate::context::ExecutionContext;
pub use cache::{COMPILE_COMMAND, compile_in_child_processes, compile_stdin_to_stdout};
pub use engine::shared as engine;
pub use fault::{FailureKind, PluginFailure};
pub use host::http::{HttpExchange, HttpOutcome, HttpReply, HttpRequest, HttpTransport};
pub use version::{VERSION as INTERFACE_VERSION, package as interface};

use bindings::PluginWorldPre;
use bindings::exports::xrm::plugin::plugin as export;

/// What runs the calls a plug-in makes through its organization service.
pub trait PluginHost: Send + 'static {
    /// Runs `request` for a service created with `service_user`, the factory argument exactly as the plug-in
    /// gave it, from the running step's `context` (shared, so that a child pipeline can keep it as its
    /// `ParentContext` without a copy) (`None`, the empty GUID, or a user id): deciding who that is belongs to the caller (IMP-4).
    fn call(
        &mut self,
        context: &Arc<ExecutionContext>,
        service_user: Option<Uuid>,
        request: Request,
    ) -> Result<Response, Fault>;

    /// What answers and records the plug-in's HTTP requests (BOX-6). Default: nothing, every request is
    /// refused as if no server listened.
    fn http(&mut self) -> Option<&mut dyn HttpTransport> {
        None
    }
}

/// Limits of one execution (BOX-3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Wall time of the execution, including the time spent in its service calls, and never past the deadline
    /// of the execution whose service call runs this one. Default: 2 minutes.
    pub timeout: Duration,
    /// Linear memory of the instance, in bytes. Default: 256 MiB.
    pub memory_bytes: usize,
    /// Tables and instances the plug-in may create. Default: 100 each.
    pub max_tables: usize,
    pub max_instances: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { timeout: Duration::from_secs(120), memory_bytes: 256 << 20, max_tables: 100, max_instances: 100 }
    }
}

/// What a step gives its plug-in besides the context: its configuration as registered, and the plug-in type it
/// runs (PIPE-18). `(unsecure, secure)` converts into one that names no type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepConfiguration {
    /// The unsecure configuration (`configuration`).
    pub unsecure: Option<String>,
    /// The secure configuration (`secureconfiguration`).
    pub secure: Option<String>,
    /// The plug-in type the step names (`type`): which of the component's types runs.
    pub plugin_type: Option<String>,
}

impl From<(Option<String>, Option<String>)> for StepConfiguration {
    fn from((unsecure, secure): (Option<String>, Option<String>)) -> Self {
        StepConfiguration { unsecure, secure, plugin_type: None }
    }
}

/// Why a component could not be loaded as a plug-in (BOX-4).
#[derive(Debug, thiserror::Error)]
#[error("plug-in `{plugin}` ({path}): {reason}")]
pub struct LoadError {
    pub plugin: String,
    pub path: String,
    pub reason: String,
}

/// A compiled, pre-instantiated plug-in, ready for any number of executions.
pub struct Plugin<H: PluginHost> {
    name: String,
    pre: PluginWorldPre<StoreData<H>>,
    /// The instance pool's slots one execution takes (BOX-5).
    slots: slots::Slots,
}

impl<H: PluginHost> Plugin<H> {
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The per-execution state of a store.
pub struct StoreData<H> {
    host: H,
    /// Shared with the child pipelines of the plug-in's calls as their `ParentContext`; a change the plug-in
    /// makes afterwards copies it if one of them still holds it (a queued job).
    context: Arc<ExecutionContext>,
    /// Bytes the plug-in added to its context, counted against the case's memory budget while it runs (BOX-5).
    context_bytes: i64,
    table: ResourceTable,
    wasi: WasiCtx,
    limits: StoreLimits,
    /// Set when the memory limit refused a growth, so the resulting trap reads as SandboxWorkerNotAvailable.
    memory_refused: bool,
    memory_limit: usize,
    /// The bytes of all the instance's memories together: the limit is on their sum (BOX-5), so that a
    /// component of many memories cannot take the limit once per memory.
    memory_used: usize,
    /// What the plug-in traced, its last [`OUTPUT_CAPACITY`] bytes.
    trace: output::Tail,
    deadline: Instant,
    /// Outbound HTTP (BOX-6): requests sent and not yet recorded.
    http: host::http::HttpState,
}

/// What an execution produced.
pub struct Outcome<H> {
    /// The host, given back.
    pub host: H,
    /// The context as the plug-in left it (changed input and output parameters, shared variables).
    pub context: ExecutionContext,
    pub result: Result<(), PluginFailure>,
    /// What the plug-in traced, then what it wrote to stdout and stderr.
    pub trace: String,
    pub duration: Duration,
}

/// Runs plug-ins for one kind of host.
pub struct Sandbox<H: PluginHost> {
    linker: Linker<StoreData<H>>,
    cache_dir: Option<PathBuf>,
    /// The import names the linker provides, as BOX-4's check found them.
    provided: fit::Provided,
}

/// What the host keeps of a plug-in's trace, and of its stdout and stderr: the last 64 KiB of each, more than
/// the 10 KB a trace log record keeps (PIPE-13). Older text is dropped as newer arrives, so a plug-in may write
/// without end and neither fails nor grows the host's memory.
const OUTPUT_CAPACITY: usize = 64 << 10;

/// When an execution started at `started` with `timeout` must end: its own limit, or the enclosing
/// execution's deadline if that comes first.
fn deadline(started: Instant, timeout: Duration) -> Instant {
    // A limit too large to add is as good as none: a century.
    let own = started.checked_add(timeout).or_else(|| started.checked_add(Duration::from_secs(100 * 365 * 86_400)));
    match (own, crate::deadline::current()) {
        (Some(own), Some(outer)) => own.min(outer),
        (Some(own), None) => own,
        (None, outer) => outer.unwrap_or(started),
    }
}

impl<H: PluginHost> Sandbox<H> {
    pub fn new() -> Result<Self, LoadError> {
        let engine = engine::shared().map_err(|e| LoadError {
            plugin: String::new(),
            path: String::new(),
            reason: format!("cannot start the WebAssembly engine: {e}"),
        })?;
        let mut linker = Linker::new(engine);
        let linked = bindings::PluginWorld::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |d| d)
            .and_then(|()| wasmtime_wasi::p2::add_to_linker_sync(&mut linker))
            .and_then(|()| host::http::add_to_linker(&mut linker));
        let linked = linked.and_then(|()| {
            clock::add_to_linker(&mut linker, |d: &mut StoreData<H>| clock::DeadlineClock {
                table: &mut d.table,
                deadline: d.deadline,
            })
        });
        linked.map_err(|e| LoadError { plugin: String::new(), path: String::new(), reason: e.to_string() })?;
        Ok(Sandbox { linker, cache_dir: cache::default_dir(), provided: fit::Provided::default() })
    }

    /// Where compiled components are cached; `None` compiles every time. Default: `XRM_SANDBOX_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/xrm-sandbox`, else `~/.cache/xrm-sandbox`.
    pub fn set_cache_dir(&mut self, dir: Option<PathBuf>) -> &mut Self {
        self.cache_dir = dir;
        self
    }

    /// Loads a component from a file, compiling it or taking it from the disk cache, and checks that it
    /// implements the plug-in interface (BOX-4).
    pub fn load(&self, name: &str, path: &Path) -> Result<Arc<Plugin<H>>, LoadError> {
        let fail = |reason: String| LoadError { plugin: name.to_owned(), path: path.display().to_string(), reason };
        let bytes = crate::input::read_bytes(path, crate::input::MAX_COMPONENT_FILE).map_err(fail)?;
        let component = cache::compile(self.linker.engine(), &bytes, self.cache_dir.as_deref()).map_err(fail)?;
        version::check(self.linker.engine(), &component).map_err(fail)?;
        fit::check_imports(&self.linker, &self.provided, &component).map_err(fail)?;
        let pre = self.linker.instantiate_pre(&component).map_err(|e| fail(fault::describe_link_error(&e)))?;
        fit::check_exports(&pre).map_err(fail)?;
        let pre = PluginWorldPre::new(pre).map_err(|e| fail(fault::describe_link_error(&e)))?;
        let slots = slots::needed(&bytes, &component).map_err(fail)?;
        Ok(Arc::new(Plugin { name: name.to_owned(), pre, slots }))
    }

    /// Runs one execution of `plugin` in a fresh instance.
    pub fn execute(
        &self,
        plugin: &Plugin<H>,
        context: ExecutionContext,
        configuration: impl Into<StepConfiguration>,
        limits: Limits,
        host: H,
    ) -> Outcome<H> {
        let configuration: StepConfiguration = configuration.into();
        let started = Instant::now();
        let deadline = deadline(started, limits.timeout);
        // BOX-5: the case's share of the instance pool; a case past it fails here, and only that case.
        let reservation = match slots::reserve(plugin.slots, deadline) {
            Ok(r) => r,
            Err(refused) => {
                let failure = slots_refused(refused, &plugin.name);
                let duration = started.elapsed();
                return Outcome { host, context, result: Err(failure), trace: String::new(), duration };
            }
        };
        let stdout = output::TailPipe::new(OUTPUT_CAPACITY);
        let mut wasi = WasiCtx::builder();
        // Deny-all (BOX-1): no preopened directories, no environment, no arguments, no network.
        wasi.stdout(stdout.clone())
            .stderr(stdout.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let data = StoreData {
            host,
            context: Arc::new(context),
            context_bytes: 0,
            table: ResourceTable::new(),
            wasi: wasi.build(),
            // The store may create what its reservation holds, and no more.
            limits: wasmtime::StoreLimitsBuilder::new()
                .tables(limits.max_tables.min(plugin.slots.tables))
                .instances(limits.max_instances.min(plugin.slots.core_instances))
                .memories(plugin.slots.memories)
                .build(),
            memory_refused: false,
            memory_limit: limits.memory_bytes,
            memory_used: 0,
            trace: output::Tail::new(OUTPUT_CAPACITY),
            deadline,
            http: host::http::HttpState::new(),
        };
        let mut store = Store::new(self.linker.engine(), data);
        store.limiter(|d| d);
        store.set_epoch_deadline(engine::ticks(deadline.saturating_duration_since(started)));
        // Reaching the epoch deadline means "look at the clock": stop only once the deadline has really passed.
        store.epoch_deadline_callback(|store| {
            Ok(match Instant::now() >= store.data().deadline {
                true => wasmtime::UpdateDeadline::Interrupt,
                false => wasmtime::UpdateDeadline::Continue(1),
            })
        });

        let scope = crate::deadline::Scope::enter(deadline);
        let result = run(&mut store, plugin, configuration);
        drop(scope);
        let duration = started.elapsed();
        store.data_mut().record_http(true);
        let data = store.into_data();
        drop(reservation);
        crate::budget::add(-data.context_bytes);
        let context = Arc::unwrap_or_clone(data.context);
        let mut trace = data.trace.text();
        append_output(&mut trace, &stdout.contents());
        let result = result.map_err(|e| fault::classify(e, data.memory_refused, &plugin.name, &mut trace));
        Outcome { host: data.host, context, result, trace, duration }
    }
}

/// The failure of an execution refused its share of the instance pool.
fn slots_refused(refused: slots::Refused, plugin: &str) -> PluginFailure {
    match refused {
        slots::Refused::Share { kind, held, needed, cap } => PluginFailure {
            kind: FailureKind::Memory,
            fault: Fault::new(
                xrm_model::codes::SANDBOX_WORKER_NOT_AVAILABLE,
                format!(
                    "The plug-in `{plugin}` cannot run: the sandbox worker is not available. Its case already holds \
                     {held} {kind} of the instance pool and an execution of `{plugin}` needs {needed} more, past \
                     the {cap} one case may hold at once (plug-ins nested too deep, or components too large; BOX-5)"
                ),
            ),
        },
        slots::Refused::Deadline => PluginFailure {
            kind: FailureKind::Timeout,
            fault: Fault::new(
                xrm_model::codes::PLUGIN_TIMEOUT,
                format!(
                    "The plug-in execution failed because the plug-in `{plugin}` exceeded the time limit waiting \
                     for room in the sandbox"
                ),
            ),
        },
    }
}

/// Instantiates and calls the export; `Err` carries either a trap or the plug-in's own error.
fn run<H: PluginHost>(
    store: &mut Store<StoreData<H>>,
    plugin: &Plugin<H>,
    StepConfiguration { unsecure, secure, plugin_type }: StepConfiguration,
) -> Result<(), fault::RunError> {
    let instance = plugin.pre.instantiate(&mut *store).map_err(fault::RunError::Trap)?;
    let context =
        store.data_mut().table.push(host::ContextHandle::current()).map_err(|e| fault::RunError::Trap(e.into()))?;
    let config = export::StepConfiguration { unsecure, secure, plugin_type };
    let outcome = instance.xrm_plugin_plugin().call_execute(&mut *store, context, &config);
    match outcome {
        // The epoch trails the clock by up to a tick: a plug-in woken at its deadline (a sleep cut short) could
        // otherwise finish just past it as if in time.
        Ok(_) if Instant::now() > store.data().deadline => Err(fault::RunError::Trap(host::TimeLimit.into())),
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(fault::RunError::Plugin(err)),
        Err(trap) => Err(fault::RunError::Trap(trap)),
    }
}

fn append_output(trace: &mut String, output: &str) {
    if output.is_empty() {
        return;
    }
    if !trace.is_empty() && !trace.ends_with('\n') {
        trace.push('\n');
    }
    trace.push_str(output);
}

/// The bytes of an instance's memories together once one of them, of `current` bytes, has `desired`.
fn summed(used: usize, current: usize, desired: usize) -> usize {
    used.saturating_sub(current).saturating_add(desired)
}

impl<H: Send> wasmtime_wasi::WasiView for StoreData<H> {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl<H: PluginHost> wasmtime::ResourceLimiter for StoreData<H> {
    /// Called for every memory the instance creates (from 0) and every growth: the limit holds for the sum.
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let total = summed(self.memory_used, current, desired);
        if total > self.memory_limit {
            self.memory_refused = true;
            return Ok(false);
        }
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            self.memory_used = total;
        }
        Ok(allowed)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

#[cfg(test)]
mod tests {
    use super::summed;

    #[test]
    fn an_instances_memories_count_together() {
        const PAGE: usize = 64 << 10;
        // 80 memories of 1000 pages (62.5 MiB) each, created one after the other: the sum passes 64 MiB at the
        // second, where each alone never would.
        let mut used = 0;
        let created = (0..80).take_while(|_| {
            let total = summed(used, 0, 1000 * PAGE);
            let fits = total <= 64 << 20;
            used = if fits { total } else { used };
            fits
        });
        assert_eq!(created.count(), 1);
        // A growth counts only what it adds.
        assert_eq!(summed(10 * PAGE, 4 * PAGE, 6 * PAGE), 12 * PAGE);
    }
}
