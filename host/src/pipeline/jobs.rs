//! Asynchronous steps (PIPE-11): queued as `asyncoperation` system jobs when the request that triggered them
//! commits, run later by `run_async` outside any transaction, retried up to four attempts when the plug-in
//! asks, their failure recorded on the job and never on the request.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use xrm_model::{Entity, EntityReference, Fault, Uuid, Value};

use super::step::execute_step;
use super::{CaseState, Pipeline, Step, identity};
use crate::context::ExecutionContext;
use crate::org::Organization;

/// Attempts of a job whose plug-in keeps asking for a retry.
pub const MAX_ATTEMPTS: i32 = 4;

/// `asyncoperation.statecode` and `statuscode` values.
mod status {
    pub const READY: (i32, i32) = (0, 10); // Ready, Waiting
    pub const COMPLETED_SUCCEEDED: (i32, i32) = (3, 30);
    pub const COMPLETED_FAILED: (i32, i32) = (3, 31);
}

/// A queued asynchronous step and the context it will run with.
#[derive(Clone)]
pub struct Job {
    pub id: Uuid,
    /// When the job was queued, by the case's clock (its `createdon`).
    pub queued_on: Option<DateTime<Utc>>,
    pub step: Step,
    pub context: ExecutionContext,
}

impl Job {
    /// A job for `step`; its context runs in Mode 1, in no transaction.
    pub fn new(step: Step, mut context: ExecutionContext) -> Self {
        context.mode = 1;
        context.is_in_transaction = false;
        // BOX-5: the job's context, and each parent context it holds, count against the case's budget for
        // as long as they are kept (a parent shared by many jobs, once).
        context.hold();
        Job { id: Uuid::new_v4(), queued_on: None, step, context }
    }
}

/// Moves the jobs queued since `from` into the queue, each with its `asyncoperation` record (Waiting).
pub fn enqueue(pipeline: &Pipeline, state: &mut CaseState, from: usize) {
    let queued: Vec<Job> = state.pending_jobs.drain(from..).collect();
    let now = state.clock.now();
    for mut job in queued {
        job.queued_on = Some(now);
        take_post_images(pipeline, state, &mut job);
        state.store.data_mut().put(record(&pipeline.org, &job, (status::READY, now), 0, None));
        state.queue.push_back(job);
    }
}

/// Takes a job's post-images from the store as the committing request leaves it (PIPE-16): after every
/// synchronous PostOperation step, of its own pipeline and of the pipelines around it, so they show what those
/// steps wrote. Read as the step's user would see them (PIPE-8).
fn take_post_images(pipeline: &Pipeline, state: &CaseState, job: &mut Job) {
    let context = &mut job.context;
    let wanted: Vec<_> = job.step.images.iter().filter(|i| i.post).collect();
    if context.stage != 40 || wanted.is_empty() {
        return;
    }
    let record = state
        .store
        .data()
        .get(&context.primary_entity_name, context.primary_entity_id)
        .filter(|r| pipeline.readable_by(context.user_id, state, r));
    context.post_entity_images = wanted.iter().filter_map(|i| record.map(|r| (i.alias.clone(), i.of(r)))).collect();
}

/// Runs a job to its end: up to `MAX_ATTEMPTS` while the plug-in asks for a retry.
pub fn run(pipeline: &Arc<Pipeline>, state: &mut CaseState, job: Job) {
    let org = &pipeline.org;
    let mut attempts = 0;
    let outcome = loop {
        attempts += 1;
        // IMP-1: the impersonating user must exist and be enabled when the step runs.
        if job.step.impersonating_user.is_some()
            && let Err(fault) = identity::check_user(org, job.context.user_id)
        {
            break Err(fault);
        }
        let (result, _) = execute_step(pipeline, state, &job.step, job.context.clone());
        match result {
            Ok(()) => break Ok(()),
            Err(f) if f.retry && attempts < MAX_ATTEMPTS => continue,
            Err(f) => break Err(f.fault),
        }
    };
    let now = state.clock.now();
    let store = state.store.data_mut();
    match outcome {
        Ok(()) if job.step.async_auto_delete => {
            store.remove("asyncoperation", job.id);
        }
        Ok(()) => store.put(record(org, &job, (status::COMPLETED_SUCCEEDED, now), attempts, None)),
        Err(fault) => store.put(record(org, &job, (status::COMPLETED_FAILED, now), attempts, Some(&fault))),
    }
}

/// The job's `asyncoperation` row.
/// The job's `asyncoperation` row as of `now` (the case's clock): created then when queued, else completed then.
fn record(
    org: &Organization,
    job: &Job,
    ((state, status), now): ((i32, i32), DateTime<Utc>),
    attempts: i32,
    fault: Option<&Fault>,
) -> Entity {
    let c = &job.context;
    let mut e = Entity::with_id("asyncoperation", job.id);
    e.set("asyncoperationid", job.id)
        .set("name", job.step.name.clone())
        .set("operationtype", Value::Choice(1))
        .set("statecode", Value::Choice(state))
        .set("statuscode", Value::Choice(status))
        .set("retrycount", (attempts - 1).max(0))
        .set("correlationid", c.correlation_id)
        .set("depth", c.depth)
        .set("messagename", c.message_name.clone())
        .set("primaryentitytype", c.primary_entity_name.clone())
        .set(
            "owningextensionid",
            Value::Lookup(EntityReference {
                name: Some(job.step.name.clone()),
                ..EntityReference::new("sdkmessageprocessingstep", job.step.id)
            }),
        )
        .set("ownerid", Value::Lookup(EntityReference::new("systemuser", c.user_id)))
        .set("owningbusinessunit", Value::Lookup(EntityReference::new("businessunit", org.business_unit_of(c.user_id))))
        .set("createdon", job.queued_on.unwrap_or(now));
    if !c.primary_entity_id.is_nil() {
        e.set(
            "regardingobjectid",
            Value::Lookup(EntityReference::new(c.primary_entity_name.clone(), c.primary_entity_id)),
        );
    }
    if attempts > 0 {
        e.set("completedon", now);
    }
    if let Some(f) = fault {
        e.set("message", crate::budget::bounded_copy(f).message)
            .set("errorcode", i32::from_ne_bytes(f.code.to_ne_bytes()));
    }
    e
}
