//! The execution context each step of a pipeline gets (PIPE-7, PIPE-8, PIPE-14).

use std::collections::BTreeMap;

use xrm_model::{Entity, EntityReference, Parameters, Uuid, messages};

use super::{Frame, has_outer_context};
use crate::context::ExecutionContext;
use crate::pipeline::{CaseState, Step, identity};

impl Frame<'_> {
    /// The context of `step` at `stage`, running as `user_id` (PIPE-14); `record` is the target a step on the
    /// single message of a bulk request runs for (PIPE-17).
    pub(super) fn context(
        &self,
        state: &CaseState,
        step: &Step,
        stage: i32,
        user_id: Uuid,
        in_transaction: bool,
        record: Option<usize>,
    ) -> ExecutionContext {
        let outer = has_outer_context(&self.request.message);
        let mut context = self.base_context_with(stage, user_id, in_transaction, self.inputs_seen(step, record));
        // PIPE-1 [choice]: a step registered on SetStateDynamicEntity sees that name, as plug-ins written for
        // it test `MessageName` against the message they were registered on; a step merged into a bulk or single
        // request sees its own message too (PIPE-17).
        context.message_name.clone_from(&step.message);
        context.mode = step.mode;
        context.owning_extension = EntityReference {
            name: Some(step.name.clone()),
            ..EntityReference::new("sdkmessageprocessingstep", step.id)
        };
        // PIPE-8 [choice]: an image is what the step's user may read; a record the user cannot read gives none.
        let images = |record: Option<&Entity>, pre: bool| -> BTreeMap<String, Entity> {
            let record = record.filter(|r| self.readable_by(user_id, state, r));
            let wanted = step.images.iter().filter(|i| if pre { i.pre } else { i.post });
            wanted.filter_map(|i| record.map(|r| (i.alias.clone(), i.of(r)))).collect()
        };
        if messages::BULK.iter().any(|(bulk, _)| *bulk == step.message) {
            // PIPE-17: a step on a bulk message gets each target's images, in the order of `Targets`.
            let count = self.record_count();
            context.pre_entity_images_collection = (0..count).map(|i| images(self.pre_of(Some(i)), true)).collect();
            if stage == 40 {
                context.post_entity_images_collection =
                    (0..count).map(|i| images(self.post_of(Some(i)), false)).collect();
            }
        } else {
            context.pre_entity_images = images(self.pre_of(record), true);
            if stage == 40 {
                context.post_entity_images = images(self.post_of(record), false);
            }
        }
        if stage >= 30 {
            context.output_parameters = self.output.clone();
        }
        if outer && stage != 10 {
            context.parent = self.outer_parent.clone();
        }
        self.adapt(&mut context, step, record);
        context
    }

    /// The PreValidation context of Create, Update and Delete, as later stages see it through ParentContext.
    pub(super) fn outer_context(&self) -> ExecutionContext {
        self.base_context(10, self.call.caller, self.call.in_transaction)
    }

    /// What every context of this pipeline shares; shared variables and parent as PreValidation sees them.
    pub(in crate::pipeline) fn base_context(
        &self,
        stage: i32,
        user_id: Uuid,
        in_transaction: bool,
    ) -> ExecutionContext {
        self.base_context_with(stage, user_id, in_transaction, self.request.parameters.clone())
    }

    /// [`Frame::base_context`] with the given input parameters.
    fn base_context_with(
        &self,
        stage: i32,
        user_id: Uuid,
        in_transaction: bool,
        input_parameters: xrm_model::Parameters,
    ) -> ExecutionContext {
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
            input_parameters,
            output_parameters: Parameters::new(),
            pre_entity_images: Default::default(),
            post_entity_images: Default::default(),
            pre_entity_images_collection: Vec::new(),
            post_entity_images_collection: Vec::new(),
            shared_variables: if outer { self.outer_shared.clone() } else { self.shared.clone() },
            parent: self.call.parent.clone(),
            identity: identity::context_identity(
                org,
                user_id,
                self.call.initiating,
                self.call.authenticated,
                &self.call.user_agent,
            ),
            held: Default::default(),
        }
    }
}
