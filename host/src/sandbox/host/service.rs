use std::time::Instant;

use wasmtime::component::Resource;
use xrm_model::{ParameterValue, Request, Response, messages};

use super::{ServiceHandle, TimeLimit};
use crate::sandbox::bindings::xrm::plugin::organization_service::{Host, HostOrganizationService};
use crate::sandbox::bindings::xrm::plugin::types as w;
use crate::sandbox::{PluginHost, StoreData, convert};

type CallResult<T> = wasmtime::Result<Result<T, w::Fault>>;

impl<H: PluginHost> StoreData<H> {
    /// Every service method comes here: one request through the host, as the service's user.
    fn call(
        &mut self,
        service: &Resource<ServiceHandle>,
        request: Request,
    ) -> wasmtime::Result<Result<Response, w::Fault>> {
        if Instant::now() > self.deadline {
            return Err(TimeLimit.into());
        }
        let user = self.table.get(service)?.user;
        // HTTP requests answered before this call are recorded before it, in the order things happened.
        self.record_http(false);
        let result = self.host.call(&self.context, user, request);
        if Instant::now() > self.deadline {
            return Err(TimeLimit.into());
        }
        Ok(result.map_err(|f| convert::fault(&f)))
    }

    fn call_for<T>(
        &mut self,
        service: &Resource<ServiceHandle>,
        request: Request,
        pick: impl FnOnce(Response) -> Option<T>,
    ) -> CallResult<T> {
        let message = request.message.clone();
        Ok(self.call(service, request)?.and_then(|response| {
            pick(response).ok_or_else(|| {
                let fault = xrm_model::Fault::new(
                    xrm_model::codes::INVALID_ARGUMENT,
                    format!("the {message} response has no result of the expected type"),
                );
                convert::fault(&fault)
            })
        }))
    }
}

fn target(logical_name: String, id: w::Guid) -> xrm_model::EntityReference {
    xrm_model::EntityReference::new(logical_name, convert::uuid(id))
}

impl<H: PluginHost> HostOrganizationService for StoreData<H> {
    fn create(&mut self, this: Resource<ServiceHandle>, entity: w::Entity) -> CallResult<w::Guid> {
        let request = Request::create(convert::from_entity(entity));
        self.call_for(&this, request, |r| match r.results.get(messages::ID) {
            Some(ParameterValue::Value(xrm_model::Value::Guid(id))) => Some(convert::guid(*id)),
            _ => None,
        })
    }

    fn retrieve(
        &mut self,
        this: Resource<ServiceHandle>,
        entity_name: String,
        id: w::Guid,
        columns: w::ColumnSet,
    ) -> CallResult<w::Entity> {
        let request = Request::retrieve(target(entity_name, id), convert::from_column_set(columns));
        self.call_for(&this, request, |r| {
            r.results.get(messages::ENTITY).and_then(ParameterValue::as_entity).map(convert::entity)
        })
    }

    fn update(&mut self, this: Resource<ServiceHandle>, entity: w::Entity) -> CallResult<()> {
        self.call_for(&this, Request::update(convert::from_entity(entity)), |_| Some(()))
    }

    fn delete(&mut self, this: Resource<ServiceHandle>, entity_name: String, id: w::Guid) -> CallResult<()> {
        self.call_for(&this, Request::delete(target(entity_name, id)), |_| Some(()))
    }

    fn retrieve_multiple(&mut self, this: Resource<ServiceHandle>, query: w::Query) -> CallResult<w::EntityCollection> {
        let request = match convert::from_query(query) {
            Ok(q) => Request::retrieve_multiple(q),
            Err(f) => return Ok(Err(convert::fault(&f))),
        };
        self.call_for(&this, request, |r| match r.results.get(messages::ENTITY_COLLECTION) {
            Some(ParameterValue::EntityCollection(c)) => Some(convert::collection(c)),
            _ => None,
        })
    }

    fn associate(
        &mut self,
        this: Resource<ServiceHandle>,
        entity_name: String,
        id: w::Guid,
        relationship: w::Relationship,
        related: Vec<w::EntityReference>,
    ) -> CallResult<()> {
        let request = relate(messages::ASSOCIATE, target(entity_name, id), relationship, related);
        self.call_for(&this, request, |_| Some(()))
    }

    fn disassociate(
        &mut self,
        this: Resource<ServiceHandle>,
        entity_name: String,
        id: w::Guid,
        relationship: w::Relationship,
        related: Vec<w::EntityReference>,
    ) -> CallResult<()> {
        let request = relate(messages::DISASSOCIATE, target(entity_name, id), relationship, related);
        self.call_for(&this, request, |_| Some(()))
    }

    fn execute(&mut self, this: Resource<ServiceHandle>, request: w::Request) -> CallResult<w::Response> {
        match convert::from_request(request) {
            Ok(request) => {
                Ok(self.call(&this, request)?.and_then(|r| convert::response(&r).map_err(|f| convert::fault(&f))))
            }
            Err(f) => Ok(Err(convert::fault(&f))),
        }
    }

    fn drop(&mut self, rep: Resource<ServiceHandle>) -> wasmtime::Result<()> {
        self.table.delete(rep)?;
        Ok(())
    }
}

fn relate(
    message: &str,
    target: xrm_model::EntityReference,
    relationship: w::Relationship,
    related: Vec<w::EntityReference>,
) -> Request {
    Request::new(message)
        .with(messages::TARGET, target)
        .with(messages::RELATIONSHIP, ParameterValue::Relationship(relationship.schema_name))
        .with(
            messages::RELATED_ENTITIES,
            ParameterValue::EntityReferences(related.into_iter().map(convert::from_reference).collect()),
        )
}

impl<H: PluginHost> Host for StoreData<H> {}
