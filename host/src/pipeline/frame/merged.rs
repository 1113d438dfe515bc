//! The merged pipelines of the bulk messages and their single messages (PIPE-17): a `CreateMultiple` runs the
//! steps registered on `Create` once per target, and a `Create` runs the steps registered on `CreateMultiple`
//! with a `Targets` of one; likewise `UpdateMultiple` with `Update` and `UpsertMultiple` with `Upsert`.
//!
//! One stage runs the steps of both messages in one order (rank, then registration order) [choice]. Each step
//! sees the request as its own message has it: a step on the other message gets a view of the request made for
//! it, and what it changes in the view is taken back into the request.

use std::sync::Arc;

use xrm_model::{Entity, EntityCollection, ParameterValue, Parameters, Response, Uuid, Value, messages};

use super::Frame;
use crate::context::ExecutionContext;
use crate::pipeline::Step;
use crate::store::Store;

/// How a step's message relates to the request's.
enum View {
    /// The step is registered on the request's own message.
    Own,
    /// A step on the bulk message, for a single request: it sees `Targets` holding the one Target.
    Bulk,
    /// A step on the single message, for one target of a bulk request: it sees that target as its `Target`.
    Single(usize),
}

impl<'p> Frame<'p> {
    /// Whether the request is a bulk message (`CreateMultiple`, …).
    pub(in crate::pipeline) fn is_bulk(&self) -> bool {
        messages::BULK.iter().any(|(bulk, _)| *bulk == self.request.message)
    }

    /// The targets of a bulk request (none for any other request).
    pub(in crate::pipeline) fn targets(&self) -> &[Entity] {
        match self.request.parameter(messages::TARGETS) {
            Some(ParameterValue::EntityCollection(c)) if self.is_bulk() => &c.entities,
            _ => &[],
        }
    }

    /// How many records the request writes: its targets for a bulk message, else one.
    pub(super) fn record_count(&self) -> usize {
        if self.is_bulk() { self.targets().len() } else { 1 }
    }

    /// A record before the operation: target `i` of a bulk request, or the request's own.
    pub(super) fn pre_of(&self, record: Option<usize>) -> Option<&Entity> {
        match self.is_bulk() {
            true => record.and_then(|i| self.pre_records.get(i)).and_then(Option::as_deref),
            false => self.pre_record.as_deref(),
        }
    }

    /// A record after the operation: target `i` of a bulk request, or the request's own.
    pub(super) fn post_of(&self, record: Option<usize>) -> Option<&Entity> {
        match self.is_bulk() {
            true => record.and_then(|i| self.post_records.get(i)).and_then(Option::as_deref),
            false => self.post_record.as_deref(),
        }
    }

    /// The steps of a stage and mode: the request's message's, and the merged message's (PIPE-17).
    pub(super) fn stage_steps(&self, stage: i32, mode: i32) -> Vec<&'p Step> {
        let pipeline: &'p Arc<crate::pipeline::Pipeline> = self.pipeline;
        let message = self.request.message.as_str();
        let names: Vec<&str> = std::iter::once(message).chain(messages::merged_with(message)).collect();
        pipeline.registrations.matching_any(&names, &self.table, stage, mode)
    }

    /// The runs of a step: once, or once per target for a step on the single message of a bulk request.
    pub(super) fn runs_of(&self, step: &Step) -> Vec<Option<usize>> {
        match self.is_bulk() && messages::fires_for(&step.message) != self.request.message {
            true => (0..self.targets().len()).map(Some).collect(),
            false => vec![None],
        }
    }

    /// Whether a step's filtering attributes let it run (PIPE-4): against its record's target, or for a step on
    /// `UpdateMultiple`, against every target (it runs when any of them carries a listed column).
    pub(super) fn filters_in(&self, step: &Step, record: Option<usize>) -> bool {
        match (record, self.is_bulk()) {
            (Some(i), _) => step.filters_in(self.targets().get(i)),
            (None, true) => step.filters_in_any(self.targets().iter()),
            (None, false) => step.filters_in(self.request.target_entity()),
        }
    }

    fn view(&self, step: &Step, record: Option<usize>) -> View {
        match (messages::fires_for(&step.message) == self.request.message, record) {
            (true, _) => View::Own,
            (false, Some(i)) => View::Single(i),
            (false, None) => View::Bulk,
        }
    }

    /// The request's input parameters a step starts from: all of them, except the `Targets` of a bulk request
    /// for a step that sees one target (its `Target`, set by [`Frame::adapt`]): copying every target for each
    /// of them made a bulk request's cost quadratic in its targets.
    pub(super) fn inputs_seen(&self, step: &Step, record: Option<usize>) -> Parameters {
        let all = &self.request.parameters;
        match self.view(step, record) {
            View::Single(_) => {
                all.iter().filter(|(k, _)| *k != messages::TARGETS).map(|(k, v)| (k.clone(), v.clone())).collect()
            }
            View::Own | View::Bulk => all.clone(),
        }
    }

    /// Makes a context the view its step's message has of the request: the Target or Targets, the record's id
    /// and the outputs.
    pub(super) fn adapt(&self, context: &mut ExecutionContext, step: &Step, record: Option<usize>) {
        match self.view(step, record) {
            View::Own => {}
            View::Bulk => {
                context.primary_entity_id = Uuid::nil();
                let target = context.input_parameters.remove(messages::TARGET);
                let entities = target.and_then(|t| t.as_entity().cloned()).into_iter().collect();
                let targets = EntityCollection { entity_name: self.table.clone(), entities, ..Default::default() };
                context.input_parameters.insert(messages::TARGETS.into(), ParameterValue::EntityCollection(targets));
                context.output_parameters = bulk_outputs(&self.request.message, &context.output_parameters);
            }
            View::Single(i) => {
                context.input_parameters.remove(messages::TARGETS);
                if let Some(target) = self.targets().get(i) {
                    context.input_parameters.insert(messages::TARGET.into(), ParameterValue::Entity(target.clone()));
                }
                let id = self.post_of(Some(i)).or(self.pre_of(Some(i))).and_then(|r| r.id);
                context.primary_entity_id = id.or(self.targets().get(i).and_then(|t| t.id)).unwrap_or_default();
                context.output_parameters = single_outputs(&self.request.message, &context.output_parameters, i);
            }
        }
    }

    /// Takes the request's parameters back from a step's view of them (PIPE-6): a changed Target goes back in
    /// its place among the targets (which stay where they are, not copied), a changed single-record `Targets`
    /// back as the Target.
    pub(super) fn absorb_inputs(&mut self, step: &Step, record: Option<usize>, mut inputs: Parameters) {
        match self.view(step, record) {
            View::Own => {}
            View::Bulk => {
                if let Some(ParameterValue::EntityCollection(mut c)) = inputs.remove(messages::TARGETS)
                    && !c.entities.is_empty()
                {
                    inputs.insert(messages::TARGET.into(), ParameterValue::Entity(c.entities.swap_remove(0)));
                }
            }
            View::Single(i) => {
                let target = inputs.remove(messages::TARGET);
                let mut targets = self.request.parameters.remove(messages::TARGETS);
                if let (Some(ParameterValue::Entity(target)), Some(ParameterValue::EntityCollection(c))) =
                    (target, targets.as_mut())
                    && let Some(slot) = c.entities.get_mut(i)
                {
                    *slot = target;
                }
                if let Some(targets) = targets {
                    inputs.insert(messages::TARGETS.into(), targets);
                }
            }
        }
        self.request.parameters = inputs;
    }

    /// Before any step runs: finds the records named by key (KEY-1), so every step sees their ids, checks a
    /// bulk request's targets, and reads the records as they are before the operation.
    pub(super) fn prepare(&mut self, store: &Store) -> Result<(), xrm_model::Fault> {
        crate::pipeline::keys::resolve_request(self.org(), store, &mut self.request)?;
        self.primary_id = crate::pipeline::messages::primary(&self.request)
            .or_else(|| self.request.target_reference())
            .map(|t| t.id)
            .unwrap_or_default();
        if self.is_bulk() {
            crate::pipeline::messages::bulk::check_targets(&self.request, &self.table)?;
        }
        self.read_pre_records(store)
    }

    /// Reads each record as it is before the operation, for the pre-images (PIPE-8): the Target's record, or
    /// each target's for a bulk message, or the record an Upsert finds.
    fn read_pre_records(&mut self, store: &Store) -> Result<(), xrm_model::Fault> {
        let org = self.org();
        match self.request.message.as_str() {
            messages::UPDATE | messages::DELETE | messages::ASSIGN | messages::SET_STATE => {
                self.pre_record = store.get(&self.table, self.primary_id).cloned();
            }
            messages::UPSERT => {
                let existing =
                    self.request.target_entity().map(|t| crate::pipeline::messages::upsert::existing(org, store, t));
                let id = existing.transpose()?.flatten();
                self.pre_record = id.and_then(|id| store.get(&self.table, id).cloned());
            }
            messages::UPDATE_MULTIPLE | messages::UPSERT_MULTIPLE => {
                let mut records = Vec::with_capacity(self.targets().len());
                for target in self.targets() {
                    let id = crate::pipeline::messages::upsert::existing(org, store, target)?;
                    records.push(id.and_then(|id| store.get(&self.table, id).cloned()));
                }
                self.pre_records = records;
            }
            _ => {}
        }
        Ok(())
    }
}

/// A single message's outputs as its bulk message has them: Create's `id` in `Ids`, Upsert's response in
/// `Results`.
fn bulk_outputs(single: &str, outputs: &Parameters) -> Parameters {
    let mut bulk = Parameters::new();
    match single {
        messages::CREATE => {
            if let Some(ParameterValue::Value(Value::Guid(id))) = outputs.get(messages::ID) {
                bulk.insert(messages::IDS.into(), ParameterValue::Guids(vec![*id]));
            }
        }
        messages::UPSERT if !outputs.is_empty() => {
            let response = Response { message: messages::UPSERT.into(), results: outputs.clone() };
            bulk.insert(messages::RESULTS.into(), ParameterValue::Responses(vec![response]));
        }
        _ => {}
    }
    bulk
}

/// A bulk message's outputs as its single message has them for target `i`.
fn single_outputs(bulk: &str, outputs: &Parameters, i: usize) -> Parameters {
    let mut single = Parameters::new();
    match (bulk, outputs.get(messages::IDS), outputs.get(messages::RESULTS)) {
        (messages::CREATE_MULTIPLE, Some(ParameterValue::Guids(ids)), _) => {
            if let Some(id) = ids.get(i) {
                single.insert(messages::ID.into(), ParameterValue::Value(Value::Guid(*id)));
            }
        }
        (messages::UPSERT_MULTIPLE, _, Some(ParameterValue::Responses(results))) => {
            if let Some(result) = results.get(i) {
                single = result.results.clone();
            }
        }
        _ => {}
    }
    single
}
