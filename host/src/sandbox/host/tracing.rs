use crate::sandbox::bindings::xrm::plugin::tracing_service::Host;
use crate::sandbox::{PluginHost, StoreData};

impl<H: PluginHost> Host for StoreData<H> {
    /// Keeps the line in the execution's bounded trace: only the last part of a long trace survives (PIPE-13),
    /// and the host's memory does not grow with it.
    fn trace(&mut self, message: String) -> wasmtime::Result<()> {
        self.trace.push(message.as_bytes());
        self.trace.push(b"\n");
        Ok(())
    }
}
