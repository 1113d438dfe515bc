//! What the crate's macros expand to; not part of the API.

use crate::bindings::exports::xrm::plugin::plugin as wit;
use crate::context::PluginContext;
use crate::error::to_wit_error;
use crate::plugin::{Plugin, StepConfiguration};
use crate::tracing::TracingService;

/// One execution: build the plug-in from its configuration, then run it.
pub fn execute<P: Plugin>(
    context: &wit::Context,
    configuration: wit::StepConfiguration,
) -> Result<(), wit::PluginError> {
    let configuration = StepConfiguration { unsecure: configuration.unsecure, secure: configuration.secure };
    let plugin = P::new(&configuration).map_err(to_wit_error)?;
    let context = PluginContext::borrowed(context, configuration);
    plugin.execute(&context).map_err(to_wit_error)
}

/// The body of `trace!`.
pub fn trace(message: &str) {
    TracingService::new().trace(message);
}
