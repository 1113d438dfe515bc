//! The data model that crosses between the xrm-sandbox host and plug-ins: attribute values, entities, queries,
//! requests, responses and faults, plus their JSON form (`formats.md`, "Values").
//!
//! Both sides use these types: the host for its store and pipeline, the guest SDK as the API plug-in authors
//! see. Each side converts them to and from its WIT bindings at the boundary.

mod fault;
pub mod json;
pub mod metadata;
mod query;
mod request;
pub mod suggest;
mod value;

pub use fault::{Fault, codes};
pub use metadata::{
    AttributeMetadata, EntityKeyMetadata, EntityMetadata, Metadata, OptionMetadata, OptionSetMetadata, entity_filters,
};
pub use query::{
    ColumnSet, ConditionExpression, ConditionOperator, FilterExpression, JoinOperator, LinkEntity, LogicalOperator,
    OrderExpression, PagingInfo, Query, QueryByAttribute, QueryExpression,
};
pub use request::{
    EntityCollection, ExecuteMultipleResponseItem, ExecuteMultipleSettings, ParameterValue, Parameters,
    PrincipalAccess, Request, Response, access_rights, messages,
};
pub use uuid::Uuid;
pub use value::{AliasedValue, Entity, EntityReference, KeyAttributes, Value};
