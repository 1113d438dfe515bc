//! Follow-up: a sample plug-in assembly of two plug-in types, as a platform assembly holds several. Each step
//! names the type it runs (`"type"` in its registration, PIPE-18).
//!
//! **`FollowUp`** creates a task for every new account. Register it on **Create** of **account**,
//! **PostOperation** (stage 40), synchronous or asynchronous:
//!
//! ```json
//! { "name": "Follow-up task on new account", "plugin": "followup", "type": "FollowUp",
//!   "message": "Create", "primaryentity": "account", "stage": 40,
//!   "configuration": "Phone" }
//! ```
//!
//! The task is created through `CreateOrganizationService(context.InitiatingUserId)`: it is created by, and
//! owned by, the user who created the account, even when the step is registered to run as someone else
//! ("Run in User's Context"). The step's user may be a service account with more privileges, but the task
//! belongs on the to-do list of the person who will make the call.
//!
//! **`AccountNumber`** gives a new account an account number when it has none. Register it on **Create** of
//! **account**, **PreOperation** (stage 20), so that its change to the Target is what is written (PIPE-6):
//!
//! ```json
//! { "name": "Account number", "plugin": "followup", "type": "Contoso.Plugins.AccountNumber",
//!   "message": "Create", "primaryentity": "account", "stage": 20, "configuration": "ACC" }
//! ```
//!
//! The number is `<prefix>-<the account's name in capitals, letters and digits only, at most 10>`, the prefix
//! being the unsecure configuration (default `ACC`): "Contoso Ltd" gets `ACC-CONTOSOLTD`.

use xrm_sandbox_guest::{
    Entity, EntityReference, GetAttributeValue, Plugin, PluginContext, PluginError, StepConfiguration, Uuid, Value,
    messages, stage, trace,
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
    check_registered_at(context, "FollowUp", stage::POST_OPERATION, "PostOperation (40)")
}

/// That the step is on Create of account at `expected` stage.
fn check_registered_at(context: &PluginContext, plugin: &str, expected: i32, name: &str) -> Result<(), PluginError> {
    let (message, table, step) = (context.message_name(), context.primary_entity_name(), context.stage());
    if message == messages::CREATE && table == "account" && step == expected {
        return Ok(());
    }
    Err(PluginError::invalid(format!(
        "{plugin} must be registered on Create of account at {name}, not {message} of {table} at {step}"
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

/// The account number's prefix when the step has no unsecure configuration.
const DEFAULT_NUMBER_PREFIX: &str = "ACC";

/// The longest part of an account number taken from the account's name.
const NAME_PART: usize = 10;

struct AccountNumber {
    prefix: String,
}

impl Plugin for AccountNumber {
    /// The unsecure configuration, when present, is the number's prefix.
    fn new(configuration: &StepConfiguration) -> Result<Self, PluginError> {
        let prefix = configuration.unsecure().map(str::trim).filter(|p| !p.is_empty());
        Ok(AccountNumber { prefix: prefix.unwrap_or(DEFAULT_NUMBER_PREFIX).to_owned() })
    }

    fn execute(&self, context: &PluginContext) -> Result<(), PluginError> {
        check_registered_at(context, "AccountNumber", stage::PRE_OPERATION, "PreOperation (20)")?;
        let mut account =
            context.target_entity().ok_or_else(|| PluginError::invalid("the Create has no Target account"))?;
        let given = account.get_string("accountnumber")?.map(str::trim).filter(|n| !n.is_empty());
        if let Some(number) = given {
            trace!("The account already has the number {number}");
            return Ok(());
        }
        let name = account.get_string("name")?.unwrap_or_default();
        let number = account_number(&self.prefix, name);
        trace!("Account number {number}");
        account.set("accountnumber", number);
        // In PreOperation the changed Target is what the Create writes (PIPE-6).
        context.set_target(account)?;
        Ok(())
    }
}

/// `<prefix>-<name in capitals, letters and digits only>`, or the prefix alone for a name without any.
fn account_number(prefix: &str, name: &str) -> String {
    let part: String =
        name.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_uppercase).take(NAME_PART).collect();
    if part.is_empty() { prefix.to_owned() } else { format!("{prefix}-{part}") }
}

// Two plug-in types in one component: each step's `"type"` says which runs.
xrm_sandbox_guest::export_plugins!(
    "Contoso.Plugins.FollowUp" => FollowUp,
    "Contoso.Plugins.AccountNumber" => AccountNumber,
);

#[cfg(test)]
mod tests {
    use super::account_number;

    #[test]
    fn the_number_is_the_prefix_and_the_name_in_capitals() {
        assert_eq!(account_number("ACC", "Contoso Ltd"), "ACC-CONTOSOLTD");
        assert_eq!(account_number("N", "a-b c, d.e f g h i j k"), "N-ABCDEFGHIJ");
        assert_eq!(account_number("ACC", "  "), "ACC");
    }
}
