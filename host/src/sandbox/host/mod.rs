//! The host side of each imported interface, one file each; each function hands its work to the store's
//! context or to the [`PluginHost`](super::PluginHost).

mod context;
mod factory;
pub mod http;
mod service;
mod tracing;

use xrm_model::Uuid;

/// A `context` resource: the running step's context (level 0) or an ancestor, `level` steps up.
pub struct ContextHandle {
    level: usize,
}

impl ContextHandle {
    pub fn current() -> Self {
        ContextHandle { level: 0 }
    }
}

/// An `organization-service` resource: the factory argument it was created with.
pub struct ServiceHandle {
    user: Option<Uuid>,
}

/// The trap raised by a service call made after the step's time limit.
#[derive(Debug, thiserror::Error)]
#[error("the plug-in execution exceeded the time limit")]
pub struct TimeLimit;

impl<H: super::PluginHost> super::bindings::xrm::plugin::types::Host for super::StoreData<H> {}
