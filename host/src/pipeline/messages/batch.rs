//! `ExecuteMultiple` and `ExecuteTransaction` (PIPE-17): each request of the batch runs through the pipeline of
//! its own message, as the batch's calling user (under the batch's external impersonation, if any), at the
//! batch's Depth. `ExecuteMultiple` gives each request its own transaction; `ExecuteTransaction` runs them all
//! in one, all or nothing (PIPE-10).

use std::sync::Arc;

use xrm_model::{
    ExecuteMultipleResponseItem, ExecuteMultipleSettings, Fault, ParameterValue, Request, Response, Value, codes,
    messages,
};

use crate::deadline;
use crate::pipeline::frame::{Call, run as run_request};
use crate::pipeline::{CaseState, Pipeline, identity, jobs};

/// The most requests a batch may hold: more is refused before any of them runs.
pub const MAX_BATCH_SIZE: usize = 1000;

/// Runs a batch request as `call`'s user.
pub(in crate::pipeline) fn run(
    pipeline: &Arc<Pipeline>,
    state: &mut CaseState,
    call: &Call,
    mut request: Request,
) -> Result<Response, Fault> {
    identity::check_user(&pipeline.org, call.caller)?;
    let requests = match request.parameters.remove(messages::REQUESTS) {
        Some(ParameterValue::Requests(requests)) => requests,
        _ => return Err(invalid(format!("the {} request needs Requests, a collection of requests", request.message))),
    };
    if requests.len() > MAX_BATCH_SIZE {
        return Err(invalid(format!(
            "The {} request holds {} requests, more than the maximum batch size (MaxBatchSize) of {MAX_BATCH_SIZE}",
            request.message,
            requests.len()
        )));
    }
    match request.message.as_str() {
        messages::EXECUTE_MULTIPLE => {
            let settings = match request.parameter(messages::SETTINGS) {
                Some(ParameterValue::ExecuteMultipleSettings(s)) => *s,
                _ => return Err(invalid("the ExecuteMultiple request needs Settings".to_owned())),
            };
            Ok(execute_multiple(pipeline, state, call, requests, settings))
        }
        _ => {
            let return_responses = matches!(
                request.parameter(messages::RETURN_RESPONSES),
                Some(ParameterValue::Value(Value::Boolean(true)))
            );
            execute_transaction(pipeline, state, call, requests, return_responses)
        }
    }
}

/// Each request in its own transaction, in order; a failure ends the batch unless `ContinueOnError`. The
/// response lists the faults, and the responses if `ReturnResponses`.
fn execute_multiple(
    pipeline: &Arc<Pipeline>,
    state: &mut CaseState,
    call: &Call,
    requests: Vec<Request>,
    settings: ExecuteMultipleSettings,
) -> Response {
    let mut items = Vec::new();
    let mut faulted = false;
    for (index, inner) in requests.into_iter().enumerate() {
        let request_index = u32::try_from(index).unwrap_or(u32::MAX);
        // An ExecuteMultiple in the collection is a fault for that request item, as the platform has it.
        let result = match inner.message.as_str() {
            messages::EXECUTE_MULTIPLE => {
                Err(invalid("ExecuteMultiple cannot run an ExecuteMultiple: batches do not nest".to_owned()))
            }
            _ => deadline::check()
                .and_then(|()| run_request(pipeline, state, inner_call(call, call.in_transaction), inner)),
        };
        match result {
            Ok(response) => {
                if settings.return_responses {
                    items.push(ExecuteMultipleResponseItem { request_index, response: Some(response), fault: None });
                }
            }
            Err(fault) => {
                faulted = true;
                // PIPE-10: a failed call inside the caller's transaction leaves it only a rollback.
                if call.in_transaction {
                    state.doomed = true;
                }
                items.push(ExecuteMultipleResponseItem { request_index, response: None, fault: Some(fault) });
                if !settings.continue_on_error {
                    break;
                }
            }
        }
    }
    Response::new(messages::EXECUTE_MULTIPLE)
        .with(messages::RESPONSES, ParameterValue::ExecuteMultipleResponses(items))
        .with(messages::IS_FAULTED, faulted)
}

/// Every request in one transaction: the first failure rolls back all of them and is the batch's fault, with
/// the index of the request that failed.
fn execute_transaction(
    pipeline: &Arc<Pipeline>,
    state: &mut CaseState,
    call: &Call,
    requests: Vec<Request>,
    return_responses: bool,
) -> Result<Response, Fault> {
    // [choice] A batch inside the transaction is refused before any request runs, at its index.
    if let Some(index) = requests.iter().position(|r| messages::BATCHES.contains(&r.message.as_str())) {
        let message = &requests[index].message;
        let fault = invalid(format!("ExecuteTransaction cannot run an {message}: batches do not nest"));
        return Err(fault.at_request(u32::try_from(index).unwrap_or(u32::MAX)));
    }
    let owns_transaction = !call.in_transaction;
    let queued_before = state.pending_jobs.len();
    if owns_transaction {
        state.store.begin();
    }
    let mut responses = Vec::with_capacity(requests.len());
    let mut failure = None;
    for (index, inner) in requests.into_iter().enumerate() {
        match deadline::check().and_then(|()| run_request(pipeline, state, inner_call(call, true), inner)) {
            Ok(response) => responses.push(response),
            Err(fault) => {
                failure = Some(fault.at_request(u32::try_from(index).unwrap_or(u32::MAX)));
                break;
            }
        }
    }
    match (failure, owns_transaction) {
        (Some(fault), true) => {
            state.store.rollback();
            state.pending_jobs.truncate(queued_before);
            state.doomed = false;
            Err(fault)
        }
        (Some(fault), false) => {
            state.doomed = true;
            Err(fault)
        }
        (None, owns) => {
            if owns {
                state.store.commit();
                jobs::enqueue(pipeline, state, queued_before);
                state.doomed = false;
            }
            let responses = if return_responses { responses } else { Vec::new() };
            Ok(Response::new(messages::EXECUTE_TRANSACTION)
                .with(messages::RESPONSES, ParameterValue::Responses(responses)))
        }
    }
}

/// The call of one request of a batch: the batch's user, impersonation, Depth, correlation and parent.
fn inner_call(call: &Call, in_transaction: bool) -> Call {
    Call {
        caller: call.caller,
        initiating: call.initiating,
        depth: call.depth,
        correlation_id: call.correlation_id,
        parent: call.parent.clone(),
        in_transaction,
        tag: call.tag.clone(),
        via: call.via,
        impersonator: call.impersonator,
        authenticated: call.authenticated,
        user_agent: call.user_agent.clone(),
    }
}

fn invalid(message: String) -> Fault {
    Fault::new(codes::INVALID_ARGUMENT, message)
}
