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
pub mod fetchxml;
pub mod identity;
pub mod jobs;
pub mod log;
pub mod query;
pub mod registration;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};
use xrm_model::{
    ColumnSet, Entity, EntityReference, Fault, ParameterValue, Parameters, Query, Request, Response, Uuid, Value,
    codes, messages,
};

use crate::context::ExecutionContext;
use crate::org::{Organization, TraceLogSetting};
use crate::sandbox::{Limits, LoadError, Plugin, PluginHost, Sandbox};
use crate::security::UserPrivileges;
use crate::store::{Store, Transactional};
pub use log::{Event, TraceRecord};
pub use registration::{Registrations, Step};

/// What every case of a suite shares: the organization, the registrations and the loaded plug-ins.
pub struct Pipeline {
    org: Arc<Organization>,
    registrations: Registrations,
    plugins: HashMap<String, Arc<Plugin<StepHost>>>,
    sandbox: &'static Sandbox<StepHost>,
    /// Every user's privileges, resolved once (SEC-2): roles and teams cannot change while a suite runs.
    privileges: HashMap<Uuid, UserPrivileges>,
    /// Plug-ins run as Rust code in the host instead of in the sandbox (see [`Pipeline::set_native`]).
    native: HashMap<String, NativePlugin>,
}

/// A plug-in written as a plain Rust function called in the host, with the step, its context and a host for
/// its service calls: no sandbox, no isolation. It exists to measure what the sandbox costs (the native
/// baseline of `host/benches/hot_paths.rs`); plug-ins under test belong in the sandbox.
pub type NativePlugin =
    Arc<dyn Fn(&Step, &mut ExecutionContext, &mut dyn PluginHost) -> Result<(), Fault> + Send + Sync>;

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
    doomed: bool,
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
        self.log.push(event);
        Some(self.log.len() - 1)
    }

    /// Writes the trace records of finished executions as `plugintracelog` rows. Called between requests,
    /// outside any transaction, so the rows survive the rollbacks that the executions they record caused
    /// (PIPE-13).
    fn store_traces(&mut self) {
        for record in &self.traces[self.traces_stored..] {
            self.store.data_mut().put(record.to_entity());
        }
        self.traces_stored = self.traces.len();
    }
}

/// One case's view of a pipeline: requests run here see and change only this case's data.
pub struct Session {
    pipeline: Arc<Pipeline>,
    state: CaseState,
}

impl Session {
    /// A session starting from the organization's data (an O(1) copy-on-write clone).
    pub fn new(pipeline: Arc<Pipeline>) -> Self {
        let store = Transactional::new(pipeline.org.data.clone());
        Session { pipeline, state: CaseState { store, ..CaseState::default() } }
    }

    /// Runs a top-level request as `caller`, with an optional `tag` (PIPE-7).
    pub fn execute(&mut self, caller: Uuid, request: Request, tag: Option<String>) -> Result<Response, Fault> {
        if caller == self.pipeline.org.system_user {
            return Err(Fault::new(
                codes::INVALID_ARGUMENT,
                "SYSTEM cannot call from outside: it is reached only through CreateOrganizationService(null) (ORG-2)",
            ));
        }
        self.top_level(caller, None, request, tag)
    }

    /// Runs a top-level request sent by `impersonator` on behalf of another user (IMP-6, IMP-7, IMP-8): the
    /// request runs as that user, allowed only where both users pass the checks.
    pub fn execute_impersonating(
        &mut self,
        impersonator: Uuid,
        on_behalf_of: Impersonation,
        request: Request,
        tag: Option<String>,
    ) -> Result<Response, Fault> {
        let org = &self.pipeline.org;
        if impersonator == org.system_user {
            return self.execute(impersonator, request, tag);
        }
        identity::check_user(org, impersonator)?;
        let user = match on_behalf_of {
            Impersonation::CallerId(id) | Impersonation::MscrmCallerId(id) => id,
            Impersonation::CallerObjectId(object) => {
                org.users.values().find(|u| u.aad_object_id == Some(object)).map(|u| u.id).ok_or_else(|| {
                    Fault::new(
                        codes::OBJECT_DOES_NOT_EXIST,
                        format!("systemuser With azureactivedirectoryobjectid = {object} Does Not Exist"),
                    )
                })?
            }
        };
        identity::check_user(org, user)?;
        // IMP-6: the privilege counts only through a role assigned to the impersonator directly.
        let privileges = self.pipeline.privileges.get(&impersonator);
        if !privileges.is_some_and(|p| p.holds_directly(DELEGATE)) {
            let mut direct = privileges.cloned().unwrap_or_default();
            direct.user = impersonator;
            direct.keep_direct_only();
            let refused = crate::security::check_plain_privilege(org, &direct, DELEGATE).into_result();
            return Err(refused.err().unwrap_or_else(|| Fault::new(codes::PRIVILEGE_DENIED, DELEGATE)));
        }
        self.top_level(user, Some(impersonator), request, tag)
    }

    /// A top-level pipeline as `caller` (who is also the initiating user), then its trace records stored.
    fn top_level(
        &mut self,
        caller: Uuid,
        impersonator: Option<Uuid>,
        request: Request,
        tag: Option<String>,
    ) -> Result<Response, Fault> {
        let call = Call {
            caller,
            initiating: caller,
            depth: 1,
            correlation_id: Uuid::new_v4(),
            parent: None,
            in_transaction: false,
            tag,
            via: None,
            impersonator,
        };
        let result = run(&self.pipeline, &mut self.state, call, request);
        self.state.store_traces();
        result
    }

    /// Runs every queued asynchronous job, and the jobs they queue, to completion (PIPE-11); returns how many
    /// ran.
    pub fn run_async(&mut self) -> usize {
        let mut ran = 0;
        while let Some(job) = self.state.queue.pop_front() {
            jobs::run(&self.pipeline, &mut self.state, job);
            self.state.store_traces();
            ran += 1;
        }
        ran
    }

    /// The asynchronous jobs queued and not yet run.
    pub fn queued_jobs(&self) -> usize {
        self.state.queue.len()
    }

    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }

    pub fn store(&self) -> &Store {
        self.state.store.data()
    }

    /// Events left out of [`Session::log`] because it was full.
    pub fn log_dropped(&self) -> usize {
        self.state.log_dropped
    }

    pub fn log(&self) -> &[Event] {
        &self.state.log
    }

    pub fn traces(&self) -> &[TraceRecord] {
        &self.state.traces
    }
}

/// Who runs a pipeline and where it sits (IMP-2, PIPE-9).
struct Call {
    /// The calling user of this pipeline.
    caller: Uuid,
    initiating: Uuid,
    depth: i32,
    correlation_id: Uuid,
    parent: Option<Arc<ExecutionContext>>,
    in_transaction: bool,
    tag: Option<String>,
    via: Option<&'static str>,
    /// The user who impersonates the caller from outside (IMP-6), for the top-level request only.
    impersonator: Option<Uuid>,
}

/// How a client outside the sandbox names the user it acts for (IMP-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impersonation {
    /// The SDK's `CallerId`: a `systemuserid`.
    CallerId(Uuid),
    /// The Web API's `CallerObjectId` header: an Entra object id (`azureactivedirectoryobjectid`).
    CallerObjectId(Uuid),
    /// The Web API's `MSCRMCallerID` header: a `systemuserid`.
    MscrmCallerId(Uuid),
}

/// The privilege an impersonator must hold through a role assigned directly (IMP-6).
const DELEGATE: &str = "prvActOnBehalfOfAnotherUser";

/// Runs the calls a plug-in makes: each is a child pipeline as the service's user (IMP-4, IMP-5).
pub struct StepHost {
    pipeline: Arc<Pipeline>,
    state: CaseState,
}

impl PluginHost for StepHost {
    fn call(&mut self, ctx: &ExecutionContext, arg: Option<Uuid>, request: Request) -> Result<Response, Fault> {
        let caller = identity::service_user(&self.pipeline.org, arg, ctx.user_id);
        let call = Call {
            caller,
            // IMP-2 [choice]: carried unchanged into every child pipeline.
            initiating: ctx.initiating_user_id,
            depth: ctx.depth + 1,
            correlation_id: ctx.correlation_id,
            parent: Some(Arc::new(ctx.clone())),
            in_transaction: ctx.is_in_transaction,
            tag: None,
            via: Some(identity::factory_label(arg, ctx.user_id, ctx.initiating_user_id)),
            // IMP-7: a plug-in's calls follow IMP-4 and IMP-5, not the intersection.
            impersonator: None,
        };
        let pipeline = self.pipeline.clone();
        let result = run(&pipeline, &mut self.state, call, request);
        if result.is_err() && ctx.is_in_transaction {
            self.state.doomed = true;
        }
        result
    }
}

fn run(pipeline: &Arc<Pipeline>, state: &mut CaseState, call: Call, request: Request) -> Result<Response, Fault> {
    let frame = Frame::new(pipeline, call, request);
    let event = state.record(Event::Request {
        depth: frame.call.depth,
        message: frame.request.message.clone(),
        table: frame.table.clone(),
        caller: frame.call.caller,
        initiating: frame.call.initiating,
        via: frame.call.via,
        impersonator: frame.call.impersonator,
        outcome: None,
        duration: Default::default(),
    });
    let started = std::time::Instant::now();
    let result = frame.run(state);
    if let Some(Event::Request { outcome, duration, .. }) = event.and_then(|e| state.log.get_mut(e)) {
        *outcome = Some(result.as_ref().map(|_| ()).map_err(Clone::clone));
        *duration = started.elapsed();
    }
    result
}

/// The table a request is about: its Target's, or its query's.
fn primary_table(request: &Request) -> String {
    if let Some(t) = request.target_reference() {
        return t.logical_name;
    }
    match request.parameter(messages::QUERY) {
        Some(ParameterValue::Query(Query::Expression(q))) => q.entity_name.clone(),
        Some(ParameterValue::Query(Query::FetchXml(x))) => fetchxml::entity_name(x).unwrap_or_else(|| "none".into()),
        _ => "none".into(),
    }
}

/// The failure of a step: what the caller sees, and its kind (the asynchronous service retries on `Retry`).
pub struct StepFailure {
    pub fault: Fault,
    pub retry: bool,
}

/// Runs one step's plug-in on `context` in the sandbox, lending it the case's state for its calls; logs the
/// execution and writes its trace record. Gives back the context as the plug-in left it.
fn execute_step(
    pipeline: &Arc<Pipeline>,
    state: &mut CaseState,
    step: &Step,
    context: ExecutionContext,
) -> (Result<(), StepFailure>, ExecutionContext) {
    let org = &pipeline.org;
    let code = match (pipeline.native.get(&step.plugin), pipeline.plugins.get(&step.plugin)) {
        (Some(native), _) => Code::Native(native),
        (None, Some(plugin)) => Code::Sandboxed(plugin),
        (None, None) => {
            let fault = Fault::new(
                codes::PLUGIN_FAULT,
                format!("step `{}`: plug-in `{}` is not loaded", step.name, step.plugin),
            );
            return (Err(StepFailure { fault, retry: false }), context);
        }
    };
    let event = state.record(Event::Step {
        depth: context.depth,
        stage: context.stage,
        mode: context.mode,
        name: step.name.clone(),
        plugin: step.plugin.clone(),
        user_id: context.user_id,
        initiating_user_id: context.initiating_user_id,
        in_transaction: context.is_in_transaction,
        outcome: None,
        duration: Default::default(),
        trace: String::new(),
    });
    let limits = Limits {
        timeout: step.timeout.unwrap_or(org.settings.timeout),
        memory_bytes: step.memory_limit_bytes.unwrap_or(org.settings.memory_limit_bytes),
        ..Limits::default()
    };
    let in_transaction = context.is_in_transaction;
    let host = StepHost { pipeline: pipeline.clone(), state: std::mem::take(state) };
    let started = Utc::now();
    let config = (step.unsecure.clone(), step.secure.clone());
    let out = match code {
        Code::Native(native) => run_native(native, step, context, host),
        Code::Sandboxed(plugin) => pipeline.sandbox.execute(plugin, context, config, limits, host),
    };
    *state = out.host.state;
    let result = match out.result {
        Ok(()) if in_transaction && state.doomed => Err(StepFailure {
            fault: Fault::new(
                codes::NO_ACTIVE_TRANSACTION,
                "There is no active transaction. This error is usually caused by custom plug-ins that ignore errors from service calls and continue processing.",
            ),
            retry: false,
        }),
        Ok(()) => Ok(()),
        Err(f) => Err(StepFailure { retry: f.kind == crate::sandbox::FailureKind::Retry, fault: f.fault }),
    };
    let outcome = result.as_ref().map(|_| ()).map_err(|f| f.fault.clone());
    let text = log::keep_tail(&out.trace);
    if let Some(Event::Step { outcome: o, duration, trace, .. }) = event.and_then(|e| state.log.get_mut(e)) {
        *o = Some(outcome.clone());
        *duration = out.duration;
        *trace = text.clone();
    }
    write_trace(org, state, step, &out.context, text, &outcome, started, out.duration);
    (result, out.context)
}

/// What runs a step: a component in the sandbox, or a native function (the benchmark's baseline).
enum Code<'p> {
    Sandboxed(&'p Arc<Plugin<StepHost>>),
    Native(&'p NativePlugin),
}

/// Runs a native plug-in the way the sandbox runs a component: same context in and out, same host.
fn run_native(
    native: &NativePlugin,
    step: &Step,
    mut context: ExecutionContext,
    mut host: StepHost,
) -> crate::sandbox::Outcome<StepHost> {
    let started = std::time::Instant::now();
    let result = native(step, &mut context, &mut host)
        .map_err(|fault| crate::sandbox::PluginFailure { kind: crate::sandbox::FailureKind::PassedThrough, fault });
    crate::sandbox::Outcome { host, context, result, trace: String::new(), duration: started.elapsed() }
}

/// Keeps a `plugintracelog` record of an execution, as the organization's setting asks (PIPE-13).
#[allow(clippy::too_many_arguments)]
fn write_trace(
    org: &Organization,
    state: &mut CaseState,
    step: &Step,
    context: &ExecutionContext,
    text: String,
    result: &Result<(), Fault>,
    started: DateTime<Utc>,
    duration: std::time::Duration,
) {
    let keep = match org.settings.trace_log {
        TraceLogSetting::Off => false,
        TraceLogSetting::Exception => result.is_err(),
        TraceLogSetting::All => true,
    };
    if !keep {
        return;
    }
    state.traces.push(TraceRecord {
        id: Uuid::new_v4(),
        type_name: step.plugin.clone(),
        step: step.name.clone(),
        step_id: step.id,
        message: context.message_name.clone(),
        primary_entity: context.primary_entity_name.clone(),
        mode: context.mode,
        stage: context.stage,
        depth: context.depth,
        correlation_id: context.correlation_id,
        request_id: context.request_id.unwrap_or_default(),
        configuration: step.unsecure.clone(),
        text,
        exception: result.as_ref().err().map(ToString::to_string),
        started,
        duration,
        user_id: context.user_id,
        initiating_user_id: context.initiating_user_id,
    });
}

/// Create, Update and Delete run PreValidation in an outer context of their own (PIPE-7).
fn has_outer_context(message: &str) -> bool {
    matches!(message, messages::CREATE | messages::UPDATE | messages::DELETE)
}

/// One pipeline run: the request as the stages change it, and what they share.
struct Frame<'p> {
    pipeline: &'p Arc<Pipeline>,
    call: Call,
    table: String,
    request: Request,
    primary_id: Uuid,
    request_id: Uuid,
    operation_id: Uuid,
    created_on: DateTime<Utc>,
    /// PreValidation's shared variables, for messages with an outer context.
    outer_shared: Parameters,
    shared: Parameters,
    /// The PreValidation context that later stages of Create, Update and Delete see as `ParentContext`.
    outer_parent: Option<Arc<ExecutionContext>>,
    output: Parameters,
    pre_record: Option<Arc<Entity>>,
    post_record: Option<Arc<Entity>>,
}

impl<'p> Frame<'p> {
    fn new(pipeline: &'p Arc<Pipeline>, call: Call, request: Request) -> Self {
        let mut shared = Parameters::new();
        if let Some(tag) = &call.tag {
            shared.insert("tag".into(), ParameterValue::Value(Value::Text(tag.clone())));
        }
        Frame {
            pipeline,
            table: primary_table(&request),
            primary_id: request.target_reference().map(|t| t.id).unwrap_or_default(),
            request,
            call,
            request_id: Uuid::new_v4(),
            operation_id: Uuid::new_v4(),
            created_on: Utc::now(),
            outer_shared: shared.clone(),
            shared,
            outer_parent: None,
            output: Parameters::new(),
            pre_record: None,
            post_record: None,
        }
    }

    fn org(&self) -> &'p Organization {
        &self.pipeline.org
    }

    fn run(mut self, state: &mut CaseState) -> Result<Response, Fault> {
        let org = self.org();
        if self.call.depth > org.settings.max_depth {
            return Err(Fault::new(
                codes::INFINITE_LOOP,
                "This workflow job was canceled because the workflow that started it included an infinite loop. Correct the workflow logic and try again.",
            ));
        }
        identity::check_user(org, self.call.caller)?;
        if let Some(api) = org.custom_apis.get(&self.request.message) {
            custom::check_request(api, &self.request)?;
        }
        if matches!(
            self.request.message.as_str(),
            messages::UPDATE | messages::DELETE | messages::ASSIGN | messages::SET_STATE
        ) {
            self.pre_record = state.store.data().get(&self.table, self.primary_id).cloned();
        }
        self.run_stage(state, 10)?;
        // PIPE-5: the platform's checks come after PreValidation, which runs even for a refused caller.
        if let Some(who) = self.privileges() {
            authorize::request(org, who, state.store.data(), &self.request, &self.table)?;
        }
        // IMP-7: under external impersonation the impersonator must pass the same checks; the error names the
        // impersonated user, whose request it is.
        if let Some(impersonator) = self.call.impersonator
            && let Some(who) = self.pipeline.privileges.get(&impersonator)
        {
            authorize::request(org, who, state.store.data(), &self.request, &self.table).map_err(|f| {
                Fault::new(f.code, f.message.replace(&impersonator.to_string(), &self.call.caller.to_string()))
            })?;
        }
        if has_outer_context(&self.request.message) {
            self.outer_parent = Some(Arc::new(self.outer_context()));
        }
        // PIPE-10: a pipeline not already inside a transaction owns one from PreOperation on.
        let owns_transaction = !self.call.in_transaction;
        let queued_before = state.pending_jobs.len();
        if owns_transaction {
            state.store.begin();
        }
        let result = self.in_transaction(state);
        if owns_transaction {
            match result {
                Ok(_) => {
                    state.store.commit();
                    // PIPE-11: asynchronous steps are queued only when the request commits.
                    jobs::enqueue(org, state, queued_before);
                }
                Err(_) => {
                    state.store.rollback();
                    state.pending_jobs.truncate(queued_before);
                }
            }
            state.doomed = false;
        }
        result
    }

    fn in_transaction(&mut self, state: &mut CaseState) -> Result<Response, Fault> {
        self.run_stage(state, 20)?;
        self.core(state)?;
        self.run_stage(state, 40)?;
        self.queue_async(state);
        Ok(Response { message: self.request.message.clone(), results: self.output.clone() })
    }

    fn run_stage(&mut self, state: &mut CaseState, stage: i32) -> Result<(), Fault> {
        let pipeline = self.pipeline;
        for step in pipeline.registrations.matching(&self.request.message, &self.table, stage, 0) {
            // PIPE-4 [choice]: filtering attributes are read against the Target as it stands when the step is
            // about to run, so a column an earlier PreOperation step added can trigger a later step.
            if step.filters_in(self.request.target_entity()) {
                self.run_step(state, step, stage)?;
            }
        }
        Ok(())
    }

    fn run_step(&mut self, state: &mut CaseState, step: &Step, stage: i32) -> Result<(), Fault> {
        let user_id = identity::step_user(step.impersonating_user, self.call.caller);
        if step.impersonating_user.is_some() {
            identity::check_user(self.org(), user_id)?;
        }
        let in_transaction = stage != 10 || self.call.in_transaction;
        let context = self.context(state.store.data(), step, stage, user_id, in_transaction);
        let (result, context) = execute_step(self.pipeline, state, step, context);
        let result = result.map_err(|failure| failure.fault);
        if result.is_ok() {
            self.absorb(context, stage);
        }
        result
    }

    /// Queues the asynchronous steps of this pipeline's PostOperation, to run once the request commits
    /// (PIPE-11), each with the context as it stands now: shared variables included, in no transaction.
    fn queue_async(&mut self, state: &mut CaseState) {
        let pipeline = self.pipeline;
        for step in pipeline.registrations.matching(&self.request.message, &self.table, 40, 1) {
            if step.filters_in(self.request.target_entity()) {
                let user_id = identity::step_user(step.impersonating_user, self.call.caller);
                let context = self.context(state.store.data(), step, 40, user_id, false);
                state.pending_jobs.push(jobs::Job::new(step.clone(), context));
            }
        }
    }

    /// Takes back what a step changed in its context (PIPE-6, PIPE-7).
    fn absorb(&mut self, context: ExecutionContext, stage: i32) {
        // Stage 30 implements a custom message: like PostOperation, what it changes is the response.
        if stage < 30 {
            self.request.parameters = context.input_parameters;
        } else {
            self.output = context.output_parameters;
        }
        if stage == 10 && has_outer_context(&self.request.message) {
            self.outer_shared = context.shared_variables;
        } else {
            self.shared = context.shared_variables;
        }
    }

    /// The context of `step` at `stage`, running as `user_id` (PIPE-14).
    fn context(
        &self,
        state_store: &Store,
        step: &Step,
        stage: i32,
        user_id: Uuid,
        in_transaction: bool,
    ) -> ExecutionContext {
        let outer = has_outer_context(&self.request.message);
        // PIPE-8 [choice]: an image is what the step's user may read; a record the user cannot read gives none.
        let images = |pre: bool| {
            let record = if pre { self.pre_record.as_deref() } else { self.post_record.as_deref() };
            let record = record.filter(|r| self.readable_by(user_id, state_store, r));
            let wanted = step.images.iter().filter(|i| if pre { i.pre } else { i.post });
            wanted.filter_map(|i| record.map(|r| (i.alias.clone(), i.of(r)))).collect()
        };
        let mut context = self.base_context(stage, user_id, in_transaction);
        context.mode = step.mode;
        context.owning_extension = EntityReference {
            logical_name: "sdkmessageprocessingstep".into(),
            id: step.id,
            name: Some(step.name.clone()),
        };
        context.pre_entity_images = images(true);
        if stage >= 30 {
            context.output_parameters = self.output.clone();
        }
        if stage == 40 {
            context.post_entity_images = images(false);
        }
        if outer && stage != 10 {
            context.parent = self.outer_parent.clone();
        }
        context
    }

    /// The PreValidation context of Create, Update and Delete, as later stages see it through ParentContext.
    fn outer_context(&self) -> ExecutionContext {
        self.base_context(10, self.call.caller, self.call.in_transaction)
    }

    /// What every context of this pipeline shares; shared variables and parent as PreValidation sees them.
    fn base_context(&self, stage: i32, user_id: Uuid, in_transaction: bool) -> ExecutionContext {
        let org = self.org();
        let outer = stage == 10 && has_outer_context(&self.request.message);
        ExecutionContext {
            message_name: self.request.message.clone(),
            primary_entity_name: self.table.clone(),
            primary_entity_id: self.primary_id,
            secondary_entity_name: "none".into(),
            stage,
            mode: 0,
            depth: self.call.depth,
            user_id,
            initiating_user_id: self.call.initiating,
            business_unit_id: org.business_unit_of(self.call.caller),
            organization_id: org.id,
            organization_name: org.name.clone(),
            correlation_id: self.call.correlation_id,
            request_id: Some(self.request_id),
            operation_id: self.operation_id,
            operation_created_on: self.created_on,
            is_in_transaction: in_transaction,
            owning_extension: EntityReference::new("sdkmessageprocessingstep", Uuid::nil()),
            input_parameters: self.request.parameters.clone(),
            output_parameters: Parameters::new(),
            pre_entity_images: Default::default(),
            post_entity_images: Default::default(),
            shared_variables: if outer { self.outer_shared.clone() } else { self.shared.clone() },
            parent: self.call.parent.clone(),
        }
    }

    /// Whether `user` may read `record` (SYSTEM may read everything).
    fn readable_by(&self, user: Uuid, store: &Store, record: &Entity) -> bool {
        let pipeline: &'p Pipeline = self.pipeline;
        user == pipeline.org.system_user
            || pipeline.privileges.get(&user).is_some_and(|who| authorize::can_read(&pipeline.org, who, store, record))
    }

    /// The calling user's privileges; `None` for SYSTEM, which bypasses every check (ORG-2).
    fn privileges(&self) -> Option<&'p UserPrivileges> {
        let pipeline: &'p Pipeline = self.pipeline;
        match self.call.caller == pipeline.org.system_user {
            true => None,
            false => pipeline.privileges.get(&self.call.caller),
        }
    }

    /// The platform's own work for the message, as the pipeline's calling user.
    fn core(&mut self, state: &mut CaseState) -> Result<(), Fault> {
        let org = self.org();
        let user = self.call.caller;
        let store = state.store.data_mut();
        let missing = |what: &str| {
            Fault::new(codes::INVALID_ARGUMENT, format!("the {} request needs {what}", self.request.message))
        };
        match self.request.message.as_str() {
            messages::CREATE => {
                let target = self.request.target_entity().cloned().ok_or_else(|| missing("an entity Target"))?;
                let id = core::create(org, store, user, self.call.impersonator, target)?;
                self.primary_id = id;
                self.output.insert(messages::ID.into(), ParameterValue::Value(Value::Guid(id)));
                self.post_record = store.get(&self.table, id).cloned();
            }
            messages::UPDATE => {
                let target =
                    self.request.target_entity().cloned().ok_or_else(|| missing("an entity Target with an id"))?;
                core::update(org, store, user, self.call.impersonator, target)?;
                self.post_record = store.get(&self.table, self.primary_id).cloned();
            }
            messages::DELETE => {
                let target = self.request.target_reference().ok_or_else(|| missing("a Target"))?;
                core::delete(org, store, &target)?;
            }
            messages::RETRIEVE => {
                let target = self.request.target_reference().ok_or_else(|| missing("a Target"))?;
                let columns = match self.request.parameter(messages::COLUMN_SET) {
                    Some(ParameterValue::ColumnSet(c)) => c.clone(),
                    _ => ColumnSet::AllColumns,
                };
                let entity = core::retrieve(org, store, &target, &columns)?;
                self.output.insert(messages::ENTITY.into(), ParameterValue::Entity(entity));
            }
            messages::RETRIEVE_MULTIPLE => {
                let Some(ParameterValue::Query(q)) = self.request.parameter(messages::QUERY) else {
                    return Err(missing("a Query"));
                };
                let who = self.privileges();
                let impersonator = self.call.impersonator.and_then(|i| self.pipeline.privileges.get(&i));
                let snapshot = store.clone();
                let readable = |row: &Entity| {
                    who.is_none_or(|w| authorize::can_read(org, w, &snapshot, row))
                        && impersonator.is_none_or(|w| authorize::can_read(org, w, &snapshot, row))
                };
                let caller = query::Caller { user, business_unit: org.business_unit_of(user), readable: &readable };
                let found = query::retrieve_multiple(org, store, q, &caller)?;
                self.output.insert(messages::ENTITY_COLLECTION.into(), ParameterValue::EntityCollection(found));
            }
            messages::ASSIGN => {
                let target = self.request.target_reference().ok_or_else(|| missing("a Target"))?;
                let assignee = self.reference(messages::ASSIGNEE).ok_or_else(|| missing("an Assignee"))?;
                core::assign(org, store, user, self.call.impersonator, &target, &assignee)?;
                self.post_record = store.get(&self.table, self.primary_id).cloned();
            }
            messages::SET_STATE => {
                let target = self.request.target_reference().ok_or_else(|| missing("a Target"))?;
                let value = |name| self.request.parameter(name).and_then(ParameterValue::as_value).cloned();
                let state_value = value(messages::STATE).ok_or_else(|| missing("a State"))?;
                let status = value(messages::STATUS).unwrap_or(Value::Choice(-1));
                core::set_state(org, store, user, self.call.impersonator, &target, state_value, status)?;
                self.post_record = store.get(&self.table, self.primary_id).cloned();
            }
            messages::GRANT_ACCESS | messages::MODIFY_ACCESS => {
                let target = self.request.target_reference().ok_or_else(|| missing("a Target"))?;
                let Some(ParameterValue::PrincipalAccess(pa)) = self.request.parameter(messages::PRINCIPAL_ACCESS)
                else {
                    return Err(missing("a PrincipalAccess"));
                };
                let replace = self.request.message == messages::MODIFY_ACCESS;
                core::share(org, store, &target, &pa.principal, pa.access_mask, replace)?;
            }
            messages::REVOKE_ACCESS => {
                let target = self.request.target_reference().ok_or_else(|| missing("a Target"))?;
                let revokee = self.reference(messages::REVOKEE).ok_or_else(|| missing("a Revokee"))?;
                core::revoke(store, &target, &revokee);
            }
            messages::ASSOCIATE | messages::DISASSOCIATE => {
                let target = self.request.target_reference().ok_or_else(|| missing("a Target"))?;
                let Some(ParameterValue::Relationship(name)) = self.request.parameter(messages::RELATIONSHIP) else {
                    return Err(missing("a Relationship"));
                };
                let related = match self.request.parameter(messages::RELATED_ENTITIES) {
                    Some(ParameterValue::EntityReferences(refs)) => refs.clone(),
                    _ => return Err(missing("RelatedEntities")),
                };
                core::relate(org, store, name, &target, &related, self.request.message == messages::ASSOCIATE)?;
            }
            other => match org.custom_apis.get(other) {
                // PIPE-1: the stage-30 plug-in is the core operation of a custom message.
                Some(api) => {
                    self.run_stage(state, 30)?;
                    custom::check_response(api, &self.output)?;
                }
                None => {
                    return Err(Fault::new(
                        codes::INVALID_ARGUMENT,
                        format!(
                            "Unrecognized request: the message `{other}` is neither built in nor a custom API of this organization"
                        ),
                    ));
                }
            },
        }
        Ok(())
    }

    /// A request parameter holding a reference (Assignee, Revokee).
    fn reference(&self, name: &str) -> Option<EntityReference> {
        self.request.parameter(name).and_then(ParameterValue::as_reference).cloned()
    }
}
