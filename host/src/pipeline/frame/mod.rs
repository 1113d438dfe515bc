//! One pipeline run (a [`Frame`]): the request through its stages, the platform's checks, the core operation
//! and the transaction around them (PIPE-4..10), as the user its [`Call`] names.

mod context;
mod merged;
mod operation;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use xrm_model::{Entity, Fault, ParameterValue, Parameters, Query, Request, Response, Uuid, Value, codes, messages};

use super::step::execute_step;
use super::{CaseState, Event, Pipeline, Step, authorize, custom, identity, jobs};
use crate::context::ExecutionContext;
use crate::org::Organization;
use crate::pipeline::principals::Who;

/// Who runs a pipeline and where it sits (IMP-2, PIPE-9).
pub(in crate::pipeline) struct Call {
    /// The calling user of this pipeline.
    pub(in crate::pipeline) caller: Uuid,
    pub(in crate::pipeline) initiating: Uuid,
    pub(in crate::pipeline) depth: i32,
    pub(in crate::pipeline) correlation_id: Uuid,
    pub(in crate::pipeline) parent: Option<Arc<ExecutionContext>>,
    pub(in crate::pipeline) in_transaction: bool,
    pub(in crate::pipeline) tag: Option<String>,
    pub(in crate::pipeline) via: Option<&'static str>,
    /// The user who impersonates the caller from outside (IMP-6), for the top-level request only.
    pub(in crate::pipeline) impersonator: Option<Uuid>,
    /// Who signed in for the top-level request, carried unchanged into child pipelines (IMP-11).
    pub(in crate::pipeline) authenticated: Uuid,
    /// The user agent of the top-level request, carried unchanged into child pipelines (IMP-11).
    pub(in crate::pipeline) user_agent: Arc<str>,
}

pub(in crate::pipeline) fn run(
    pipeline: &Arc<Pipeline>,
    state: &mut CaseState,
    call: Call,
    request: Request,
) -> Result<Response, Fault> {
    let mut frame = Frame::new(pipeline, call, request, state.clock.now());
    let sent = frame.request.target_entity().map(|t| t.attributes.keys().cloned().collect()).unwrap_or_default();
    let owns_transaction = !frame.call.in_transaction;
    let event = state.record(Event::Request {
        depth: frame.call.depth,
        message: frame.request.message.clone(),
        table: frame.table.clone(),
        caller: frame.call.caller,
        initiating: frame.call.initiating,
        via: frame.call.via,
        impersonator: frame.call.impersonator,
        in_transaction: frame.call.in_transaction,
        sent,
        written: Vec::new(),
        rolled_back: false,
        outcome: None,
        duration: Default::default(),
    });
    frame.event = event;
    let started = std::time::Instant::now();
    let result = match messages::BATCHES.contains(&frame.request.message.as_str()) {
        true => super::messages::batch::run(pipeline, state, &frame.call, frame.request),
        false => frame.run(state),
    };
    if let Some(Event::Request { outcome, duration, .. }) = event.and_then(|e| state.log.get_mut(e)) {
        *outcome = Some(result.as_ref().map(|_| ()).map_err(crate::budget::bounded_copy));
        *duration = started.elapsed();
    }
    if owns_transaction
        && result.is_err()
        && let Some(e) = event
    {
        super::log::mark_rolled_back(&mut state.log, e);
    }
    result
}

/// The table a request is about: its Target's, its Targets', or its query's.
fn primary_table(request: &Request) -> String {
    if let Some(t) = super::messages::primary(request).or_else(|| request.target_reference()) {
        return t.logical_name;
    }
    if let Some(ParameterValue::EntityCollection(targets)) = request.parameter(messages::TARGETS) {
        let first = targets.entities.first().map(|e| e.logical_name.clone());
        return Some(targets.entity_name.clone()).filter(|n| !n.is_empty()).or(first).unwrap_or_default();
    }
    match request.parameter(messages::QUERY) {
        Some(ParameterValue::Query(Query::Expression(q))) => q.entity_name.clone(),
        Some(ParameterValue::Query(Query::ByAttribute(q))) => q.entity_name.clone(),
        Some(ParameterValue::Query(Query::FetchXml(x))) => {
            crate::query::fetchxml::entity_name(x).unwrap_or_else(|| "none".into())
        }
        _ => "none".into(),
    }
}

/// Create, Update and Delete run PreValidation in an outer context of their own (PIPE-7).
fn has_outer_context(message: &str) -> bool {
    matches!(message, messages::CREATE | messages::UPDATE | messages::DELETE)
}

/// One pipeline run: the request as the stages change it, and what they share.
pub(in crate::pipeline) struct Frame<'p> {
    pub(in crate::pipeline) pipeline: &'p Arc<Pipeline>,
    pub(in crate::pipeline) call: Call,
    pub(in crate::pipeline) table: String,
    pub(in crate::pipeline) request: Request,
    pub(in crate::pipeline) primary_id: Uuid,
    request_id: Uuid,
    operation_id: Uuid,
    created_on: DateTime<Utc>,
    /// PreValidation's shared variables, for messages with an outer context.
    outer_shared: Parameters,
    shared: Parameters,
    /// The PreValidation context that later stages of Create, Update and Delete see as `ParentContext`.
    outer_parent: Option<Arc<ExecutionContext>>,
    pub(in crate::pipeline) output: Parameters,
    pub(in crate::pipeline) pre_record: Option<Arc<Entity>>,
    pub(in crate::pipeline) post_record: Option<Arc<Entity>>,
    /// For a bulk message, each target's record before and after the operation, in the order of `Targets`.
    pub(in crate::pipeline) pre_records: Vec<Option<Arc<Entity>>>,
    pub(in crate::pipeline) post_records: Vec<Option<Arc<Entity>>>,
    /// The request's entry in the case's log, where the core operation's writes are noted.
    event: Option<usize>,
}

impl<'p> Frame<'p> {
    fn new(pipeline: &'p Arc<Pipeline>, call: Call, request: Request, now: DateTime<Utc>) -> Self {
        let mut shared = Parameters::new();
        if let Some(tag) = &call.tag {
            shared.insert("tag".into(), ParameterValue::Value(Value::Text(tag.clone())));
        }
        Frame {
            pipeline,
            table: primary_table(&request),
            primary_id: super::messages::primary(&request)
                .or_else(|| request.target_reference())
                .map(|t| t.id)
                .unwrap_or_default(),
            request,
            call,
            request_id: Uuid::new_v4(),
            operation_id: Uuid::new_v4(),
            created_on: now,
            outer_shared: shared.clone(),
            shared,
            outer_parent: None,
            output: Parameters::new(),
            pre_record: None,
            post_record: None,
            pre_records: Vec::new(),
            post_records: Vec::new(),
            event: None,
        }
    }

    pub(in crate::pipeline) fn org(&self) -> &'p Organization {
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
        self.prepare(state.store.data())?;
        self.run_stage(state, 10)?;
        // PIPE-5: the platform's checks come after PreValidation, which runs even for a refused caller.
        if let Some(who) = self.privileges(state) {
            authorize::request(self.pipeline, state, &who, &self.request, &self.table)?;
        }
        // IMP-7: under external impersonation the impersonator must pass the same checks, after the impersonated
        // user: an error names whoever lacks the privilege, with that user's own counts.
        if let Some(impersonator) = self.call.impersonator
            && let Some(who) = self.pipeline.who(state, impersonator)
        {
            authorize::request(self.pipeline, state, &who, &self.request, &self.table)?;
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
                    jobs::enqueue(self.pipeline, state, queued_before);
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
        let before = state.store.data().clone();
        let result = self.core(state);
        let written = super::log::shown(state.store.data().changes(&before));
        if let Some(Event::Request { written: w, .. }) = self.event.and_then(|e| state.log.get_mut(e)) {
            *w = written;
        }
        result?;
        self.run_stage(state, 40)?;
        self.queue_async(state);
        // BOX-5: a request that leaves its case past the memory budget fails, and its writes roll back.
        crate::budget::check()?;
        Ok(Response { message: self.request.message.clone(), results: self.output.clone() })
    }

    pub(in crate::pipeline) fn run_stage(&mut self, state: &mut CaseState, stage: i32) -> Result<(), Fault> {
        for step in self.stage_steps(stage, 0) {
            // A step on the single message of a bulk request runs once per target (PIPE-17).
            for record in self.runs_of(step) {
                // PIPE-4 [choice]: filtering attributes are read against the Target as it stands when the step
                // is about to run, so a column an earlier PreOperation step added can trigger a later step.
                if self.filters_in(step, record) {
                    self.run_step(state, step, stage, record)?;
                }
            }
        }
        Ok(())
    }

    fn run_step(&mut self, state: &mut CaseState, step: &Step, stage: i32, record: Option<usize>) -> Result<(), Fault> {
        let user_id = identity::step_user(step.impersonating_user, self.call.caller);
        if step.impersonating_user.is_some() {
            identity::check_user(self.org(), user_id)?;
        }
        let in_transaction = stage != 10 || self.call.in_transaction;
        let context = self.context(state, step, stage, user_id, in_transaction, record);
        let (result, context) = execute_step(self.pipeline, state, step, context);
        let result = result.map_err(|failure| failure.fault);
        if result.is_ok() {
            self.absorb(context, step, stage, record);
        }
        result
    }

    /// Queues the asynchronous steps of this pipeline's PostOperation, to run once the request commits
    /// (PIPE-11), each with the context as it stands now: shared variables included, in no transaction.
    fn queue_async(&mut self, state: &mut CaseState) {
        for step in self.stage_steps(40, 1) {
            for record in self.runs_of(step) {
                if self.filters_in(step, record) {
                    let user_id = identity::step_user(step.impersonating_user, self.call.caller);
                    let context = self.context(state, step, 40, user_id, false, record);
                    state.pending_jobs.push(jobs::Job::new(step.clone(), context));
                }
            }
        }
    }

    /// Takes back what a step changed in its context (PIPE-6, PIPE-7).
    fn absorb(&mut self, context: ExecutionContext, step: &Step, stage: i32, record: Option<usize>) {
        // Stage 30 implements a custom message: like PostOperation, what it changes is the response.
        if stage < 30 {
            self.absorb_inputs(step, record, context.input_parameters);
        } else if step.message == self.request.message {
            // [choice] The response is the request's own: a merged step's outputs are its view of it.
            self.output = context.output_parameters;
        }
        if stage == 10 && has_outer_context(&self.request.message) {
            self.outer_shared = context.shared_variables;
        } else {
            self.shared = context.shared_variables;
        }
    }

    /// Whether `user` may read `record` (SYSTEM may read everything).
    fn readable_by(&self, user: Uuid, state: &CaseState, record: &Entity) -> bool {
        self.pipeline.readable_by(user, state, record)
    }

    /// The calling user's privileges as the case stands (SEC-10); `None` for SYSTEM, which bypasses every check
    /// (ORG-2).
    fn privileges(&self, state: &CaseState) -> Option<Who<'p>> {
        let pipeline: &'p Pipeline = self.pipeline;
        match self.call.caller == pipeline.org.system_user {
            true => None,
            false => pipeline.who(state, self.call.caller),
        }
    }
}
