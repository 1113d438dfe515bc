//! `IPluginExecutionContext`.

use std::cell::OnceCell;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use xrm_model::{Entity, EntityReference, Fault, ParameterValue, Parameters, Uuid, messages};

use crate::bindings::xrm::plugin::execution_context as wit;
use crate::convert::{from_wit, to_wit};
use crate::plugin::StepConfiguration;
use crate::service::ServiceFactory;
use crate::tracing::TracingService;

/// The stages of the event pipeline, as [`PluginContext::stage`] gives them.
///
/// ```no_run
/// # use xrm_sandbox_guest::{PluginContext, stage};
/// # fn f(context: &PluginContext) {
/// if context.stage() == stage::PRE_OPERATION {
///     // Changes to the Target still reach the database.
/// }
/// # }
/// ```
pub mod stage {
    /// PreValidation: before the platform's security checks, outside the transaction at the top level.
    pub const PRE_VALIDATION: i32 = 10;
    /// PreOperation: inside the transaction, before the core operation.
    pub const PRE_OPERATION: i32 = 20;
    /// MainOperation: the plug-in that implements a custom API.
    pub const MAIN_OPERATION: i32 = 30;
    /// PostOperation: after the core operation, inside the transaction for synchronous steps.
    pub const POST_OPERATION: i32 = 40;
}

/// The execution modes, as [`PluginContext::mode`] gives them.
///
/// ```no_run
/// # use xrm_sandbox_guest::{PluginContext, mode};
/// # fn f(context: &PluginContext) {
/// let queued = context.mode() == mode::ASYNCHRONOUS;
/// # let _ = queued; }
/// ```
pub mod mode {
    /// The step runs in the request.
    pub const SYNCHRONOUS: i32 = 0;
    /// The step runs later, as a system job.
    pub const ASYNCHRONOUS: i32 = 1;
}

/// The fixed fields of an execution context, read from the host once per context.
///
/// ```no_run
/// # use xrm_sandbox_guest::PluginContext;
/// # fn f(context: &PluginContext) {
/// let info = context.info();
/// println!("{} of {} at depth {}", info.message_name, info.primary_entity_name, info.depth);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ContextInfo {
    /// `MessageName`: `Create`, `Update`, a custom API's name, …
    pub message_name: String,
    /// `PrimaryEntityName`: the table's logical name.
    pub primary_entity_name: String,
    /// `PrimaryEntityId`: the record's id (nil before a Create has made it).
    pub primary_entity_id: Uuid,
    /// `SecondaryEntityName`.
    pub secondary_entity_name: String,
    /// `Stage`: see [`stage`].
    pub stage: i32,
    /// `Mode`: see [`mode`].
    pub mode: i32,
    /// `Depth`: 1 for a top-level request, one more for each plug-in call in between.
    pub depth: i32,
    /// `UserId`: the step's impersonating user if it has one, else the calling user.
    pub user_id: Uuid,
    /// `InitiatingUserId`: the user who started the action.
    pub initiating_user_id: Uuid,
    /// `BusinessUnitId` of the calling user.
    pub business_unit_id: Uuid,
    /// `OrganizationId`.
    pub organization_id: Uuid,
    /// `OrganizationName`.
    pub organization_name: String,
    /// `CorrelationId`, shared by every pipeline one request causes.
    pub correlation_id: Uuid,
    /// `RequestId`.
    pub request_id: Option<Uuid>,
    /// `OperationId`.
    pub operation_id: Uuid,
    /// `OperationCreatedOn`.
    pub operation_created_on: DateTime<Utc>,
    /// `IsInTransaction`.
    pub is_in_transaction: bool,
    /// `IsExecutingOffline`: always false.
    pub is_executing_offline: bool,
    /// `IsolationMode`: 2, sandbox.
    pub isolation_mode: i32,
    /// `OwningExtension`: the step running the plug-in.
    pub owning_extension: EntityReference,
}

/// `IPluginExecutionContext`: what the step is running for, its parameters, images and shared variables, and
/// the services it may use.
///
/// The fixed fields ([`info`](Self::info)) are read from the host once and cached; parameters, images and
/// shared variables are read on each call, so they reflect changes the plug-in made.
///
/// ```no_run
/// use xrm_sandbox_guest::{Plugin, PluginContext, PluginError, StepConfiguration, trace};
///
/// struct Audit;
///
/// impl Plugin for Audit {
///     fn new(_configuration: &StepConfiguration) -> Result<Self, PluginError> {
///         Ok(Audit)
///     }
///
///     fn execute(&self, context: &PluginContext) -> Result<(), PluginError> {
///         trace!("{} {} by {}", context.message_name(), context.primary_entity_id(), context.user_id());
///         Ok(())
///     }
/// }
/// ```
#[derive(Debug)]
pub struct PluginContext<'a> {
    handle: Handle<'a>,
    info: OnceCell<ContextInfo>,
    pub(crate) identity: OnceCell<crate::identity::IdentityInfo>,
    configuration: StepConfiguration,
}

/// The running step's context is lent by the host for the call; a parent context is owned.
#[derive(Debug)]
enum Handle<'a> {
    Borrowed(&'a wit::Context),
    Owned(wit::Context),
}

impl<'a> PluginContext<'a> {
    pub(crate) fn borrowed(context: &'a wit::Context, configuration: StepConfiguration) -> Self {
        PluginContext {
            handle: Handle::Borrowed(context),
            info: OnceCell::new(),
            identity: OnceCell::new(),
            configuration,
        }
    }

    pub(crate) fn raw(&self) -> &wit::Context {
        match &self.handle {
            Handle::Borrowed(context) => context,
            Handle::Owned(context) => context,
        }
    }

    /// Every fixed field at once; the first call reads them from the host, later calls reuse them.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let info = context.info();
    /// let started_by = info.initiating_user_id;
    /// # let _ = started_by; }
    /// ```
    pub fn info(&self) -> &ContextInfo {
        self.info.get_or_init(|| from_wit::context_info(self.raw().info()))
    }

    /// `MessageName`, such as `Create` or a custom API's unique name.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::{PluginContext, messages};
    /// # fn f(context: &PluginContext) {
    /// let is_create = context.message_name() == messages::CREATE;
    /// # let _ = is_create; }
    /// ```
    pub fn message_name(&self) -> &str {
        &self.info().message_name
    }

    /// `PrimaryEntityName`: the logical name of the table the message is about.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let on_accounts = context.primary_entity_name() == "account";
    /// # let _ = on_accounts; }
    /// ```
    pub fn primary_entity_name(&self) -> &str {
        &self.info().primary_entity_name
    }

    /// `PrimaryEntityId`: the record's id; the nil GUID before Create's core operation has given it one.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let id = context.primary_entity_id();
    /// # let _ = id; }
    /// ```
    pub fn primary_entity_id(&self) -> Uuid {
        self.info().primary_entity_id
    }

    /// `SecondaryEntityName`.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let secondary = context.secondary_entity_name();
    /// # let _ = secondary; }
    /// ```
    pub fn secondary_entity_name(&self) -> &str {
        &self.info().secondary_entity_name
    }

    /// `Stage`: 10, 20, 30 or 40 (see [`stage`]).
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::{PluginContext, stage};
    /// # fn f(context: &PluginContext) {
    /// let after = context.stage() == stage::POST_OPERATION;
    /// # let _ = after; }
    /// ```
    pub fn stage(&self) -> i32 {
        self.info().stage
    }

    /// `Mode`: 0 synchronous, 1 asynchronous (see [`mode`]).
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::{PluginContext, mode};
    /// # fn f(context: &PluginContext) {
    /// let now = context.mode() == mode::SYNCHRONOUS;
    /// # let _ = now; }
    /// ```
    pub fn mode(&self) -> i32 {
        self.info().mode
    }

    /// `Depth`: 1 for a request from outside, one more for each plug-in call that led here.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::{PluginContext, PluginError};
    /// # fn f(context: &PluginContext) -> Result<(), PluginError> {
    /// if context.depth() > 1 {
    ///     return Ok(()); // caused by another plug-in: don't loop
    /// }
    /// # Ok(()) }
    /// ```
    pub fn depth(&self) -> i32 {
        self.info().depth
    }

    /// `UserId`: the user the step runs as (its impersonating user if registered with one).
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let service = context.service_factory().create_organization_service(Some(context.user_id()));
    /// # let _ = service; }
    /// ```
    pub fn user_id(&self) -> Uuid {
        self.info().user_id
    }

    /// `InitiatingUserId`: the user who started the action, whatever the steps in between impersonate.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let impersonating = context.user_id() != context.initiating_user_id();
    /// # let _ = impersonating; }
    /// ```
    pub fn initiating_user_id(&self) -> Uuid {
        self.info().initiating_user_id
    }

    /// `BusinessUnitId` of the calling user.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let business_unit = context.business_unit_id();
    /// # let _ = business_unit; }
    /// ```
    pub fn business_unit_id(&self) -> Uuid {
        self.info().business_unit_id
    }

    /// `OrganizationId`.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let organization = context.organization_id();
    /// # let _ = organization; }
    /// ```
    pub fn organization_id(&self) -> Uuid {
        self.info().organization_id
    }

    /// `OrganizationName`.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let name = context.organization_name();
    /// # let _ = name; }
    /// ```
    pub fn organization_name(&self) -> &str {
        &self.info().organization_name
    }

    /// `CorrelationId`: the same for every pipeline that one request causes.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::{PluginContext, trace};
    /// # fn f(context: &PluginContext) {
    /// trace!("correlation {}", context.correlation_id());
    /// # }
    /// ```
    pub fn correlation_id(&self) -> Uuid {
        self.info().correlation_id
    }

    /// `RequestId`, when the request has one.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let request = context.request_id();
    /// # let _ = request; }
    /// ```
    pub fn request_id(&self) -> Option<Uuid> {
        self.info().request_id
    }

    /// `OperationId`: the system job of an asynchronous step.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let operation = context.operation_id();
    /// # let _ = operation; }
    /// ```
    pub fn operation_id(&self) -> Uuid {
        self.info().operation_id
    }

    /// `OperationCreatedOn`.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let queued_at = context.operation_created_on().to_rfc3339();
    /// # let _ = queued_at; }
    /// ```
    pub fn operation_created_on(&self) -> DateTime<Utc> {
        self.info().operation_created_on
    }

    /// `IsInTransaction`: whether the step's writes roll back if the request fails.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let can_roll_back = context.is_in_transaction();
    /// # let _ = can_roll_back; }
    /// ```
    pub fn is_in_transaction(&self) -> bool {
        self.info().is_in_transaction
    }

    /// `IsExecutingOffline`: always false.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// assert!(!context.is_executing_offline());
    /// # }
    /// ```
    pub fn is_executing_offline(&self) -> bool {
        self.info().is_executing_offline
    }

    /// `IsolationMode`: 2, sandbox.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// assert_eq!(context.isolation_mode(), 2);
    /// # }
    /// ```
    pub fn isolation_mode(&self) -> i32 {
        self.info().isolation_mode
    }

    /// `OwningExtension`: a reference to the step (`sdkmessageprocessingstep`) running the plug-in.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let step = context.owning_extension().name.clone();
    /// # let _ = step; }
    /// ```
    pub fn owning_extension(&self) -> &EntityReference {
        &self.info().owning_extension
    }

    /// `InputParameters`, as they stand now.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// for (name, value) in context.input_parameters() {
    ///     println!("{name}: {value:?}");
    /// }
    /// # }
    /// ```
    pub fn input_parameters(&self) -> Parameters {
        from_wit::parameters(self.raw().parameters(wit::ParameterCollection::InputParameters))
    }

    /// One input parameter.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let amount = context.input_parameter("Amount");
    /// # let _ = amount; }
    /// ```
    pub fn input_parameter(&self, name: &str) -> Option<ParameterValue> {
        self.input_parameters().remove(name)
    }

    /// Changes an input parameter. In PreValidation and PreOperation this changes the operation (PIPE-6).
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::{PluginContext, Fault};
    /// # fn f(context: &PluginContext) -> Result<(), Fault> {
    /// context.set_input_parameter("Amount", 42)?;
    /// # Ok(()) }
    /// ```
    pub fn set_input_parameter(&self, name: &str, value: impl Into<ParameterValue>) -> Result<(), Fault> {
        let value = to_wit::parameter_value(&value.into())?;
        self.raw().set_parameter(wit::ParameterCollection::InputParameters, name, &value).map_err(from_wit::fault)
    }

    /// The `Target` input parameter as an entity (Create, Update); `None` when absent or a reference.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// if let Some(account) = context.target_entity() {
    ///     let name = account.get("name");
    /// #   let _ = name;
    /// }
    /// # }
    /// ```
    pub fn target_entity(&self) -> Option<Entity> {
        match self.input_parameter(messages::TARGET)? {
            ParameterValue::Entity(entity) => Some(entity),
            _ => None,
        }
    }

    /// The `Target` input parameter as a reference: the reference itself (Delete, Assign, …), or the entity's
    /// table and id (the nil GUID for an entity without one).
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// if let Some(target) = context.target_reference() {
    ///     println!("{} {}", target.logical_name, target.id);
    /// }
    /// # }
    /// ```
    pub fn target_reference(&self) -> Option<EntityReference> {
        match self.input_parameter(messages::TARGET)? {
            ParameterValue::Entity(entity) => Some(entity.to_reference()),
            other => other.as_reference().cloned(),
        }
    }

    /// Replaces the `Target` input parameter; in PreValidation and PreOperation the operation writes it.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::{PluginContext, PluginError};
    /// # fn f(context: &PluginContext) -> Result<(), PluginError> {
    /// if let Some(mut account) = context.target_entity() {
    ///     account.set("description", "checked by a plug-in");
    ///     context.set_target(account)?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn set_target(&self, target: Entity) -> Result<(), Fault> {
        self.set_input_parameter(messages::TARGET, target)
    }

    /// `OutputParameters`: empty before the core operation.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let outputs = context.output_parameters();
    /// # let _ = outputs; }
    /// ```
    pub fn output_parameters(&self) -> Parameters {
        from_wit::parameters(self.raw().parameters(wit::ParameterCollection::OutputParameters))
    }

    /// One output parameter, such as `id` after a Create.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::{PluginContext, Value};
    /// # fn f(context: &PluginContext) {
    /// let created = context.output_parameter("id").and_then(|p| p.as_value().cloned());
    /// # let _ = created; }
    /// ```
    pub fn output_parameter(&self, name: &str) -> Option<ParameterValue> {
        self.output_parameters().remove(name)
    }

    /// Changes an output parameter: what the caller gets back (PostOperation, or a custom API's stage 30).
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::{PluginContext, Fault, Value};
    /// # fn f(context: &PluginContext) -> Result<(), Fault> {
    /// context.set_output_parameter("Total", Value::Money("12.50".into()))?;
    /// # Ok(()) }
    /// ```
    pub fn set_output_parameter(&self, name: &str, value: impl Into<ParameterValue>) -> Result<(), Fault> {
        let value = to_wit::parameter_value(&value.into())?;
        self.raw().set_parameter(wit::ParameterCollection::OutputParameters, name, &value).map_err(from_wit::fault)
    }

    /// `PreEntityImages`, by alias.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// for (alias, image) in context.pre_entity_images() {
    ///     println!("{alias}: {} columns", image.attributes.len());
    /// }
    /// # }
    /// ```
    pub fn pre_entity_images(&self) -> BTreeMap<String, Entity> {
        from_wit::images(self.raw().pre_entity_images())
    }

    /// The pre-image registered with `alias`: the record as it was before the operation.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let old_name = context.pre_entity_image("pre").and_then(|e| e.get("name").cloned());
    /// # let _ = old_name; }
    /// ```
    pub fn pre_entity_image(&self, alias: &str) -> Option<Entity> {
        self.pre_entity_images().remove(alias)
    }

    /// `PostEntityImages`, by alias.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let aliases: Vec<String> = context.post_entity_images().into_keys().collect();
    /// # let _ = aliases; }
    /// ```
    pub fn post_entity_images(&self) -> BTreeMap<String, Entity> {
        from_wit::images(self.raw().post_entity_images())
    }

    /// The post-image registered with `alias`: the record as the operation left it (stage 40 only).
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let new_name = context.post_entity_image("post").and_then(|e| e.get("name").cloned());
    /// # let _ = new_name; }
    /// ```
    pub fn post_entity_image(&self, alias: &str) -> Option<Entity> {
        self.post_entity_images().remove(alias)
    }

    /// `SharedVariables`: values the steps of one pipeline pass to each other.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let names: Vec<String> = context.shared_variables().into_keys().collect();
    /// # let _ = names; }
    /// ```
    pub fn shared_variables(&self) -> Parameters {
        from_wit::parameters(self.raw().parameters(wit::ParameterCollection::SharedVariables))
    }

    /// One shared variable, such as the request's `tag`.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let tag = context.shared_variable("tag").and_then(|v| v.as_value().map(ToString::to_string));
    /// # let _ = tag; }
    /// ```
    pub fn shared_variable(&self, name: &str) -> Option<ParameterValue> {
        self.shared_variables().remove(name)
    }

    /// Sets a shared variable for the later steps of this pipeline; `tag` is read-only.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::{PluginContext, Fault};
    /// # fn f(context: &PluginContext) -> Result<(), Fault> {
    /// context.set_shared_variable("validated", true)?;
    /// # Ok(()) }
    /// ```
    pub fn set_shared_variable(&self, name: &str, value: impl Into<ParameterValue>) -> Result<(), Fault> {
        let value = to_wit::parameter_value(&value.into())?;
        self.raw().set_parameter(wit::ParameterCollection::SharedVariables, name, &value).map_err(from_wit::fault)
    }

    /// `ParentContext`: the context of the step whose call caused this pipeline, or, for Create, Update and
    /// Delete, the PreValidation stage's context (PIPE-7). Its setters fail, and it carries no step
    /// configuration.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let from_pre_validation = context.parent().and_then(|parent| parent.shared_variable("checked"));
    /// # let _ = from_pre_validation; }
    /// ```
    pub fn parent(&self) -> Option<PluginContext<'static>> {
        let parent = self.raw().parent_context()?;
        Some(PluginContext {
            handle: Handle::Owned(parent),
            info: OnceCell::new(),
            identity: OnceCell::new(),
            configuration: StepConfiguration::default(),
        })
    }

    /// The step's configuration, as registered.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let configuration = context.configuration();
    /// # let _ = configuration; }
    /// ```
    pub fn configuration(&self) -> &StepConfiguration {
        &self.configuration
    }

    /// The step's unsecure configuration.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let prefix = context.unsecure_configuration().unwrap_or("Call");
    /// # let _ = prefix; }
    /// ```
    pub fn unsecure_configuration(&self) -> Option<&str> {
        self.configuration.unsecure()
    }

    /// The step's secure configuration.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let api_key = context.secure_configuration();
    /// # let _ = api_key; }
    /// ```
    pub fn secure_configuration(&self) -> Option<&str> {
        self.configuration.secure()
    }

    /// `IOrganizationServiceFactory`.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let service = context.service_factory().create_organization_service(Some(context.user_id()));
    /// # let _ = service; }
    /// ```
    pub fn service_factory(&self) -> ServiceFactory {
        ServiceFactory::new()
    }

    /// `ITracingService`; the [`trace!`](crate::trace) macro is shorter.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// context.tracing().trace("starting");
    /// # }
    /// ```
    pub fn tracing(&self) -> TracingService {
        TracingService::new()
    }
}
