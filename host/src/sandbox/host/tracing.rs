use std::time::Instant;

use super::TimeLimit;
use crate::sandbox::bindings::xrm::plugin::tracing_service::Host;
use crate::sandbox::{PluginHost, StoreData};

impl<H: PluginHost> Host for StoreData<H> {
    /// Keeps the line in the execution's bounded trace: only the last part of a long trace survives (PIPE-13),
    /// and the host's memory does not grow with it. A line written past the deadline ends the execution: the
    /// epoch trails the clock by up to a tick, and nothing a plug-in does after its time is up may show.
    fn trace(&mut self, message: String) -> wasmtime::Result<()> {
        if Instant::now() > self.deadline {
            return Err(TimeLimit.into());
        }
        self.trace.push(message.as_bytes());
        self.trace.push(b"\n");
        Ok(())
    }
}
