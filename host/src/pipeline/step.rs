//! One step's execution: its plug-in run in the sandbox (or natively, for the benchmark's baseline) with the
//! case's state lent to it for its service calls, and the trace record it leaves (PIPE-12, PIPE-13).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use xrm_model::{Fault, Request, Response, Uuid, codes};

use super::frame::{Call, run};
use super::{CaseState, Event, NativePlugin, Pipeline, Step, TraceRecord, identity, log};
use crate::context::ExecutionContext;
use crate::org::{Organization, TraceLogSetting};
use crate::sandbox::{
    HttpExchange, HttpReply, HttpRequest, HttpTransport, Limits, Plugin, PluginHost, StepConfiguration,
};

/// Runs the calls a plug-in makes: each is a child pipeline as the service's user (IMP-4, IMP-5).
pub struct StepHost {
    pipeline: Arc<Pipeline>,
    state: CaseState,
}

impl PluginHost for StepHost {
    fn call(&mut self, ctx: &Arc<ExecutionContext>, arg: Option<Uuid>, request: Request) -> Result<Response, Fault> {
        // BOX-5: a case past its memory budget runs no more calls; the step fails with the same fault after.
        crate::budget::check()?;
        let caller = identity::service_user(&self.pipeline.org, arg, ctx.user_id);
        let call = Call {
            caller,
            // IMP-2 [choice]: carried unchanged into every child pipeline.
            initiating: ctx.initiating_user_id,
            depth: ctx.depth + 1,
            correlation_id: ctx.correlation_id,
            // BOX-5: the running step's context by reference, not a copy per call (a job queued below keeps it).
            parent: Some(ctx.clone()),
            in_transaction: ctx.is_in_transaction,
            tag: None,
            via: Some(identity::factory_label(arg, ctx.user_id, ctx.initiating_user_id)),
            // IMP-7: a plug-in's calls follow IMP-4 and IMP-5, not the intersection.
            impersonator: None,
            // IMP-11 [choice]: who signed in, and with what, stays that of the top-level request.
            authenticated: ctx.identity.authenticated_user_id,
            user_agent: ctx.identity.initiating_user_agent.clone(),
        };
        let pipeline = self.pipeline.clone();
        let result = run(&pipeline, &mut self.state, call, request);
        if result.is_err() && ctx.is_in_transaction {
            self.state.doomed = true;
        }
        result
    }

    fn http(&mut self) -> Option<&mut dyn HttpTransport> {
        match self.state.http {
            Some(_) => Some(self),
            None => None,
        }
    }
}

/// The case's transport, with each request logged in the execution tree under the step that sent it.
impl HttpTransport for StepHost {
    fn answer(&mut self, request: &HttpRequest) -> Result<HttpReply, String> {
        match &mut self.state.http {
            Some(transport) => transport.answer(request),
            None => Err("nothing answers HTTP requests here (no stubs)".into()),
        }
    }

    fn record(&mut self, exchange: HttpExchange) {
        self.state.record(Event::Http {
            depth: exchange.depth,
            method: exchange.request.method.clone(),
            url: exchange.request.url.clone(),
            user_id: exchange.user_id,
            outcome: exchange.outcome.clone(),
            body_bytes: exchange.body.as_ref().ok().map(bytes::Bytes::len),
            duration: exchange.duration,
        });
        if let Some(transport) = &mut self.state.http {
            transport.record(exchange);
        }
    }
}

/// The failure of a step: what the caller sees, and its kind (the asynchronous service retries on `Retry`).
pub struct StepFailure {
    pub fault: Fault,
    pub retry: bool,
}

/// Runs one step's plug-in on `context` in the sandbox, lending it the case's state for its calls; logs the
/// execution and writes its trace record. Gives back the context as the plug-in left it.
pub(super) fn execute_step(
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
    let config = StepConfiguration {
        unsecure: step.unsecure.clone(),
        secure: step.secure.clone(),
        plugin_type: step.plugin_type.clone(),
    };
    let out = match code {
        Code::Native(native) => run_native(native, step, context, host),
        Code::Sandboxed(plugin) => pipeline.sandbox.execute(plugin, context, config, limits, host),
    };
    *state = out.host.state;
    // BOX-5: a case past its memory budget fails the step, whatever the plug-in made of its calls' faults.
    let over_budget = crate::budget::check().err();
    let result = match (over_budget, out.result) {
        (Some(fault), _) => Err(StepFailure { fault, retry: false }),
        (None, Ok(())) if in_transaction && state.doomed => Err(StepFailure {
            fault: Fault::new(
                codes::NO_ACTIVE_TRANSACTION,
                "There is no active transaction. This error is usually caused by custom plug-ins that ignore errors from service calls and continue processing.",
            ),
            retry: false,
        }),
        (None, Ok(())) => Ok(()),
        (None, Err(f)) => Err(StepFailure { retry: f.kind == crate::sandbox::FailureKind::Retry, fault: f.fault }),
    };
    let outcome = result.as_ref().map(|_| ()).map_err(|f| crate::budget::bounded_copy(&f.fault));
    let text = log::keep_tail(&out.trace);
    if let Some(Event::Step { outcome: o, duration, trace, .. }) = event.and_then(|e| state.log.get_mut(e)) {
        crate::budget::add(i64::try_from(text.len()).unwrap_or(i64::MAX));
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
    context: ExecutionContext,
    mut host: StepHost,
) -> crate::sandbox::Outcome<StepHost> {
    let started = std::time::Instant::now();
    let mut context = Arc::new(context);
    let result = native(step, &mut context, &mut host)
        .map_err(|fault| crate::sandbox::PluginFailure { kind: crate::sandbox::FailureKind::PassedThrough, fault });
    let context = Arc::unwrap_or_clone(context);
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
    let exception = result.as_ref().err().map(ToString::to_string);
    // BOX-5: the record, and the `plugintracelog` row made of it later, count against the case's budget.
    let bytes =
        512 + text.len() + exception.as_ref().map_or(0, String::len) + step.unsecure.as_ref().map_or(0, String::len);
    crate::budget::add(i64::try_from(bytes).unwrap_or(i64::MAX));
    state.traces.push(TraceRecord {
        id: Uuid::new_v4(),
        // PIPE-18: the type the step runs, as the platform's `typename`; without one, the plug-in's name.
        type_name: step.plugin_type.clone().unwrap_or_else(|| step.plugin.clone()),
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
        exception,
        started,
        duration,
        user_id: context.user_id,
        initiating_user_id: context.initiating_user_id,
    });
}
