//! The execution context of one step (PIPE-14): built by the pipeline, read and changed by the plug-in through
//! the sandbox.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use xrm_model::{Entity, EntityReference, Parameters, Uuid};

/// `IPluginExecutionContext`, host side.
#[derive(Debug, Clone)]
pub struct ExecutionContext {
    pub message_name: String,
    pub primary_entity_name: String,
    pub primary_entity_id: Uuid,
    pub secondary_entity_name: String,
    pub stage: i32,
    pub mode: i32,
    pub depth: i32,
    pub user_id: Uuid,
    pub initiating_user_id: Uuid,
    pub business_unit_id: Uuid,
    pub organization_id: Uuid,
    pub organization_name: String,
    pub correlation_id: Uuid,
    pub request_id: Option<Uuid>,
    pub operation_id: Uuid,
    pub operation_created_on: DateTime<Utc>,
    pub is_in_transaction: bool,
    /// The step (`sdkmessageprocessingstep`) running the plug-in.
    pub owning_extension: EntityReference,
    pub input_parameters: Parameters,
    pub output_parameters: Parameters,
    pub pre_entity_images: BTreeMap<String, Entity>,
    pub post_entity_images: BTreeMap<String, Entity>,
    /// `PreEntityImagesCollection` and `PostEntityImagesCollection` (`IPluginExecutionContext4`): for a step
    /// on a bulk message, each target's images, in the order of `Targets` (PIPE-17); empty otherwise.
    pub pre_entity_images_collection: Vec<BTreeMap<String, Entity>>,
    pub post_entity_images_collection: Vec<BTreeMap<String, Entity>>,
    pub shared_variables: Parameters,
    /// `ParentContext`: the context of the step whose call started this pipeline, or the PreValidation context
    /// of this pipeline for later stages of Create, Update and Delete (PIPE-7).
    pub parent: Option<Arc<ExecutionContext>>,
    /// The identity properties of the newer context interfaces (IMP-11).
    pub identity: Identity,
    /// What this context counts against its case's memory budget once a queued job holds it, itself or as an
    /// ancestor (BOX-5): given back when the last holder drops it. A copy starts uncounted.
    pub held: crate::budget::Held,
}

/// The identity properties of `IPluginExecutionContext2` to `7` (IMP-11). Ids the platform leaves empty are
/// the nil GUID.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identity {
    /// `UserAzureActiveDirectoryObjectId`: the Entra object id of `UserId`.
    pub user_aad_object_id: Uuid,
    /// `InitiatingUserAzureActiveDirectoryObjectId`: the Entra object id of `InitiatingUserId`.
    pub initiating_user_aad_object_id: Uuid,
    /// `InitiatingUserApplicationId`: the `applicationid` of `InitiatingUserId`, for an application user.
    pub initiating_user_application_id: Uuid,
    /// `IsApplicationUser`: whether `InitiatingUserId` is an application user.
    pub is_application_user: bool,
    /// `AuthenticatedUserId`: who signed in; the impersonator under external impersonation.
    pub authenticated_user_id: Uuid,
    /// `InitiatingUserAgent`: the user agent of the request that started the action.
    pub initiating_user_agent: Arc<str>,
    /// `EnvironmentId`, from the organization's settings.
    pub environment_id: Arc<str>,
    /// `TenantId`, from the organization's settings.
    pub tenant_id: Uuid,
}

impl ExecutionContext {
    /// `IsExecutingOffline`: never, in the sandbox.
    pub const IS_EXECUTING_OFFLINE: bool = false;
    /// `IsolationMode`: 2, sandbox.
    pub const ISOLATION_MODE: i32 = 2;
    /// `IsPortalsClientCall`: never, in the sandbox.
    pub const IS_PORTALS_CLIENT_CALL: bool = false;
    /// `PortalsContactId`: none, in the sandbox.
    pub const PORTALS_CONTACT_ID: Uuid = Uuid::nil();

    /// A context for `message` on `table` run by `user`, every other field empty or zero: for running a plug-in
    /// in the sandbox outside a pipeline (tests, benchmarks).
    pub fn new(message: &str, table: &str, user: Uuid) -> Self {
        ExecutionContext {
            message_name: message.to_owned(),
            primary_entity_name: table.to_owned(),
            primary_entity_id: Uuid::nil(),
            secondary_entity_name: "none".into(),
            stage: 20,
            mode: 0,
            depth: 1,
            user_id: user,
            initiating_user_id: user,
            business_unit_id: Uuid::nil(),
            organization_id: Uuid::nil(),
            organization_name: String::new(),
            correlation_id: Uuid::new_v4(),
            request_id: None,
            operation_id: Uuid::new_v4(),
            operation_created_on: Utc::now(),
            is_in_transaction: true,
            owning_extension: EntityReference::new("sdkmessageprocessingstep", Uuid::nil()),
            input_parameters: Parameters::new(),
            output_parameters: Parameters::new(),
            pre_entity_images: BTreeMap::new(),
            post_entity_images: BTreeMap::new(),
            pre_entity_images_collection: Vec::new(),
            post_entity_images_collection: Vec::new(),
            shared_variables: Parameters::new(),
            parent: None,
            identity: Identity { authenticated_user_id: user, ..Identity::default() },
            held: crate::budget::Held::default(),
        }
    }

    /// The estimated bytes of this context alone, its ancestors apart ([`crate::budget::size`]).
    pub fn bytes(&self) -> usize {
        use crate::budget::size;
        let images =
            |m: &BTreeMap<String, Entity>| m.iter().map(|(k, e)| 32 + k.len() + size::entity(e)).sum::<usize>();
        512 + size::parameters(&self.input_parameters)
            + size::parameters(&self.output_parameters)
            + size::parameters(&self.shared_variables)
            + images(&self.pre_entity_images)
            + images(&self.post_entity_images)
            + self.pre_entity_images_collection.iter().map(images).sum::<usize>()
            + self.post_entity_images_collection.iter().map(images).sum::<usize>()
    }

    /// Counts this context and each ancestor not yet counted against the case running here, for as long as
    /// they live: a queued job keeps them (BOX-5). An ancestor already counted was counted with its own.
    pub fn hold(&self) {
        let mut next = Some(self);
        while let Some(ctx) = next {
            if !ctx.held.hold(|| ctx.bytes()) {
                return;
            }
            next = ctx.parent.as_deref();
        }
    }

    /// The ancestor `level` steps up (0 is this context).
    pub fn ancestor(&self, level: usize) -> Option<&ExecutionContext> {
        let mut ctx = self;
        for _ in 0..level {
            ctx = ctx.parent.as_deref()?;
        }
        Some(ctx)
    }
}
