//! Write Dataverse / Dynamics 365 plug-ins in Rust, compiled to WebAssembly components that the xrm-sandbox
//! host runs in a local event pipeline.
//!
//! A plug-in is a type implementing [`Plugin`], exported with [`export_plugin!`] (or several types from one
//! component with [`export_plugins!`], each step running the type its registration names), in a `cdylib` crate
//! built for `wasm32-wasip2`. The API mirrors the platform's: [`PluginContext`] is `IPluginExecutionContext`,
//! [`ServiceFactory`] and [`OrganizationService`] are `IOrganizationServiceFactory` and
//! `IOrganizationService`, [`TracingService`] is `ITracingService`, and [`PluginError`] is
//! `InvalidPluginExecutionException` or a service call's [`Fault`]. Records, values and requests are the
//! [`xrm_model`] types, re-exported here.
//!
//! ```no_run
//! use xrm_sandbox_guest::{Entity, Plugin, PluginContext, PluginError, StepConfiguration, trace};
//!
//! /// Creates a follow-up task for every new account.
//! struct FollowUp;
//!
//! impl Plugin for FollowUp {
//!     fn new(_configuration: &StepConfiguration) -> Result<Self, PluginError> {
//!         Ok(FollowUp)
//!     }
//!
//!     fn execute(&self, context: &PluginContext) -> Result<(), PluginError> {
//!         let service = context.service_factory().create_organization_service(Some(context.user_id()));
//!         let mut task = Entity::new("task");
//!         task.set("subject", "Call the new account");
//!         let id = service.create(&task)?; // a failed call fails the plug-in with the call's own fault
//!         trace!("created task {id}");
//!         Ok(())
//!     }
//! }
//!
//! xrm_sandbox_guest::export_plugin!(FollowUp);
//! ```
//!
//! Off `wasm32`, the host imports compile to stubs that panic when called, so plug-in code type-checks and its
//! pure parts can be unit-tested natively.

#![deny(missing_docs)]

pub mod bindings;
mod bulk;
mod context;
mod convert;
mod environment;
mod error;
mod getters;
pub mod http;
mod identity;
mod plugin;
mod service;
mod tracing;

#[doc(hidden)]
pub mod __private;

/// Dates and times: `DateTime<Utc>` is what date and time columns hold, `Duration` what you add to one.
pub use chrono::{self, DateTime, Duration, TimeDelta, Utc};
pub use xrm_model::{
    self as model, ColumnSet, ConditionExpression, ConditionOperator, Entity, EntityCollection, EntityReference,
    ExecuteMultipleResponseItem, ExecuteMultipleSettings, Fault, FilterExpression, JoinOperator, KeyAttributes,
    LinkEntity, LogicalOperator, OrderExpression, PagingInfo, ParameterValue, Parameters, PrincipalAccess, Query,
    QueryByAttribute, QueryExpression, Request, Response, Uuid, Value, access_rights, codes, json, messages,
};

pub use context::{ContextInfo, PluginContext, mode, stage};
pub use environment::EnvironmentVariableService;
pub use error::{OperationStatus, PluginError};
pub use getters::GetAttributeValue;
pub use identity::IdentityInfo;
pub use plugin::{Plugin, StepConfiguration};
pub use service::{OrganizationService, ServiceFactory};
pub use tracing::TracingService;
