//! The probe: a plug-in whose behaviour comes entirely from its unsecure configuration, `{"ops": [op, …]}`, so
//! that a suite can exercise every rule of the pipeline without writing a new plug-in (`formats.md`, "The
//! probe plug-in").
//!
//! The configuration is checked when the plug-in is built (every op known, no unknown keys); each op's
//! placeholders are filled in just before it runs, so an op can use what earlier ops saved.

mod ops;
mod placeholders;
mod rows;

use xrm_sandbox_guest::{Plugin, PluginContext, PluginError, StepConfiguration};

struct Probe {
    ops: Vec<ops::Op>,
}

impl Plugin for Probe {
    fn new(configuration: &StepConfiguration) -> Result<Self, PluginError> {
        Ok(Probe { ops: ops::parse_configuration(configuration.unsecure())? })
    }

    fn execute(&self, context: &PluginContext) -> Result<(), PluginError> {
        ops::Runner::new(context).run_all(&self.ops)
    }
}

xrm_sandbox_guest::export_plugin!(Probe);
