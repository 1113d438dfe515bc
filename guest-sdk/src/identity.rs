//! The identity properties of the newer context interfaces (`IPluginExecutionContext2` to `7`): who signed in,
//! their Entra object ids, the application behind an application user, the user agent, the environment.

use xrm_model::Uuid;

use crate::context::PluginContext;
use crate::convert::from_wit;

/// The identity properties of a context, read from the host once per context. Ids the platform leaves empty
/// are the nil GUID.
///
/// ```no_run
/// # use xrm_sandbox_guest::PluginContext;
/// # fn f(context: &PluginContext) {
/// let identity = context.identity();
/// let impersonated = identity.authenticated_user_id != context.initiating_user_id();
/// # let _ = impersonated; }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityInfo {
    /// `UserAzureActiveDirectoryObjectId`: the Entra object id of `UserId`.
    pub user_azure_active_directory_object_id: Uuid,
    /// `InitiatingUserAzureActiveDirectoryObjectId`: the Entra object id of `InitiatingUserId`.
    pub initiating_user_azure_active_directory_object_id: Uuid,
    /// `InitiatingUserApplicationId`: the application id of `InitiatingUserId` when it is an application user.
    pub initiating_user_application_id: Uuid,
    /// `IsApplicationUser`: whether `InitiatingUserId` is an application user.
    pub is_application_user: bool,
    /// `AuthenticatedUserId`: the user who signed in; under impersonation from outside, the impersonator.
    pub authenticated_user_id: Uuid,
    /// `IsPortalsClientCall`: always false in the sandbox.
    pub is_portals_client_call: bool,
    /// `PortalsContactId`: always the nil GUID in the sandbox.
    pub portals_contact_id: Uuid,
    /// `InitiatingUserAgent`: the user agent of the request that started the action; empty if none.
    pub initiating_user_agent: String,
    /// `EnvironmentId`: the organization's environment id; empty if none.
    pub environment_id: String,
    /// `TenantId`: the organization's Entra tenant id.
    pub tenant_id: Uuid,
}

impl PluginContext<'_> {
    /// Every identity property at once; the first call reads them from the host, later calls reuse them.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let tenant = context.identity().tenant_id;
    /// # let _ = tenant; }
    /// ```
    pub fn identity(&self) -> &IdentityInfo {
        self.identity.get_or_init(|| from_wit::identity_info(self.raw().identity()))
    }

    /// `UserAzureActiveDirectoryObjectId`: the Entra object id of `UserId` (nil for SYSTEM or a user without
    /// one).
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let object_id = context.user_azure_active_directory_object_id();
    /// # let _ = object_id; }
    /// ```
    pub fn user_azure_active_directory_object_id(&self) -> Uuid {
        self.identity().user_azure_active_directory_object_id
    }

    /// `InitiatingUserAzureActiveDirectoryObjectId`: the Entra object id of `InitiatingUserId`.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let object_id = context.initiating_user_azure_active_directory_object_id();
    /// # let _ = object_id; }
    /// ```
    pub fn initiating_user_azure_active_directory_object_id(&self) -> Uuid {
        self.identity().initiating_user_azure_active_directory_object_id
    }

    /// `InitiatingUserApplicationId`: the application id of `InitiatingUserId` when it is an application user,
    /// else the nil GUID.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let from_an_integration = !context.initiating_user_application_id().is_nil();
    /// # let _ = from_an_integration; }
    /// ```
    pub fn initiating_user_application_id(&self) -> Uuid {
        self.identity().initiating_user_application_id
    }

    /// `IsApplicationUser`: whether `InitiatingUserId` is an application user.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// if context.is_application_user() {
    ///     // a server-to-server integration started this
    /// }
    /// # }
    /// ```
    pub fn is_application_user(&self) -> bool {
        self.identity().is_application_user
    }

    /// `AuthenticatedUserId`: the user who signed in; under impersonation from outside, the impersonator.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let signed_in = context.authenticated_user_id();
    /// # let _ = signed_in; }
    /// ```
    pub fn authenticated_user_id(&self) -> Uuid {
        self.identity().authenticated_user_id
    }

    /// `IsPortalsClientCall`: always false in the sandbox.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let portal = context.is_portals_client_call();
    /// # let _ = portal; }
    /// ```
    pub fn is_portals_client_call(&self) -> bool {
        self.identity().is_portals_client_call
    }

    /// `PortalsContactId`: always the nil GUID in the sandbox.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let contact = context.portals_contact_id();
    /// # let _ = contact; }
    /// ```
    pub fn portals_contact_id(&self) -> Uuid {
        self.identity().portals_contact_id
    }

    /// `InitiatingUserAgent`: the user agent of the request that started the action; empty if none.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let from_a_browser = context.initiating_user_agent().contains("Mozilla");
    /// # let _ = from_a_browser; }
    /// ```
    pub fn initiating_user_agent(&self) -> &str {
        &self.identity().initiating_user_agent
    }

    /// `EnvironmentId`: the organization's environment id; empty if none.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let environment = context.environment_id();
    /// # let _ = environment; }
    /// ```
    pub fn environment_id(&self) -> &str {
        &self.identity().environment_id
    }

    /// `TenantId`: the organization's Entra tenant id.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::PluginContext;
    /// # fn f(context: &PluginContext) {
    /// let tenant = context.tenant_id();
    /// # let _ = tenant; }
    /// ```
    pub fn tenant_id(&self) -> Uuid {
        self.identity().tenant_id
    }
}
