//! Follow-up: a sample plug-in that creates a task for every new account.
//!
//! Register it on **Create** of **account**, **PostOperation** (stage 40), synchronous or asynchronous:
//!
//! ```json
//! { "name": "Follow-up task on new account", "plugin": "followup",
//!   "message": "Create", "primaryentity": "account", "stage": 40,
//!   "configuration": "Phone" }
//! ```
//!
//! The task is created through `CreateOrganizationService(context.InitiatingUserId)`: it is created by, and
//! owned by, the user who created the account, even when the step is registered to run as someone else
//! ("Run in User's Context"). The step's user may be a service account with more privileges, but the task
//! belongs on the to-do list of the person who will make the call.

use xrm_sandbox_guest::{
    Entity, EntityReference, Plugin, PluginContext, PluginError, StepConfiguration, Uuid, Value, messages, stage, trace,
};

/// The subject's prefix when the step has no unsecure configuration.
const DEFAULT_PREFIX: &str = "Call";

struct FollowUp {
    /// The task's subject is `"<prefix> <account name>"`.
    prefix: String,
}

impl Plugin for FollowUp {
    /// The unsecure configuration, when present, is the subject's prefix (`"Phone"` gives "Phone Contoso").
    fn new(configuration: &StepConfiguration) -> Result<Self, PluginError> {
        let prefix = configuration.unsecure().map(str::trim).filter(|p| !p.is_empty());
        Ok(FollowUp { prefix: prefix.unwrap_or(DEFAULT_PREFIX).to_owned() })
    }

    fn execute(&self, context: &PluginContext) -> Result<(), PluginError> {
        check_registration(context)?;
        // Who is who: UserId is the step's user (its impersonating user if registered with one);
        // InitiatingUserId is the user who created the account.
        trace!("UserId={} InitiatingUserId={}", context.user_id(), context.initiating_user_id());

        let account = new_account(context)?;
        let task = self.task_for(&account);

        // Some(InitiatingUserId): the person who created the account, whatever the step runs as.
        // None would be SYSTEM (the task would show SYSTEM as its creator); Some(Uuid::nil()) or
        // Some(context.user_id()) would be the step's user.
        let service = context.service_factory().create_organization_service(Some(context.initiating_user_id()));
        // `?` hands a failed call's fault to the caller unchanged, e.g. the user's missing prvCreateActivity.
        let task_id = service.create(&task)?;

        trace!("Created task {task_id} regarding account {}", account.id);
        Ok(())
    }
}

impl FollowUp {
    fn task_for(&self, account: &EntityReference) -> Entity {
        let name = account.name.as_deref().unwrap_or("the new account");
        let mut task = Entity::new("task");
        task.set("subject", format!("{} {name}", self.prefix))
            .set("regardingobjectid", Value::Lookup(account.clone()))
            .set("description", format!("{name} was just created: get in touch and introduce yourself."));
        task
    }
}

/// Fails loudly when registered where it cannot work, rather than creating tasks for the wrong records.
fn check_registration(context: &PluginContext) -> Result<(), PluginError> {
    let (message, table, step) = (context.message_name(), context.primary_entity_name(), context.stage());
    if message == messages::CREATE && table == "account" && step == stage::POST_OPERATION {
        return Ok(());
    }
    Err(PluginError::invalid(format!(
        "followup must be registered on Create of account at PostOperation (40), not {message} of {table} at {step}"
    )))
}

/// The account just created, as a reference carrying its name.
fn new_account(context: &PluginContext) -> Result<EntityReference, PluginError> {
    let target = context.target_entity().ok_or_else(|| PluginError::invalid("the Create has no Target account"))?;
    // In PostOperation the record exists: PrimaryEntityId holds its id (as does the `id` output parameter).
    let id = match context.primary_entity_id() {
        id if !id.is_nil() => id,
        _ => created_id(context).ok_or_else(|| PluginError::invalid("the new account's id is unknown"))?,
    };
    let name = target.get("name").filter(|v| !v.is_null()).map(ToString::to_string);
    Ok(EntityReference { name, ..EntityReference::new("account", id) })
}

/// The `id` output parameter of Create.
fn created_id(context: &PluginContext) -> Option<Uuid> {
    match context.output_parameter(messages::ID)?.as_value()? {
        Value::Guid(id) => Some(*id),
        _ => None,
    }
}

xrm_sandbox_guest::export_plugin!(FollowUp);
