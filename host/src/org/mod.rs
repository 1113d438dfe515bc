//! The organization: business units, users, teams, roles, tables and the data a case starts from (ORG-1..4).

pub mod activities;
mod checks;
pub mod currency;
mod environment;
mod file;
pub mod metadata;
mod names;
mod platform;
mod security_rows;
mod states;
mod table_file;
pub mod tables;
pub mod values;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use xrm_model::Uuid;

use crate::input::FileErrors;
use crate::store::Store;
pub use file::generated_id;
pub(crate) use file::{OrgFile, PLAIN_PRIVILEGES};
pub use metadata::{AlternateKey, ColumnMeta, Options, RequiredLevel, StateOption, StatusOption};
pub use tables::{ColumnType, Ownership, Table};

/// The organization's `pluginTraceLogSetting` (PIPE-13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
pub enum TraceLogSetting {
    /// No trace log records.
    Off,
    /// A record only for executions that fail.
    Exception,
    /// A record for every execution.
    All,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub max_depth: i32,
    pub trace_log: TraceLogSetting,
    pub timeout: Duration,
    pub memory_limit_bytes: usize,
    /// `EnvironmentId` of every context (IMP-11); empty by default.
    pub environment_id: std::sync::Arc<str>,
    /// `TenantId` of every context (IMP-11); the nil GUID by default.
    pub tenant_id: Uuid,
    /// Where every case's clock starts (QRY-2); `None`: the system clock.
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    /// The users' time zone, where days begin for date operators (QRY-2).
    pub time_zone: chrono::FixedOffset,
    /// What one case may keep (records, traces, queued jobs, contexts), in bytes (BOX-5).
    pub case_memory_bytes: usize,
    /// The most asynchronous jobs one `runasync` runs (BOX-5).
    pub max_async_jobs: usize,
    /// The most rows a FetchXML aggregate query reads (QRY-6).
    pub aggregate_query_record_limit: usize,
}

/// The most rows a FetchXML aggregate query reads unless the organization says otherwise: the platform's.
pub const DEFAULT_AGGREGATE_QUERY_RECORD_LIMIT: usize = 50_000;

/// The most asynchronous jobs one `runasync` runs unless the organization says otherwise (BOX-5).
pub const DEFAULT_MAX_ASYNC_JOBS: usize = 10_000;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_depth: 8,
            trace_log: TraceLogSetting::All,
            timeout: Duration::from_secs(120),
            memory_limit_bytes: 256 << 20,
            environment_id: "".into(),
            tenant_id: Uuid::nil(),
            now: None,
            time_zone: chrono::Offset::fix(&chrono::Utc),
            case_memory_bytes: crate::budget::DEFAULT_CASE_MEMORY,
            max_async_jobs: DEFAULT_MAX_ASYNC_JOBS,
            aggregate_query_record_limit: DEFAULT_AGGREGATE_QUERY_RECORD_LIMIT,
        }
    }
}

#[derive(Debug, Clone)]
pub struct BusinessUnit {
    pub id: Uuid,
    pub name: String,
    pub parent: Option<Uuid>,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub fullname: String,
    pub domainname: String,
    pub business_unit: Uuid,
    pub roles: Vec<Uuid>,
    pub aad_object_id: Option<Uuid>,
    pub application_id: Option<Uuid>,
    pub is_disabled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamType {
    Owner,
    Access,
}

#[derive(Debug, Clone)]
pub struct Team {
    pub id: Uuid,
    pub name: String,
    pub business_unit: Uuid,
    pub team_type: TeamType,
    pub roles: Vec<Uuid>,
    pub members: Vec<Uuid>,
}

/// Privilege depth, shallowest first (SEC-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Depth {
    Basic,
    Local,
    Deep,
    Global,
}

#[derive(Debug, Clone)]
pub struct Role {
    pub id: Uuid,
    pub name: String,
    pub privileges: BTreeMap<String, Depth>,
}

/// A many-to-many relationship: Associate and Disassociate write rows of its intersect table.
#[derive(Debug, Clone)]
pub struct Relationship {
    pub schema_name: String,
    pub entity1: String,
    pub entity2: String,
    /// The intersect table's logical name (the schema name in lower case).
    pub intersect: String,
    /// The intersect columns holding each side's id.
    pub entity1_column: String,
    pub entity2_column: String,
}

/// The type of a custom API's request or response parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterType {
    String,
    Integer,
    Boolean,
    Float,
    Decimal,
    Money,
    DateTime,
    Guid,
    Picklist,
    EntityReference,
    Entity,
    EntityCollection,
}

impl ParameterType {
    pub const NAMES: &'static str = "String, Integer, Boolean, Float, Decimal, Money, DateTime, Guid, Picklist, EntityReference, Entity or EntityCollection";

    pub fn parse(name: &str) -> Option<Self> {
        use ParameterType::*;
        Some(match name {
            "String" => String,
            "Integer" => Integer,
            "Boolean" => Boolean,
            "Float" | "Double" => Float,
            "Decimal" => Decimal,
            "Money" => Money,
            "DateTime" => DateTime,
            "Guid" => Guid,
            "Picklist" => Picklist,
            "EntityReference" => EntityReference,
            "Entity" => Entity,
            "EntityCollection" => EntityCollection,
            _ => return None,
        })
    }

    /// Whether `value` is of this type.
    pub fn accepts(self, value: &xrm_model::ParameterValue) -> bool {
        use xrm_model::{ParameterValue as P, Value as V};
        matches!(
            (self, value),
            (ParameterType::String, P::Value(V::Text(_)))
                | (ParameterType::Integer, P::Value(V::Integer(_)))
                | (ParameterType::Boolean, P::Value(V::Boolean(_)))
                | (ParameterType::Float, P::Value(V::Double(_) | V::Integer(_)))
                | (ParameterType::Decimal, P::Value(V::Decimal(_)))
                | (ParameterType::Money, P::Value(V::Money(_)))
                | (ParameterType::DateTime, P::Value(V::DateTime(_)))
                | (ParameterType::Guid, P::Value(V::Guid(_)))
                | (ParameterType::Picklist, P::Value(V::Choice(_)))
                | (ParameterType::EntityReference, P::Value(V::Lookup(_)))
                | (ParameterType::Entity, P::Entity(_))
                | (ParameterType::EntityCollection, P::EntityCollection(_))
        )
    }
}

#[derive(Debug, Clone)]
pub struct ApiParameter {
    pub name: String,
    pub kind: ParameterType,
    pub optional: bool,
}

/// A custom message (custom API), implemented by the plug-in registered at stage 30 (PIPE-1, PIPE-2).
#[derive(Debug, Clone)]
pub struct CustomApi {
    pub unique_name: String,
    /// The table the message is bound to: its requests carry a `Target` of that table.
    pub bound_entity: Option<String>,
    pub request: Vec<ApiParameter>,
    pub response: Vec<ApiParameter>,
}

/// An organization as loaded: immutable, shared by every case run against it.
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub settings: Settings,
    /// The built-in SYSTEM user (ORG-2).
    pub system_user: Uuid,
    pub root_business_unit: Uuid,
    /// The organization's base currency (CUR-1).
    pub base_currency: Uuid,
    pub business_units: HashMap<Uuid, BusinessUnit>,
    pub users: HashMap<Uuid, User>,
    pub teams: HashMap<Uuid, Team>,
    pub roles: HashMap<Uuid, Role>,
    /// Every alias of the file (without `@`), and `system`.
    pub aliases: HashMap<String, Uuid>,
    pub tables: HashMap<String, Table>,
    /// Global choices by name (META-1).
    pub option_sets: BTreeMap<String, metadata::GlobalChoice>,
    /// Custom messages by unique name.
    pub custom_apis: HashMap<String, CustomApi>,
    /// Many-to-many relationships by schema name: built in, and the file's.
    pub relationships: HashMap<String, Relationship>,
    /// The records every case starts from.
    pub data: Store,
}

impl Organization {
    /// Loads an organization file (`formats.md`, "Organization").
    pub fn load(path: &Path) -> Result<Organization, FileErrors> {
        file::load(path)
    }

    /// Loads an organization from JSON already read from `path`.
    pub fn from_json(path: &Path, json: serde_json::Value) -> Result<Organization, FileErrors> {
        file::build(path, json)
    }

    pub fn table(&self, logical_name: &str) -> Option<&Table> {
        self.tables.get(logical_name)
    }

    /// The table, or the platform's fault for a table the organization does not have.
    pub fn require_table(&self, logical_name: &str) -> Result<&Table, xrm_model::Fault> {
        self.table(logical_name).ok_or_else(|| {
            xrm_model::Fault::new(
                xrm_model::codes::INVALID_ARGUMENT,
                format!("The entity with a name = '{logical_name}' was not found in the MetadataCache."),
            )
        })
    }

    pub fn user(&self, id: Uuid) -> Option<&User> {
        self.users.get(&id)
    }

    pub fn alias(&self, name: &str) -> Option<Uuid> {
        self.aliases.get(name).copied()
    }

    /// The alias a GUID has in this organization, for messages and reports.
    pub fn alias_of(&self, id: Uuid) -> Option<&str> {
        self.aliases.iter().find(|(_, v)| **v == id).map(|(k, _)| k.as_str())
    }

    /// Whether business unit `bu` is `ancestor` or lies below it.
    pub fn is_within(&self, bu: Uuid, ancestor: Uuid) -> bool {
        let mut current = Some(bu);
        // INVARIANT: the tree has one root and no cycles (checked at load), so the walk ends.
        for _ in 0..=self.business_units.len() {
            match current {
                Some(id) if id == ancestor => return true,
                Some(id) => current = self.business_units.get(&id).and_then(|b| b.parent),
                None => return false,
            }
        }
        false
    }

    /// The stable id of a privilege within this organization (the platform's `privilegeid`).
    pub fn privilege_id(&self, name: &str) -> Uuid {
        Uuid::new_v5(&self.id, name.as_bytes())
    }

    /// The business unit of a user; SYSTEM's is the root (ORG-2).
    pub fn business_unit_of(&self, user: Uuid) -> Uuid {
        self.users.get(&user).map_or(self.root_business_unit, |u| u.business_unit)
    }
}

#[cfg(test)]
mod tests;
