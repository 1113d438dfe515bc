//! The platform's messages beyond create, read, update and delete, one family per file: what each does to the
//! store and what it answers. The dispatch (`frame/operation.rs`) and the checks (`authorize.rs`) call in here.
//!
//! The batches (`ExecuteMultiple`, `ExecuteTransaction`), `Upsert` and the bulk messages (`CreateMultiple`,
//! `UpdateMultiple`, `UpsertMultiple`) run other requests or several records (PIPE-17).

pub mod activities;
pub(in crate::pipeline) mod batch;
pub(in crate::pipeline) mod bulk;
pub mod merge;
pub mod metadata;
pub mod qualify;
pub mod security;
pub mod status;
pub mod teams;
pub(in crate::pipeline) mod upsert;

use xrm_model::{EntityReference, ParameterValue, Request, Value, messages};

/// The record a request is about when that is not its Target, as the platform gives it to steps
/// (`PrimaryEntityName`, `PrimaryEntityId`): QualifyLead's lead; the access team messages' team template,
/// the table the platform lists them under; the team of AddMembersTeam and RemoveMembersTeam; the user of
/// RetrieveUserPrivileges.
/// (`PrimaryEntityName`, `PrimaryEntityId`): QualifyLead's lead; SendEmail's email; the access team messages' team template,
/// the table the platform lists them under.
pub fn primary(request: &Request) -> Option<EntityReference> {
    let value = |name| match request.parameter(name) {
        Some(ParameterValue::Value(v)) => Some(v),
        _ => None,
    };
    match request.message.as_str() {
        messages::QUALIFY_LEAD => match value("LeadId")? {
            Value::Lookup(r) => Some(r.clone()),
            _ => None,
        },
        messages::ADD_USER_TO_RECORD_TEAM | messages::REMOVE_USER_FROM_RECORD_TEAM => match value("TeamTemplateId")? {
            Value::Guid(id) => Some(EntityReference::new("teamtemplate", *id)),
            Value::Lookup(r) => Some(EntityReference::new("teamtemplate", r.id)),
            _ => None,
        },
        // SEC-10: the team whose members change, the user asked about.
        messages::ADD_MEMBERS_TEAM | messages::REMOVE_MEMBERS_TEAM => match value(messages::TEAM_ID)? {
            Value::Guid(id) => Some(EntityReference::new("team", *id)),
            Value::Lookup(r) => Some(EntityReference::new("team", r.id)),
            _ => None,
        },
        messages::RETRIEVE_USER_PRIVILEGES => match value("UserId")? {
            Value::Guid(id) => Some(EntityReference::new("systemuser", *id)),
            Value::Lookup(r) => Some(EntityReference::new("systemuser", r.id)),
            _ => None,
        },
        messages::SEND_EMAIL => activities::primary(request),
        _ => None,
    }
}
