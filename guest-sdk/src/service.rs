//! `IOrganizationServiceFactory` and `IOrganizationService`.

use xrm_model::{ColumnSet, Entity, EntityCollection, EntityReference, Fault, Query, Request, Response, Uuid};

use crate::bindings::xrm::plugin::organization_service as wit;
use crate::bindings::xrm::plugin::organization_service_factory as wit_factory;
use crate::convert::{from_wit, to_wit};

/// `IOrganizationServiceFactory`: makes organization services that run as a chosen user.
///
/// Get it from [`PluginContext::service_factory`](crate::PluginContext::service_factory).
///
/// ```no_run
/// use xrm_sandbox_guest::PluginContext;
///
/// fn services(context: &PluginContext) {
///     let factory = context.service_factory();
///     let as_step_user = factory.create_organization_service(Some(context.user_id()));
///     let as_system = factory.create_organization_service(None);
/// #   let _ = (as_step_user, as_system);
/// }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ServiceFactory {
    _private: (),
}

impl ServiceFactory {
    pub(crate) fn new() -> Self {
        ServiceFactory { _private: () }
    }

    /// `CreateOrganizationService(userId)`, with the platform's rules (IMP-4):
    ///
    /// - `None` runs as **SYSTEM**: no privilege or access checks at all;
    /// - `Some(Uuid::nil())` runs as the context's `UserId` (the step's user);
    /// - `Some(context.user_id())` also runs as the step's user, as its registration chose;
    /// - `Some(context.initiating_user_id())` runs as the user who started the action, whatever the step's
    ///   impersonation;
    /// - any other user id runs as that user; an unknown or disabled user fails at the first call.
    ///
    /// Each call through the service is a new request with its own pipeline, at `Depth` + 1.
    ///
    /// ```no_run
    /// use xrm_sandbox_guest::{PluginContext, Uuid};
    ///
    /// fn service(context: &PluginContext) {
    ///     let factory = context.service_factory();
    ///     // The user who clicked Save, even when the step impersonates someone else.
    ///     let initiating = factory.create_organization_service(Some(context.initiating_user_id()));
    ///     // The step's user: the same as Some(context.user_id()).
    ///     let step_user = factory.create_organization_service(Some(Uuid::nil()));
    /// #   let _ = (initiating, step_user);
    /// }
    /// ```
    pub fn create_organization_service(&self, user_id: Option<Uuid>) -> OrganizationService {
        let inner = wit_factory::create_organization_service(user_id.map(to_wit::guid));
        OrganizationService { inner }
    }
}

/// `IOrganizationService`: every call is a new request, checked against the service's user, and runs its
/// own pipeline (IMP-5).
///
/// Every method returns the platform's [`Fault`] on failure; return it with `?` so the caller sees the
/// call's code and message unchanged (PIPE-12).
///
/// ```no_run
/// use xrm_sandbox_guest::{ColumnSet, Entity, PluginContext, PluginError};
///
/// fn touch(context: &PluginContext) -> Result<(), PluginError> {
///     let service = context.service_factory().create_organization_service(Some(context.user_id()));
///     let mut contact = Entity::new("contact");
///     contact.set("lastname", "Smith");
///     let id = service.create(&contact)?;
///     let read = service.retrieve("contact", id, &ColumnSet::Columns(vec!["lastname".into()]))?;
///     assert_eq!(read.get("lastname").map(ToString::to_string).as_deref(), Some("Smith"));
///     Ok(())
/// }
/// ```
#[derive(Debug)]
pub struct OrganizationService {
    inner: wit::OrganizationService,
}

impl OrganizationService {
    /// `Create`: creates the record and returns its id.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::{Entity, OrganizationService, Fault, Uuid};
    /// # fn f(service: &OrganizationService) -> Result<Uuid, Fault> {
    /// let mut task = Entity::new("task");
    /// task.set("subject", "Call back");
    /// let id = service.create(&task)?;
    /// # Ok(id) }
    /// ```
    pub fn create(&self, entity: &Entity) -> Result<Uuid, Fault> {
        self.inner.create(&to_wit::entity(entity)).map(from_wit::uuid).map_err(from_wit::fault)
    }

    /// `Retrieve`: reads one record with the given columns.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::{ColumnSet, OrganizationService, Fault, Uuid};
    /// # fn f(service: &OrganizationService, id: Uuid) -> Result<(), Fault> {
    /// let account = service.retrieve("account", id, &ColumnSet::Columns(vec!["name".into()]))?;
    /// let name = account.get("name");
    /// # let _ = name; Ok(()) }
    /// ```
    pub fn retrieve(&self, entity_name: &str, id: Uuid, columns: &ColumnSet) -> Result<Entity, Fault> {
        let found = self.inner.retrieve(entity_name, to_wit::guid(id), &to_wit::column_set(columns));
        found.map(from_wit::entity).map_err(from_wit::fault)
    }

    /// `Update`: writes the entity's columns to the record its id names.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::{Entity, OrganizationService, Fault, Uuid};
    /// # fn f(service: &OrganizationService, id: Uuid) -> Result<(), Fault> {
    /// let mut account = Entity::with_id("account", id);
    /// account.set("name", "Contoso Ltd");
    /// service.update(&account)?;
    /// # Ok(()) }
    /// ```
    pub fn update(&self, entity: &Entity) -> Result<(), Fault> {
        self.inner.update(&to_wit::entity(entity)).map_err(from_wit::fault)
    }

    /// `Delete`: deletes a record.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::{OrganizationService, Fault, Uuid};
    /// # fn f(service: &OrganizationService, id: Uuid) -> Result<(), Fault> {
    /// service.delete("task", id)?;
    /// # Ok(()) }
    /// ```
    pub fn delete(&self, entity_name: &str, id: Uuid) -> Result<(), Fault> {
        self.inner.delete(entity_name, to_wit::guid(id)).map_err(from_wit::fault)
    }

    /// `RetrieveMultiple`: the rows of a [`QueryExpression`](crate::QueryExpression),
    /// [`QueryByAttribute`](crate::QueryByAttribute) or FetchXML query that the service's user may read.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::{ConditionExpression, ConditionOperator, OrganizationService, Fault, QueryExpression};
    /// # fn f(service: &OrganizationService) -> Result<(), Fault> {
    /// let mut query = QueryExpression::new("account");
    /// query.criteria.conditions.push(ConditionExpression {
    ///     entity_name: None,
    ///     attribute_name: "name".into(),
    ///     operator: ConditionOperator::BeginsWith,
    ///     values: vec!["Con".into()],
    /// });
    /// let accounts = service.retrieve_multiple(query)?;
    /// println!("{} accounts", accounts.entities.len());
    /// # Ok(()) }
    /// ```
    pub fn retrieve_multiple(&self, query: impl Into<Query>) -> Result<EntityCollection, Fault> {
        let query = query.into();
        if let Some(op) = to_wit::unsendable_operator(&query) {
            return Err(unsendable(op));
        }
        let rows = self.inner.retrieve_multiple(&to_wit::query(&query));
        rows.map(from_wit::collection).map_err(from_wit::fault)
    }

    /// `Associate`: links the record to each related record through a relationship.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::{EntityReference, OrganizationService, Fault, Uuid};
    /// # fn f(service: &OrganizationService, account: Uuid, contact: Uuid) -> Result<(), Fault> {
    /// let related = [EntityReference::new("contact", contact)];
    /// service.associate("account", account, "account_primary_contact", &related)?;
    /// # Ok(()) }
    /// ```
    pub fn associate(
        &self,
        entity_name: &str,
        id: Uuid,
        relationship: &str,
        related: &[EntityReference],
    ) -> Result<(), Fault> {
        let related: Vec<_> = related.iter().map(to_wit::reference).collect();
        let relationship = to_wit::relationship(relationship);
        self.inner.associate(entity_name, to_wit::guid(id), &relationship, &related).map_err(from_wit::fault)
    }

    /// `Disassociate`: removes the links [`associate`](Self::associate) made.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::{EntityReference, OrganizationService, Fault, Uuid};
    /// # fn f(service: &OrganizationService, account: Uuid, contact: Uuid) -> Result<(), Fault> {
    /// let related = [EntityReference::new("contact", contact)];
    /// service.disassociate("account", account, "account_primary_contact", &related)?;
    /// # Ok(()) }
    /// ```
    pub fn disassociate(
        &self,
        entity_name: &str,
        id: Uuid,
        relationship: &str,
        related: &[EntityReference],
    ) -> Result<(), Fault> {
        let related: Vec<_> = related.iter().map(to_wit::reference).collect();
        let relationship = to_wit::relationship(relationship);
        self.inner.disassociate(entity_name, to_wit::guid(id), &relationship, &related).map_err(from_wit::fault)
    }

    /// `Execute`: any request, such as `Assign`, `SetState` or a custom API.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::{EntityReference, OrganizationService, Fault, Request, Uuid, Value};
    /// # fn f(service: &OrganizationService, account: Uuid, user: Uuid) -> Result<(), Fault> {
    /// let assign = Request::new("Assign")
    ///     .with("Target", EntityReference::new("account", account))
    ///     .with("Assignee", EntityReference::new("systemuser", user));
    /// service.execute(&assign)?;
    ///
    /// let recalculate = Request::new("new_Recalculate").with("Amount", Value::Money("12.50".into()));
    /// let response = service.execute(&recalculate)?;
    /// let total = response.results.get("Total");
    /// # let _ = total; Ok(()) }
    /// ```
    pub fn execute(&self, request: &Request) -> Result<Response, Fault> {
        let queries = request.parameters.values().filter_map(|p| match p {
            xrm_model::ParameterValue::Query(q) => Some(q),
            _ => None,
        });
        if let Some(op) = queries.filter_map(to_wit::unsendable_operator).next() {
            return Err(unsendable(op));
        }
        self.inner.execute(&to_wit::request(request)?).map(from_wit::response).map_err(from_wit::fault)
    }
}

/// The fault for a QueryExpression holding an operator this version of the interface cannot carry.
fn unsendable(what: String) -> Fault {
    Fault::new(
        xrm_model::codes::INVALID_ARGUMENT,
        format!(
            "The {what} cannot be sent in a QueryExpression by this version of the plug-in interface; send the query as FetchXML"
        ),
    )
}
