//! Who a pipeline, a step and a service run as (IMP-1..5, SEC-8).

use std::sync::Arc;

use xrm_model::{Fault, Uuid, codes};

use crate::context::Identity;
use crate::org::Organization;

/// Checks that a user may call or be impersonated: it exists and is enabled (SEC-8). SYSTEM always may.
pub fn check_user(org: &Organization, user: Uuid) -> Result<(), Fault> {
    if user == org.system_user {
        return Ok(());
    }
    match org.user(user) {
        None => Err(Fault::new(codes::OBJECT_DOES_NOT_EXIST, format!("systemuser With Id = {user} Does Not Exist"))),
        Some(u) if u.is_disabled => Err(Fault::new(
            codes::USER_DISABLED,
            "The specified user is either disabled or is not a member of any business unit.",
        )),
        Some(_) => Ok(()),
    }
}

/// The user a step runs as: its impersonating user when it has one, else the pipeline's calling user (IMP-1,
/// IMP-2).
pub fn step_user(impersonating: Option<Uuid>, caller: Uuid) -> Uuid {
    impersonating.unwrap_or(caller)
}

/// The user of a service from `CreateOrganizationService(arg)` (IMP-4): `None` is SYSTEM, the empty GUID
/// the context's `UserId`, any other id that user (checked when the call runs).
pub fn service_user(org: &Organization, arg: Option<Uuid>, context_user: Uuid) -> Uuid {
    match arg {
        None => org.system_user,
        Some(id) if id.is_nil() => context_user,
        Some(id) => id,
    }
}

/// How a plug-in asked for its service, for reports: `null`, `empty`, `UserId`, `InitiatingUserId` or `user`.
pub fn factory_label(arg: Option<Uuid>, user_id: Uuid, initiating: Uuid) -> &'static str {
    match arg {
        None => "null",
        Some(id) if id.is_nil() => "empty",
        Some(id) if id == user_id && id == initiating => "UserId = InitiatingUserId",
        Some(id) if id == user_id => "UserId",
        Some(id) if id == initiating => "InitiatingUserId",
        Some(_) => "user",
    }
}

/// The identity properties of a context (IMP-11): the Entra object ids of the step's user and the initiating
/// user (nil for a user without one, SYSTEM included), the initiating user's application, who authenticated,
/// the user agent of the request that started the action, and the organization's environment.
pub fn context_identity(
    org: &Organization,
    user_id: Uuid,
    initiating: Uuid,
    authenticated: Uuid,
    user_agent: &Arc<str>,
) -> Identity {
    let object_id = |id: Uuid| org.user(id).and_then(|u| u.aad_object_id).unwrap_or_default();
    let application = org.user(initiating).and_then(|u| u.application_id);
    Identity {
        user_aad_object_id: object_id(user_id),
        initiating_user_aad_object_id: object_id(initiating),
        initiating_user_application_id: application.unwrap_or_default(),
        // IMP-11 [choice]: the initiating user decides, as for `InitiatingUserApplicationId`.
        is_application_user: application.is_some(),
        authenticated_user_id: authenticated,
        initiating_user_agent: user_agent.clone(),
        environment_id: org.settings.environment_id.clone(),
        tenant_id: org.settings.tenant_id,
    }
}
