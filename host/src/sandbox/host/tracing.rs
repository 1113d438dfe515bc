use crate::sandbox::bindings::xrm::plugin::tracing_service::Host;
use crate::sandbox::{PluginHost, StoreData};

/// Trace text kept per execution before older text is dropped; the trace log keeps the last 10 KB of it.
const TRACE_CAPACITY: usize = 1 << 20;

impl<H: PluginHost> Host for StoreData<H> {
    fn trace(&mut self, message: String) -> wasmtime::Result<()> {
        if self.trace.len() + message.len() + 1 > TRACE_CAPACITY {
            let keep_from = (self.trace.len() + message.len() + 1).saturating_sub(TRACE_CAPACITY);
            let cut = (keep_from..=self.trace.len()).find(|&i| self.trace.is_char_boundary(i)).unwrap_or(0);
            self.trace.drain(..cut);
        }
        self.trace.push_str(&message);
        self.trace.push('\n');
        Ok(())
    }
}
