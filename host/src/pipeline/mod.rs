//! The event pipeline: a request through PreValidation, PreOperation, the core operation and PostOperation,
//! each registered step run in the sandbox as the right user, in the right transaction (PIPE-1..14,
//! IMP-1..5).
//!
//! A case's mutable state ([`CaseState`]) has exactly one owner at a time: the session, or, while a plug-in
//! runs, the [`StepHost`] inside the plug-in's store, whose service calls run child pipelines on it and
//! which gives it back when the plug-in returns. No lock, no shared mutable state between cases.

mod authorize;
mod core;
mod custom;
mod frame;
pub mod identity;
pub mod jobs;
mod keys;
pub mod log;
pub mod messages;
pub mod principals;
pub mod registration;
mod session;
mod step;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use xrm_model::Uuid;

use crate::context::ExecutionContext;
use crate::org::Organization;
use crate::sandbox::{LoadError, Plugin, PluginHost, Sandbox};
use crate::security::UserPrivileges;
use crate::store::Transactional;
pub use custom::check_request as check_custom_request;
pub use log::{Event, TraceRecord};
pub use registration::{Registrations, Step};
pub use session::{Impersonation, RequestOptions, Session};
pub use step::{StepFailure, StepHost};
use xrm_model::Fault;
/// What every case of a suite shares: the organization, the registrations and the loaded plug-ins.
pub struct Pipeline {
    org: Arc<Organization>,
    registrations: Registrations,
    plugins: HashMap<String, Arc<Plugin<StepHost>>>,
    sandbox: &'static Sandbox<StepHost>,
    /// Every user's privileges, resolved once (SEC-2) from the organization: the fast path of every check while
    /// a case's security tables are as declared ([`principals`], SEC-10).
    privileges: HashMap<Uuid, UserPrivileges>,
    /// Plug-ins run as Rust code in the host instead of in the sandbox (see [`Pipeline::set_native`]).
    native: HashMap<String, NativePlugin>,
}

/// A plug-in written as a plain Rust function called in the host, with the step, its context and a host for
/// its service calls: no sandbox, no isolation. It exists to measure what the sandbox costs (the native
/// baseline of `host/benches/hot_paths.rs`); plug-ins under test belong in the sandbox.
pub type NativePlugin =
    Arc<dyn Fn(&Step, &mut Arc<ExecutionContext>, &mut dyn PluginHost) -> Result<(), Fault> + Send + Sync>;

impl Pipeline {
    pub fn new(
        org: Arc<Organization>,
        registrations: Registrations,
        plugins: HashMap<String, Arc<Plugin<StepHost>>>,
    ) -> Result<Self, LoadError> {
        let privileges = org.users.keys().map(|id| (*id, UserPrivileges::resolve(&org, *id))).collect();
        Ok(Pipeline { org, registrations, plugins, sandbox: shared_sandbox()?, privileges, native: HashMap::new() })
    }

    /// Runs the steps of plug-in `name` as `plugin`, in the host, instead of in the sandbox.
    pub fn set_native(&mut self, name: &str, plugin: NativePlugin) {
        self.native.insert(name.to_owned(), plugin);
    }

    pub fn org(&self) -> &Arc<Organization> {
        &self.org
    }

    pub fn registrations(&self) -> &Registrations {
        &self.registrations
    }

    /// Whether `user` may read `record` of the case's store (SYSTEM may read everything): what an image shows
    /// (PIPE-8).
    fn readable_by(&self, user: Uuid, state: &CaseState, record: &xrm_model::Entity) -> bool {
        user == self.org.system_user
            || self.who(state, user).is_some_and(|who| authorize::can_read(&self.org, &who, state.store.data(), record))
    }
}

fn shared_sandbox() -> Result<&'static Sandbox<StepHost>, LoadError> {
    static SANDBOX: OnceLock<Result<Sandbox<StepHost>, String>> = OnceLock::new();
    let sandbox = SANDBOX.get_or_init(|| Sandbox::new().map_err(|e| e.reason));
    sandbox.as_ref().map_err(|reason| LoadError { plugin: String::new(), path: String::new(), reason: reason.clone() })
}

/// Loads a plug-in component, once per process for each file as it stands (BOX-4 checks included).
pub fn load_plugin(name: &str, path: &Path) -> Result<Arc<Plugin<StepHost>>, LoadError> {
    type Cache = Mutex<HashMap<(String, PathBuf), (Option<std::time::SystemTime>, Arc<Plugin<StepHost>>)>>;
    static LOADED: OnceLock<Cache> = OnceLock::new();
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let key = (name.to_owned(), path.to_owned());
    let cache = LOADED.get_or_init(Default::default);
    if let Some((when, plugin)) = cache.lock().ok().and_then(|c| c.get(&key).cloned())
        && when == modified
    {
        return Ok(plugin);
    }
    let plugin = shared_sandbox()?.load(name, path)?;
    if let Ok(mut c) = cache.lock() {
        c.insert(key, (modified, plugin.clone()));
    }
    Ok(plugin)
}

/// The mutable state of one case: its store, and what happened so far.
#[derive(Default)]
pub struct CaseState {
    pub store: Transactional,
    /// What "now" is for this case (QRY-2).
    pub clock: crate::clock::Clock,
    pub log: Vec<Event>,
    /// Events not logged because the log was full ([`MAX_LOG_EVENTS`]).
    pub log_dropped: usize,
    pub traces: Vec<TraceRecord>,
    /// Asynchronous steps queued inside the running transaction, waiting for it to commit.
    pending_jobs: Vec<jobs::Job>,
    /// Asynchronous jobs of committed requests, waiting for `run_async` (PIPE-11).
    queue: std::collections::VecDeque<jobs::Job>,
    /// How many of `traces` are already `plugintracelog` rows in the store.
    traces_stored: usize,
    /// Set when a call inside the running transaction failed: the transaction can only roll back (PIPE-10).
    pub(in crate::pipeline) doomed: bool,
    /// What answers the plug-ins' HTTP requests (BOX-6); none: every request is refused.
    http: Option<Box<dyn crate::sandbox::HttpTransport>>,
    /// What the case keeps, against its budget (BOX-5): counted on the case's thread while a request runs.
    meter: Arc<crate::budget::Meter>,
    /// Privileges resolved for the case once its security tables changed (SEC-10).
    pub(in crate::pipeline) security: std::sync::Mutex<principals::SecurityCache>,
}

/// The most events a case logs: a plug-in calling the service in a loop must not grow the host without bound.
pub const MAX_LOG_EVENTS: usize = 10_000;

impl CaseState {
    /// Logs `event` and returns its index, or counts it as dropped once the log is full.
    fn record(&mut self, event: Event) -> Option<usize> {
        if self.log.len() >= MAX_LOG_EVENTS {
            self.log_dropped += 1;
            return None;
        }
        crate::budget::add(event.bytes());
        self.log.push(event);
        Some(self.log.len() - 1)
    }

    /// Writes the trace records of finished executions as `plugintracelog` rows. Called between requests,
    /// outside any transaction, so the rows survive the rollbacks that the executions they record caused
    /// (PIPE-13); and only when something may read them (the next request, or [`Session::store`]), so that a
    /// case nobody reads the trace log of never builds its rows.
    fn store_traces(&mut self) {
        for record in &self.traces[self.traces_stored..] {
            self.store.data_mut().put(record.to_entity());
        }
        self.traces_stored = self.traces.len();
    }
}
