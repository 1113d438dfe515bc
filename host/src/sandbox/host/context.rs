use std::sync::Arc;
use wasmtime::component::Resource;

use xrm_model::{Fault, Parameters, codes};

use super::ContextHandle;
use crate::budget::{self, size};
use crate::context::ExecutionContext;
use crate::sandbox::bindings::xrm::plugin::execution_context::{
    ContextInfo, EntityImage, Host, HostContext, IdentityInfo, ParameterCollection,
};
use crate::sandbox::bindings::xrm::plugin::types as w;
use crate::sandbox::{PluginHost, StoreData, convert};

/// The shared variable a request's `tag` sets; it cannot be changed (PIPE-7).
const TAG: &str = "tag";

impl<H: PluginHost> StoreData<H> {
    fn context_at(&self, handle: &Resource<ContextHandle>) -> wasmtime::Result<&ExecutionContext> {
        let level = self.table.get(handle)?.level;
        self.context.ancestor(level).ok_or_else(|| wasmtime::format_err!("context handle out of range"))
    }

    /// Sets parameter `name` of the running step's own context (an ancestor's is read-only), counting what it
    /// adds against the case's memory budget: past the budget the value is refused with the budget's fault
    /// (BOX-5).
    fn change_parameter(
        &mut self,
        handle: &Resource<ContextHandle>,
        pick: fn(&mut ExecutionContext) -> &mut Parameters,
        name: String,
        value: w::ParameterValue,
    ) -> Change {
        if self.table.get(handle)?.level != 0 {
            let fault = Fault::new(codes::INVALID_ARGUMENT, "a parent context cannot be changed");
            return Ok(Err(convert::fault(&fault)));
        }
        let value = match convert::from_parameter_value(value) {
            Ok(v) => v,
            Err(f) => return Ok(Err(convert::fault(&f))),
        };
        let bytes = i64::try_from(32 + name.len() + size::parameter(&value)).unwrap_or(i64::MAX);
        budget::add(bytes);
        if let Err(fault) = budget::check() {
            budget::add(-bytes);
            return Ok(Err(convert::fault(&fault)));
        }
        // A queued job of one of the plug-in's calls may hold the context as its parent: the change goes to a
        // copy then, and the job keeps what it saw.
        let parameters = pick(Arc::make_mut(&mut self.context));
        let replaced = parameters.get(&name).map_or(0, |old| 32 + name.len() + size::parameter(old));
        parameters.insert(name, value);
        let added = bytes - i64::try_from(replaced).unwrap_or(0);
        budget::add(added - bytes);
        self.context_bytes += added;
        Ok(Ok(()))
    }
}

fn images(images: &std::collections::BTreeMap<String, xrm_model::Entity>) -> Vec<EntityImage> {
    images.iter().map(|(alias, e)| EntityImage { alias: alias.clone(), entity: convert::entity(e) }).collect()
}

type Change = wasmtime::Result<Result<(), w::Fault>>;

impl<H: PluginHost> HostContext for StoreData<H> {
    fn info(&mut self, this: Resource<ContextHandle>) -> wasmtime::Result<ContextInfo> {
        let c = self.context_at(&this)?;
        Ok(ContextInfo {
            message_name: c.message_name.clone(),
            primary_entity_name: c.primary_entity_name.clone(),
            primary_entity_id: convert::guid(c.primary_entity_id),
            secondary_entity_name: c.secondary_entity_name.clone(),
            stage: c.stage,
            mode: c.mode,
            depth: c.depth,
            user_id: convert::guid(c.user_id),
            initiating_user_id: convert::guid(c.initiating_user_id),
            business_unit_id: convert::guid(c.business_unit_id),
            organization_id: convert::guid(c.organization_id),
            organization_name: c.organization_name.clone(),
            correlation_id: convert::guid(c.correlation_id),
            request_id: c.request_id.map(convert::guid),
            operation_id: convert::guid(c.operation_id),
            operation_created_on: convert::datetime(c.operation_created_on),
            is_in_transaction: c.is_in_transaction,
            is_executing_offline: ExecutionContext::IS_EXECUTING_OFFLINE,
            isolation_mode: ExecutionContext::ISOLATION_MODE,
            owning_extension: convert::reference(&c.owning_extension),
        })
    }

    fn parameters(
        &mut self,
        this: Resource<ContextHandle>,
        collection: ParameterCollection,
    ) -> wasmtime::Result<Vec<w::Parameter>> {
        let c = self.context_at(&this)?;
        Ok(convert::parameters(match collection {
            ParameterCollection::InputParameters => &c.input_parameters,
            ParameterCollection::OutputParameters => &c.output_parameters,
            ParameterCollection::SharedVariables => &c.shared_variables,
        }))
    }

    fn set_parameter(
        &mut self,
        this: Resource<ContextHandle>,
        collection: ParameterCollection,
        name: String,
        value: w::ParameterValue,
    ) -> Change {
        let pick: fn(&mut ExecutionContext) -> &mut Parameters = match collection {
            ParameterCollection::InputParameters => |c| &mut c.input_parameters,
            ParameterCollection::OutputParameters => |c| &mut c.output_parameters,
            ParameterCollection::SharedVariables if name == TAG => {
                let fault = Fault::new(
                    codes::INVALID_ARGUMENT,
                    "the shared variable `tag` is set by the request and cannot be changed",
                );
                return Ok(Err(convert::fault(&fault)));
            }
            ParameterCollection::SharedVariables => |c| &mut c.shared_variables,
        };
        self.change_parameter(&this, pick, name, value)
    }

    fn pre_entity_images(&mut self, this: Resource<ContextHandle>) -> wasmtime::Result<Vec<EntityImage>> {
        Ok(images(&self.context_at(&this)?.pre_entity_images))
    }

    fn post_entity_images(&mut self, this: Resource<ContextHandle>) -> wasmtime::Result<Vec<EntityImage>> {
        Ok(images(&self.context_at(&this)?.post_entity_images))
    }

    fn pre_entity_images_collection(
        &mut self,
        this: Resource<ContextHandle>,
    ) -> wasmtime::Result<Vec<Vec<EntityImage>>> {
        Ok(self.context_at(&this)?.pre_entity_images_collection.iter().map(images).collect())
    }

    fn post_entity_images_collection(
        &mut self,
        this: Resource<ContextHandle>,
    ) -> wasmtime::Result<Vec<Vec<EntityImage>>> {
        Ok(self.context_at(&this)?.post_entity_images_collection.iter().map(images).collect())
    }

    fn parent_context(&mut self, this: Resource<ContextHandle>) -> wasmtime::Result<Option<Resource<ContextHandle>>> {
        let level = self.table.get(&this)?.level + 1;
        if self.context.ancestor(level).is_none() {
            return Ok(None);
        }
        Ok(Some(self.table.push(ContextHandle { level })?))
    }

    fn identity(&mut self, this: Resource<ContextHandle>) -> wasmtime::Result<IdentityInfo> {
        let c = &self.context_at(&this)?.identity;
        Ok(IdentityInfo {
            user_azure_active_directory_object_id: convert::guid(c.user_aad_object_id),
            initiating_user_azure_active_directory_object_id: convert::guid(c.initiating_user_aad_object_id),
            initiating_user_application_id: convert::guid(c.initiating_user_application_id),
            is_application_user: c.is_application_user,
            authenticated_user_id: convert::guid(c.authenticated_user_id),
            is_portals_client_call: ExecutionContext::IS_PORTALS_CLIENT_CALL,
            portals_contact_id: convert::guid(ExecutionContext::PORTALS_CONTACT_ID),
            initiating_user_agent: c.initiating_user_agent.to_string(),
            environment_id: c.environment_id.to_string(),
            tenant_id: convert::guid(c.tenant_id),
        })
    }

    fn drop(&mut self, rep: Resource<ContextHandle>) -> wasmtime::Result<()> {
        self.table.delete(rep)?;
        Ok(())
    }
}

impl<H: PluginHost> Host for StoreData<H> {}
