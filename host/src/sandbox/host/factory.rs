use wasmtime::component::Resource;

use super::ServiceHandle;
use crate::sandbox::bindings::xrm::plugin::organization_service_factory::Host;
use crate::sandbox::bindings::xrm::plugin::types::Guid;
use crate::sandbox::{PluginHost, StoreData, convert};

impl<H: PluginHost> Host for StoreData<H> {
    fn create_organization_service(&mut self, user_id: Option<Guid>) -> wasmtime::Result<Resource<ServiceHandle>> {
        Ok(self.table.push(ServiceHandle { user: user_id.map(convert::uuid) })?)
    }
}
