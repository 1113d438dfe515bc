//! Reading the organization file: strict serde for its shape, then ids, aliases and references resolved in
//! two passes (every alias is known before any reference is read), then records checked against the tables.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use chrono::{Offset, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use serde_json::Value as Json;
use xrm_model::json::{Path as JsonPath, Reader};
use xrm_model::{Entity, EntityReference, Uuid, Value};

use super::currency::{self, CurrencyFile};
use super::environment::{self, EnvironmentVariableFile};
use super::table_file::{self, OptionSetFile, TableFile};
use super::tables::{self, ColumnType, Ownership, Table};
use super::values::{self, AliasLookups};
use super::{BusinessUnit, Depth, Organization, Role, Settings, Team, TeamType, TraceLogSetting, User, checks};
use crate::input::{self, FileError, FileErrors};
use crate::store::Store;

/// Privileges that are not about a table.
pub(crate) const PLAIN_PRIVILEGES: &[&str] = &[
    "prvActOnBehalfOfAnotherUser",
    "prvBulkDelete",
    "prvExportToExcel",
    "prvMerge",
    "prvPublishCustomization",
    "prvReadPluginTraceLog",
    "prvSyncToOutlook",
];

/// The access rights a table privilege is named after (SEC-1), AppendTo before Append.
const ACCESS_RIGHTS: [&str; 8] = ["Create", "Read", "Write", "Delete", "AppendTo", "Append", "Assign", "Share"];

/// The namespace of ids generated from aliases, so the same file always gives the same ids.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_0c2e_5d3b_4e8f_9a7c_1b2d_3e4f_5a6b);

/// The id of an organization object generated from its kind and alias.
pub fn generated_id(kind: &str, alias: &str) -> Uuid {
    Uuid::new_v5(&ID_NAMESPACE, format!("{kind}:{alias}").as_bytes())
}

/// An organization: who exists, what they may do, and the data every case starts from. `@alias` may stand
/// for the GUID of any business unit, role, user, team or record it names.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Organization", title = "xrm-sandbox organization")]
pub(crate) struct OrgFile {
    /// The JSON Schema of this file, for editors (such as `./schemas/org.schema.json`); the sandbox ignores it.
    #[serde(rename = "$schema", default)]
    _schema: Option<String>,
    /// The organization's name.
    name: String,
    /// The organization's id (default: generated from the name).
    #[serde(default)]
    organizationid: Option<Uuid>,
    /// Pipeline settings: depth limit, trace log, time and memory limits.
    #[serde(default)]
    settings: SettingsFile,
    /// The business units: exactly one, the root, has no `parent`.
    businessunits: Vec<BusinessUnitFile>,
    /// Security roles and their privileges.
    #[serde(default)]
    roles: Vec<RoleFile>,
    /// The users who may call, be impersonated or own records.
    users: Vec<UserFile>,
    /// Owner and access teams.
    #[serde(default)]
    teams: Vec<TeamFile>,
    /// Custom tables, and columns added to built-in tables.
    #[serde(default)]
    tables: Vec<TableFile>,
    /// Global choices, which choice columns of any table can take their options from (`optionset`).
    #[serde(default)]
    optionsets: Vec<OptionSetFile>,
    /// Many-to-many relationships beyond the built-in ones, for Associate and Disassociate.
    #[serde(default)]
    relationships: Vec<RelationshipFile>,
    /// Custom APIs (custom messages) that plug-ins may implement at stage 30.
    #[serde(default)]
    customapis: Vec<CustomApiFile>,
    /// Records every case starts with, each checked against its table.
    #[serde(default)]
    #[schemars(with = "Vec<crate::schema::RecordForm>")]
    records: Vec<Json>,
    /// Transaction currencies; one is the base currency (default: US Dollar alone).
    #[serde(default)]
    currencies: Vec<CurrencyFile>,
    /// Environment variables, as a solution brings their definitions and values.
    #[serde(default)]
    environmentvariables: Vec<EnvironmentVariableFile>,
}

/// The organization's pipeline settings.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Settings")]
struct SettingsFile {
    /// How deep plug-ins may call into the pipeline before a request fails with 0x80044182.
    #[serde(default = "default_depth")]
    #[schemars(range(min = 1, max = 50))]
    max_depth: i32,
    /// Which executions write a `plugintracelog` record.
    #[serde(default = "default_trace")]
    plugin_trace_log_setting: TraceLogSetting,
    /// How long one plug-in execution may run.
    #[serde(default = "default_timeout")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    timeout_seconds: f64,
    /// How much memory one plug-in execution may use, in MiB.
    #[serde(default = "default_memory")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    memory_limit_mb: f64,
    /// The environment id plug-ins read as `EnvironmentId` (default: empty).
    #[serde(default, rename = "environmentid")]
    environment_id: String,
    /// The Microsoft Entra tenant id plug-ins read as `TenantId` (default: the empty GUID).
    #[serde(default, rename = "tenantid")]
    tenant_id: Uuid,
    /// What "now" is when a case starts (RFC 3339, such as `2026-12-01T09:00:00Z`): the clock of every case
    /// stands there until a suite moves it. Without it, cases run on the system clock.
    #[serde(default)]
    now: Option<String>,
    /// The users' time zone, as an offset from UTC (`+02:00`, `-05:30`, `Z`): where days begin for the date
    /// operators of queries. UTC when absent.
    #[serde(default)]
    time_zone: Option<String>,
    /// How much one case may keep, in MiB: the records it writes, its trace records and log, its queued
    /// asynchronous jobs and the contexts they hold, what its plug-ins put into their contexts. Past it, the
    /// request or execution fails with 0x8004418d naming this setting (default 512).
    #[serde(default = "default_case_memory")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    case_memory_mb: f64,
    /// The most asynchronous jobs one `runasync` runs, the jobs they queue included; past it, `runasync` fails
    /// with 0x80044182 and the jobs left are dropped (default 10,000).
    #[serde(default = "default_max_async_jobs")]
    #[schemars(range(min = 1))]
    max_async_jobs: u64,
    /// The most rows a FetchXML aggregate query may read (QRY-6); past it, the query fails with 0x8004E023
    /// `AggregateQueryRecordLimit exceeded` (default 50,000, the platform's).
    #[serde(default = "default_aggregate_limit")]
    #[schemars(range(min = 1))]
    aggregate_query_record_limit: u64,
}

fn default_depth() -> i32 {
    8
}
fn default_trace() -> TraceLogSetting {
    TraceLogSetting::All
}
fn default_timeout() -> f64 {
    120.0
}
fn default_memory() -> f64 {
    256.0
}
fn default_case_memory() -> f64 {
    (crate::budget::DEFAULT_CASE_MEMORY >> 20) as f64
}
fn default_aggregate_limit() -> u64 {
    super::DEFAULT_AGGREGATE_QUERY_RECORD_LIMIT as u64
}
fn default_max_async_jobs() -> u64 {
    super::DEFAULT_MAX_ASYNC_JOBS as u64
}

impl Default for SettingsFile {
    fn default() -> Self {
        SettingsFile {
            max_depth: default_depth(),
            plugin_trace_log_setting: default_trace(),
            timeout_seconds: default_timeout(),
            memory_limit_mb: default_memory(),
            environment_id: String::new(),
            tenant_id: Uuid::nil(),
            now: None,
            time_zone: None,
            case_memory_mb: default_case_memory(),
            max_async_jobs: default_max_async_jobs(),
            aggregate_query_record_limit: default_aggregate_limit(),
        }
    }
}

/// A business unit.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "BusinessUnit")]
struct BusinessUnitFile {
    /// The name other entries use for it: `"sales"` is referred to as `"@sales"`.
    #[serde(rename = "@alias")]
    alias: String,
    /// The business unit's name.
    name: String,
    /// The parent business unit (`@alias` or GUID); absent for the root.
    #[serde(default)]
    parent: Option<String>,
    /// Its id (default: generated from the alias).
    #[serde(default)]
    businessunitid: Option<Uuid>,
}

/// A security role.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Role")]
struct RoleFile {
    /// The name other entries use for it: `"salesperson"` is referred to as `"@salesperson"`.
    #[serde(rename = "@alias")]
    alias: String,
    /// The role's name.
    name: String,
    /// Its id (default: generated from the alias).
    #[serde(default)]
    roleid: Option<Uuid>,
    /// Privileges and their depth, such as `"prvCreateAccount": "Basic"`: `prv<Access><table schema name>`,
    /// where the access is Create, Read, Write, Delete, Append, AppendTo, Assign or Share, or a privilege that
    /// is not about a table, such as `prvActOnBehalfOfAnotherUser`.
    #[serde(default)]
    privileges: BTreeMap<String, Depth>,
}

/// A user (`systemuser`).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "User")]
struct UserFile {
    /// A note for whoever edits the file (such as the import's placeholders to fill in); the sandbox ignores it.
    #[serde(rename = "$comment", default)]
    _comment: Option<String>,
    /// The name suites and other entries use for the user: `"alice"` is referred to as `"@alice"`.
    #[serde(rename = "@alias")]
    alias: String,
    /// Its id (default: generated from the alias).
    #[serde(default)]
    systemuserid: Option<Uuid>,
    /// The user's name (default: the alias).
    #[serde(default)]
    fullname: Option<String>,
    /// The sign-in name (default: `<alias>@<organization>.example`).
    #[serde(default)]
    domainname: Option<String>,
    /// The user's business unit (`@alias` or GUID).
    businessunit: String,
    /// The user's security roles (`@alias` or GUID each).
    #[serde(default)]
    roles: Vec<String>,
    /// The user's Microsoft Entra object id, which `callerobjectid` names.
    #[serde(default)]
    azureactivedirectoryobjectid: Option<Uuid>,
    /// For an application user: the application's id.
    #[serde(default)]
    applicationid: Option<Uuid>,
    /// A disabled user can neither call nor be impersonated (0x80040225).
    #[serde(default)]
    isdisabled: bool,
}

/// A team.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Team")]
struct TeamFile {
    /// The name other entries use for it: `"salesteam"` is referred to as `"@salesteam"`.
    #[serde(rename = "@alias")]
    alias: String,
    /// The team's name.
    name: String,
    /// Its id (default: generated from the alias).
    #[serde(default)]
    teamid: Option<Uuid>,
    /// The team's business unit (`@alias` or GUID).
    businessunit: String,
    /// `Owner` (the default) or `Access`.
    #[serde(default = "owner_team")]
    teamtype: TeamTypeFile,
    /// Security roles the members get through the team (`@alias` or GUID each); an access team holds none.
    #[serde(default)]
    roles: Vec<String>,
    /// The members: users (`@alias` or GUID each).
    #[serde(default)]
    members: Vec<String>,
}

/// The kind of team.
#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[schemars(rename = "TeamType")]
enum TeamTypeFile {
    /// A team that holds security roles and may own records.
    Owner,
    /// A team that records are shared with; it holds no security roles.
    Access,
}

fn owner_team() -> TeamTypeFile {
    TeamTypeFile::Owner
}

/// The depths `Depth`'s hand-written `Deserialize` accepts, with the platform's long names as synonyms.
impl JsonSchema for Depth {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Depth".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        crate::schema::object(serde_json::json!({
            "description": "A privilege's depth: Basic (the user's own records), Local (the business unit's), Deep \
                (the business unit's and its children's) or Global (the organization's); or the platform's names \
                User, BusinessUnit, ParentChildBusinessUnit, Organization.",
            "enum": ["Basic", "Local", "Deep", "Global", "User", "BusinessUnit", "ParentChildBusinessUnit", "Organization"],
        }))
    }
}

impl<'de> Deserialize<'de> for Depth {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(match text.as_str() {
            "Basic" | "User" => Depth::Basic,
            "Local" | "BusinessUnit" => Depth::Local,
            "Deep" | "ParentChildBusinessUnit" => Depth::Deep,
            "Global" | "Organization" => Depth::Global,
            other => {
                return Err(serde::de::Error::custom(format!(
                    "unknown privilege depth `{other}` (expected Basic, Local, Deep or Global)"
                )));
            }
        })
    }
}

/// A custom API: a message of its own that a plug-in implements at stage 30.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CustomApi")]
struct CustomApiFile {
    /// The message's name, which requests and steps use.
    uniquename: String,
    /// The table the message is bound to; absent or null for an unbound message.
    #[serde(default)]
    boundentity: Option<String>,
    /// The request parameters and their types.
    #[serde(default)]
    request: BTreeMap<String, ApiParameterFile>,
    /// The response parameters and their types.
    #[serde(default)]
    response: BTreeMap<String, ApiParameterFile>,
}

/// `"Money"`, or `{"type": "Money", "optional": true}`.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "ApiParameter")]
enum ApiParameterFile {
    /// A required parameter's type: String, Integer, Boolean, Float, Decimal, Money, DateTime, Guid, Picklist,
    /// EntityReference, Entity or EntityCollection.
    Type(String),
    /// A parameter's type, and whether it may be left out.
    Full {
        /// The parameter's type, as for the short form.
        #[serde(rename = "type")]
        kind: String,
        /// Whether the parameter may be left out.
        #[serde(default)]
        optional: bool,
    },
}

/// A many-to-many relationship.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Relationship")]
struct RelationshipFile {
    /// The relationship's schema name, which Associate and Disassociate name.
    schemaname: String,
    /// One table's logical name.
    entity1: String,
    /// The other table's logical name.
    entity2: String,
}

/// Many-to-many relationships every organization has.
const STANDARD_RELATIONSHIPS: &[(&str, &str, &str)] = &[
    ("accountleads_association", "account", "lead"),
    ("contactleads_association", "contact", "lead"),
    ("opportunitycompetitors_association", "opportunity", "account"),
    // SEC-10: the security relationships, whose intersects are the platform's security tables.
    ("systemuserroles_association", "systemuser", "role"),
    ("teamroles_association", "team", "role"),
    ("teammembership_association", "systemuser", "team"),
];

/// The intersect table of a built-in relationship when it is not the relationship's name in lower case.
pub(crate) const SECURITY_INTERSECTS: &[(&str, &str)] = &[
    ("systemuserroles_association", "systemuserroles"),
    ("teamroles_association", "teamroles"),
    ("teammembership_association", "teammembership"),
];

pub fn load(path: &Path) -> Result<Organization, FileErrors> {
    let json: Json = input::read_json(path)?;
    build(path, json)
}

/// The principals and tables first (everything else refers to them), then every check that can go on past
/// an error, so that one load reports all of them.
pub fn build(path: &Path, json: Json) -> Result<Organization, FileErrors> {
    let file: OrgFile = input::from_value(path, "", json)?;
    let mut b = Builder::new(path, &file)?;
    b.business_units(&file.businessunits)?;
    b.roles(&file.roles);
    b.users(&file.users)?;
    b.teams(&file.teams)?;
    b.org.option_sets = table_file::global_choices(path, &file.optionsets)?;
    b.tables(&file.tables)?;
    b.currencies(&file.currencies)?;
    b.environment_variables(&file.environmentvariables)?;
    let mut errors = FileErrors::default();
    errors.take(b.check_privileges(&file.roles));
    errors.take(b.relationships(&file.relationships));
    errors.take(b.records(&file.records));
    errors.take(b.custom_apis(&file.customapis));
    errors.or(b.finish())
}

struct Builder<'f> {
    path: &'f Path,
    org: Organization,
    /// Where each id of each table is defined, so a second definition is refused naming the first.
    ids: checks::Ids,
}

/// Claims the id of every principal the file defines, and SYSTEM's: a second definition of one is refused.
fn claim_ids(path: &Path, file: &OrgFile, system_user: Uuid) -> Result<checks::Ids, FileError> {
    let mut ids = checks::Ids::default();
    ids.claim(path, "systemuser", system_user, checks::SYSTEM.into())?;
    let at = |list: &str, i: usize, key: &str, given: bool| match given {
        true => format!("{list}[{i}].{key}"),
        false => format!("{list}[{i}].@alias"),
    };
    for (i, bu) in file.businessunits.iter().enumerate() {
        let id = bu.businessunitid.unwrap_or_else(|| generated_id("businessunit", &bu.alias));
        ids.claim(path, "businessunit", id, at("businessunits", i, "businessunitid", bu.businessunitid.is_some()))?;
    }
    for (i, r) in file.roles.iter().enumerate() {
        let id = r.roleid.unwrap_or_else(|| generated_id("role", &r.alias));
        ids.claim(path, "role", id, at("roles", i, "roleid", r.roleid.is_some()))?;
    }
    for (i, u) in file.users.iter().enumerate() {
        let id = u.systemuserid.unwrap_or_else(|| generated_id("systemuser", &u.alias));
        ids.claim(path, "systemuser", id, at("users", i, "systemuserid", u.systemuserid.is_some()))?;
    }
    for (i, t) in file.teams.iter().enumerate() {
        let id = t.teamid.unwrap_or_else(|| generated_id("team", &t.alias));
        ids.claim(path, "team", id, at("teams", i, "teamid", t.teamid.is_some()))?;
    }
    Ok(ids)
}

impl<'f> Builder<'f> {
    /// First pass: every alias and its id, so references may point forwards.
    fn new(path: &'f Path, file: &OrgFile) -> Result<Self, FileError> {
        let s = &file.settings;
        // Nested plug-ins share the case thread's stack, which is sized for 50 levels.
        if !(1..=50).contains(&s.max_depth) {
            return Err(FileError::new(path, "settings.maxDepth", "maxDepth must be between 1 and 50"));
        }
        if s.timeout_seconds <= 0.0 || s.memory_limit_mb <= 0.0 {
            return Err(FileError::new(path, "settings", "timeoutSeconds and memoryLimitMb must be positive"));
        }
        if s.case_memory_mb.is_nan() || s.case_memory_mb <= 0.0 {
            return Err(FileError::new(path, "settings.caseMemoryMb", "caseMemoryMb must be positive"));
        }
        if s.aggregate_query_record_limit == 0 {
            return Err(FileError::new(
                path,
                "settings.aggregateQueryRecordLimit",
                "aggregateQueryRecordLimit must be at least 1",
            ));
        }
        if s.max_async_jobs == 0 {
            return Err(FileError::new(path, "settings.maxAsyncJobs", "maxAsyncJobs must be at least 1"));
        }
        // `from_secs_f64` panics past `Duration::MAX` (about 5.8e11 years): a file's number must not.
        let timeout = Duration::try_from_secs_f64(s.timeout_seconds).map_err(|_| {
            FileError::new(path, "settings.timeoutSeconds", "timeoutSeconds is too large to be a duration")
        })?;
        let settings = Settings {
            max_depth: s.max_depth,
            trace_log: s.plugin_trace_log_setting,
            timeout,
            // INVARIANT: memory_limit_mb is positive; `as` saturates a huge value.
            memory_limit_bytes: (s.memory_limit_mb * 1024.0 * 1024.0) as usize,
            // INVARIANT: positive; `as` saturates.
            case_memory_bytes: (s.case_memory_mb * 1024.0 * 1024.0) as usize,
            max_async_jobs: usize::try_from(s.max_async_jobs).unwrap_or(usize::MAX),
            aggregate_query_record_limit: usize::try_from(s.aggregate_query_record_limit).unwrap_or(usize::MAX),
            environment_id: s.environment_id.as_str().into(),
            tenant_id: s.tenant_id,
            now: match &s.now {
                Some(text) => Some(xrm_model::json::parse_datetime(text).ok_or_else(|| {
                    FileError::new(
                        path,
                        "settings.now",
                        format!("`{text}` is not an RFC 3339 date and time, such as 2026-12-01T09:00:00Z"),
                    )
                })?),
                None => None,
            },
            time_zone: match &s.time_zone {
                Some(text) => crate::clock::parse_offset(text).ok_or_else(|| {
                    FileError::new(
                        path,
                        "settings.timeZone",
                        format!("`{text}` is not an offset from UTC, such as +02:00 or -05:30"),
                    )
                })?,
                None => Utc.fix(),
            },
        };
        let system_user = generated_id("systemuser", "system");
        let mut aliases = HashMap::from([("system".to_owned(), system_user)]);
        let mut add = |at: String, alias: &str, id: Uuid| match aliases.insert(alias.to_owned(), id) {
            Some(_) => Err(FileError::new(path, at, format!("the alias `@{alias}` is used twice"))),
            None => Ok(()),
        };
        for (i, bu) in file.businessunits.iter().enumerate() {
            add(
                format!("businessunits[{i}].@alias"),
                &bu.alias,
                bu.businessunitid.unwrap_or_else(|| generated_id("businessunit", &bu.alias)),
            )?;
        }
        for (i, r) in file.roles.iter().enumerate() {
            add(format!("roles[{i}].@alias"), &r.alias, r.roleid.unwrap_or_else(|| generated_id("role", &r.alias)))?;
        }
        for (i, u) in file.users.iter().enumerate() {
            add(
                format!("users[{i}].@alias"),
                &u.alias,
                u.systemuserid.unwrap_or_else(|| generated_id("systemuser", &u.alias)),
            )?;
        }
        for (i, t) in file.teams.iter().enumerate() {
            add(format!("teams[{i}].@alias"), &t.alias, t.teamid.unwrap_or_else(|| generated_id("team", &t.alias)))?;
        }
        for (i, r) in file.records.iter().enumerate() {
            if let Some(alias) = r.get("@alias") {
                let alias = alias
                    .as_str()
                    .ok_or_else(|| FileError::new(path, format!("records[{i}].@alias"), "expected a string"))?;
                let id = match r.get("@id").and_then(Json::as_str) {
                    Some(text) => Uuid::parse_str(text).map_err(|_| {
                        FileError::new(path, format!("records[{i}].@id"), format!("`{text}` is not a GUID"))
                    })?,
                    None => generated_id("record", alias),
                };
                add(format!("records[{i}].@alias"), alias, id)?;
            }
        }
        for (at, alias, id) in currency::aliases(&file.currencies) {
            add(at, &alias, id)?;
        }
        for (i, v) in file.environmentvariables.iter().enumerate() {
            if let Some(alias) = &v.alias {
                add(format!("environmentvariables[{i}].@alias"), alias, environment::definition_id(v))?;
            }
        }
        let ids = claim_ids(path, file, system_user)?;
        let tables = tables::standard().into_iter().map(|t| (t.logical_name.clone(), t)).collect();
        let org = Organization {
            id: file.organizationid.unwrap_or_else(|| generated_id("organization", &file.name)),
            name: file.name.clone(),
            settings,
            system_user,
            root_business_unit: Uuid::nil(),
            base_currency: Uuid::nil(),
            business_units: HashMap::new(),
            users: HashMap::new(),
            teams: HashMap::new(),
            roles: HashMap::new(),
            aliases,
            tables,
            option_sets: BTreeMap::new(),
            relationships: HashMap::new(),
            custom_apis: HashMap::new(),
            data: Store::default(),
        };
        Ok(Builder { path, org, ids })
    }

    /// A reference to an organization object: `@alias` or a GUID.
    fn resolve(&self, at: &str, text: &str) -> Result<Uuid, FileError> {
        let resolve = |a: &str| self.org.alias(a);
        let reader = Reader::new(&resolve);
        reader.guid_text(text, &JsonPath::Root(at)).map_err(|e| FileError::json(self.path, e))
    }

    fn business_units(&mut self, units: &[BusinessUnitFile]) -> Result<(), FileError> {
        let mut roots = Vec::new();
        for (i, bu) in units.iter().enumerate() {
            let id = self.resolve("", &format!("@{}", bu.alias))?;
            let parent = match &bu.parent {
                Some(p) => Some(self.resolve(&format!("businessunits[{i}].parent"), p)?),
                None => {
                    roots.push(i);
                    None
                }
            };
            self.org.business_units.insert(id, BusinessUnit { id, name: bu.name.clone(), parent });
        }
        match roots.as_slice() {
            [root] => {
                let root = self.resolve("", &format!("@{}", units[*root].alias))?;
                self.org.root_business_unit = root;
                match units.iter().position(|bu| !self.org.is_within(self.org.aliases[&bu.alias], root)) {
                    Some(i) => Err(FileError::new(
                        self.path,
                        format!("businessunits[{i}].parent"),
                        "the parents form a cycle that never reaches the root (ORG-1)",
                    )),
                    None => Ok(()),
                }
            }
            [] => Err(FileError::new(self.path, "businessunits", "no root business unit (one must have no `parent`)")),
            [_, second, ..] => Err(FileError::new(
                self.path,
                format!("businessunits[{second}]"),
                "a second root business unit: every business unit but one needs a `parent` (ORG-1)",
            )),
        }
    }

    fn roles(&mut self, roles: &[RoleFile]) {
        for r in roles {
            let id = self.org.aliases[&r.alias];
            self.org.roles.insert(id, Role { id, name: r.name.clone(), privileges: r.privileges.clone() });
        }
    }

    fn business_unit(&self, at: String, text: &str) -> Result<Uuid, FileError> {
        let id = self.resolve(&at, text)?;
        match self.org.business_units.contains_key(&id) {
            true => Ok(id),
            false => Err(FileError::new(self.path, at, format!("`{text}` is not a business unit"))),
        }
    }

    fn role_list(&self, at: &str, roles: &[String]) -> Result<Vec<Uuid>, FileError> {
        let each = roles.iter().enumerate().map(|(i, r)| {
            let id = self.resolve(&format!("{at}[{i}]"), r)?;
            match self.org.roles.contains_key(&id) {
                true => Ok(id),
                false => Err(FileError::new(self.path, format!("{at}[{i}]"), format!("`{r}` is not a security role"))),
            }
        });
        each.collect()
    }

    fn users(&mut self, users: &[UserFile]) -> Result<(), FileError> {
        for (i, u) in users.iter().enumerate() {
            let id = self.org.aliases[&u.alias];
            let user = User {
                id,
                fullname: u.fullname.clone().unwrap_or_else(|| u.alias.clone()),
                domainname: u.domainname.clone().unwrap_or_else(|| format!("{}@{}.example", u.alias, self.org.name)),
                business_unit: self.business_unit(format!("users[{i}].businessunit"), &u.businessunit)?,
                roles: self.role_list(&format!("users[{i}].roles"), &u.roles)?,
                aad_object_id: u.azureactivedirectoryobjectid,
                application_id: u.applicationid,
                is_disabled: u.isdisabled,
            };
            self.org.users.insert(id, user);
        }
        Ok(())
    }

    fn teams(&mut self, teams: &[TeamFile]) -> Result<(), FileError> {
        for (i, t) in teams.iter().enumerate() {
            let id = self.org.aliases[&t.alias];
            let team_type = match t.teamtype {
                TeamTypeFile::Owner => TeamType::Owner,
                TeamTypeFile::Access => TeamType::Access,
            };
            let roles = self.role_list(&format!("teams[{i}].roles"), &t.roles)?;
            if team_type == TeamType::Access && !roles.is_empty() {
                return Err(FileError::new(
                    self.path,
                    format!("teams[{i}].roles"),
                    "an access team holds no security roles (ORG-4, 0x80048331)",
                ));
            }
            let mut members = Vec::new();
            for (j, m) in t.members.iter().enumerate() {
                let at = format!("teams[{i}].members[{j}]");
                let member = self.resolve(&at, m)?;
                if !self.org.users.contains_key(&member) {
                    return Err(FileError::new(self.path, at, format!("`{m}` is not a user")));
                }
                members.push(member);
            }
            let business_unit = self.business_unit(format!("teams[{i}].businessunit"), &t.businessunit)?;
            self.org.teams.insert(id, Team { id, name: t.name.clone(), business_unit, team_type, roles, members });
        }
        Ok(())
    }

    fn tables(&mut self, tables: &[TableFile]) -> Result<(), FileError> {
        for (i, t) in tables.iter().enumerate() {
            table_file::apply(self.path, &format!("tables[{i}]"), t, &mut self.org.tables, &self.org.option_sets)?;
        }
        Ok(())
    }

    /// The currencies and the organization's row (CUR-1), and the currency columns of every money table.
    fn currencies(&mut self, declared: &[CurrencyFile]) -> Result<(), FileError> {
        let (rows, base) = currency::records(self.path, declared)?;
        self.org.base_currency = base;
        self.org.tables.values_mut().for_each(currency::add_columns);
        let mut organization = Entity::with_id("organization", self.org.id);
        organization
            .set("name", self.org.name.clone())
            .set("basecurrencyid", EntityReference::new("transactioncurrency", base));
        if let Some(Value::Text(symbol)) =
            rows.iter().find(|r| r.id == Some(base)).and_then(|r| r.get("currencysymbol"))
        {
            organization.set("basecurrencysymbol", symbol.clone());
        }
        for row in rows.into_iter().chain([organization]) {
            let row = self.stamped(row);
            self.org.data.put(row);
        }
        Ok(())
    }

    /// The declared environment variables' records (ENV-1).
    fn environment_variables(&mut self, variables: &[EnvironmentVariableFile]) -> Result<(), FileError> {
        for row in environment::records(self.path, variables)? {
            let row = self.stamped(row);
            self.org.data.put(row);
        }
        Ok(())
    }

    fn custom_apis(&mut self, apis: &[CustomApiFile]) -> Result<(), FileError> {
        for (i, api) in apis.iter().enumerate() {
            let at = format!("customapis[{i}]");
            if let Some(Err(e)) = api.boundentity.as_ref().map(|table| self.org.check_table(table)) {
                return Err(FileError::new(self.path, format!("{at}.boundentity"), e));
            }
            if self.org.custom_apis.contains_key(&api.uniquename) || xrm_model::messages::can_fire(&api.uniquename) {
                return Err(FileError::new(
                    self.path,
                    format!("{at}.uniquename"),
                    format!("the message `{}` already exists", api.uniquename),
                ));
            }
            let params = |which: &str, list: &BTreeMap<String, ApiParameterFile>| {
                list.iter()
                    .map(|(name, p)| {
                        let (kind, optional) = match p {
                            ApiParameterFile::Type(k) => (k.as_str(), false),
                            ApiParameterFile::Full { kind, optional } => (kind.as_str(), *optional),
                        };
                        let kind = super::ParameterType::parse(kind).ok_or_else(|| {
                            FileError::new(
                                self.path,
                                format!("{at}.{which}.{name}"),
                                format!("unknown parameter type `{kind}` (expected {})", super::ParameterType::NAMES),
                            )
                        })?;
                        Ok(super::ApiParameter { name: name.clone(), kind, optional })
                    })
                    .collect::<Result<Vec<_>, FileError>>()
            };
            let custom = super::CustomApi {
                unique_name: api.uniquename.clone(),
                bound_entity: api.boundentity.clone(),
                request: params("request", &api.request)?,
                response: params("response", &api.response)?,
            };
            self.org.custom_apis.insert(api.uniquename.clone(), custom);
        }
        Ok(())
    }

    fn relationships(&mut self, declared: &[RelationshipFile]) -> Result<(), FileError> {
        let standard =
            STANDARD_RELATIONSHIPS.iter().map(|(n, a, b)| ((*n).to_owned(), (*a).to_owned(), (*b).to_owned()));
        let declared = declared.iter().map(|r| (r.schemaname.clone(), r.entity1.clone(), r.entity2.clone()));
        for (i, (name, one, two)) in standard.chain(declared).enumerate() {
            let at = format!("relationships[{}]", i.saturating_sub(STANDARD_RELATIONSHIPS.len()));
            let primary = |table: &str, key: &str| {
                self.org
                    .check_table(table)
                    .map(|t| t.primary_id.clone())
                    .map_err(|e| FileError::new(self.path, format!("{at}.{key}"), e))
            };
            let entity1_column = primary(&one, "entity1")?;
            let mut entity2_column = primary(&two, "entity2")?;
            if entity2_column == entity1_column {
                entity2_column = format!("{entity2_column}two");
            }
            let intersect = match SECURITY_INTERSECTS.iter().find(|(n, _)| *n == name) {
                // A security table, built in with its own columns (SEC-10).
                Some((_, intersect)) => intersect.to_string(),
                None => {
                    let intersect = name.to_lowercase();
                    let mut table = Table::new(&intersect, &name, 0, Ownership::OrganizationOwned);
                    table.columns.insert(entity1_column.clone(), ColumnType::Uniqueidentifier);
                    table.columns.insert(entity2_column.clone(), ColumnType::Uniqueidentifier);
                    self.org.tables.insert(intersect.clone(), table);
                    intersect
                }
            };
            let relationship = super::Relationship {
                schema_name: name.clone(),
                entity1: one,
                entity2: two,
                intersect,
                entity1_column,
                entity2_column,
            };
            self.org.relationships.insert(name, relationship);
        }
        Ok(())
    }

    /// Every privilege a role names must exist: `prv<Access><name>` of a known table (its privilege name, which
    /// is the platform's: `prvCreateNote` for annotations), or a plain one.
    fn check_privileges(&self, roles: &[RoleFile]) -> Result<(), FileErrors> {
        let known = self.privilege_names();
        let mut errors = FileErrors::default();
        for (i, role) in roles.iter().enumerate() {
            for name in role.privileges.keys().filter(|name| !known.contains(*name)) {
                errors.push(FileError::new(
                    self.path,
                    format!("roles[{i}].privileges.{name}"),
                    format!("unknown privilege `{name}`{}", self.privilege_hint(name, &known)),
                ));
            }
        }
        errors.or(())
    }

    /// Every privilege name a role may hold in this organization.
    fn privilege_names(&self) -> std::collections::BTreeSet<String> {
        // The security tables have no privileges of their own: they are read with their principals' (SEC-10).
        let tables = self.org.tables.values().filter(|t| t.read_with.is_empty());
        let table_privileges =
            tables.flat_map(|t| ACCESS_RIGHTS.iter().map(move |a| format!("prv{a}{}", t.privilege_name)));
        table_privileges.chain(PLAIN_PRIVILEGES.iter().map(|p| (*p).to_owned())).collect()
    }

    /// Why `name` is not a privilege, and the one meant: a table's schema name where the platform uses another
    /// (`prvCreateAnnotation` is `prvCreateNote`), else the nearest name.
    fn privilege_hint(&self, name: &str, known: &std::collections::BTreeSet<String>) -> String {
        let rest = name.strip_prefix("prv").unwrap_or(name);
        for access in ACCESS_RIGHTS {
            let Some(schema) = rest.strip_prefix(access) else { continue };
            if let Some(t) = self.org.tables.values().find(|t| t.schema_name == schema && t.privilege_name != schema) {
                return format!(
                    ": the platform names the privileges of `{}` after `{}`: `prv{access}{}`",
                    t.logical_name, t.privilege_name, t.privilege_name
                );
            }
        }
        match xrm_model::suggest::nearest(name, known.iter().map(String::as_str)) {
            Some(near) => format!(": did you mean `{near}`?"),
            None => format!(
                " (expected prv<{}><table>, such as prvCreateAccount, or one of: {})",
                ACCESS_RIGHTS.join("|"),
                PLAIN_PRIVILEGES.join(", ")
            ),
        }
    }

    /// The principals as records, then the file's records, each checked against its table; `"@alice"` in a
    /// lookup column reads as a reference to the alias's record.
    fn records(&mut self, records: &[Json]) -> Result<(), FileErrors> {
        let mut rows = self.principal_rows();
        let record_tables: HashMap<&str, &str> = records
            .iter()
            .filter_map(|r| Some((r.get("@alias")?.as_str()?, r.get("@logicalname")?.as_str()?)))
            .collect();
        let alias_table = |alias: &str| {
            record_tables
                .get(alias)
                .map(|t| (*t).to_owned())
                .or_else(|| self.org.table_of_alias(alias).map(str::to_owned))
        };
        let lookups = AliasLookups::Read(&alias_table);
        let mut errors = FileErrors::default();
        for (i, r) in records.iter().enumerate() {
            let mut json = r.clone();
            let alias = json.as_object_mut().and_then(|o| o.remove("@alias"));
            let at = format!("records[{i}]");
            let resolve = |a: &str| self.org.alias(a);
            let reader = Reader::new(&resolve);
            let mut entity = match values::read_entity(&self.org, &reader, &json, &JsonPath::Root(&at), &lookups) {
                Ok(entity) => entity,
                Err(problems) => {
                    problems.into_iter().for_each(|e| errors.push(FileError::json(self.path, e)));
                    continue;
                }
            };
            if entity.id.is_none() {
                entity.id = Some(match alias.as_ref().and_then(Json::as_str) {
                    Some(a) => self.org.aliases[a],
                    None => generated_id("record", &at),
                });
            }
            let Some(table) = self.org.table(&entity.logical_name) else { continue };
            let id_at = match (json.get("@id"), &alias) {
                (Some(_), _) => format!("{at}.@id"),
                (None, Some(_)) => format!("{at}.@alias"),
                (None, None) => at.clone(),
            };
            if let Err(e) = self.ids.claim(self.path, &table.logical_name, entity.id.unwrap_or_default(), id_at) {
                errors.push(e);
                continue;
            }
            // CUR-1: a money record gets its currency and base values, as a Create would give them.
            let rate =
                |currency: Uuid| self.org.data.get("transactioncurrency", currency).and_then(|r| currency::rate_of(r));
            let settled = table.check(entity).and_then(|mut entity| {
                // STATE-1: a record starts in a pair its table allows, the default status of its state if none.
                let id = entity.id.unwrap_or_default();
                table.settle_state(id, None, &mut entity)?;
                table.stamp_currency(self.org.base_currency, &rate, None, &mut entity)?;
                Ok(entity)
            });
            match settled.map_err(|f| FileError::new(self.path, at.clone(), f.message)) {
                Ok(entity) => match checks::owner(self.path, &self.org, &entity, &at) {
                    Ok(()) => rows.push(entity),
                    Err(e) => errors.push(e),
                },
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        for row in rows {
            let row = self.stamped(row);
            self.org.data.put(row);
        }
        Ok(())
    }

    /// Users, teams, business units, roles and the security tables as the rows plug-ins and assertions read.
    fn principal_rows(&self) -> Vec<Entity> {
        let org = &self.org;
        let bu_ref = |id: Uuid| Value::Lookup(EntityReference::new("businessunit", id));
        let mut rows = Vec::new();
        for bu in org.business_units.values() {
            let mut e = Entity::with_id("businessunit", bu.id);
            e.set("name", bu.name.clone());
            if let Some(p) = bu.parent {
                e.set("parentbusinessunitid", bu_ref(p));
            }
            rows.push(e);
        }
        let system = User {
            id: org.system_user,
            fullname: "SYSTEM".into(),
            domainname: String::new(),
            business_unit: org.root_business_unit,
            roles: Vec::new(),
            aad_object_id: None,
            application_id: None,
            is_disabled: false,
        };
        for u in org.users.values().chain([&system]) {
            let mut e = Entity::with_id("systemuser", u.id);
            e.set("fullname", u.fullname.clone())
                .set("domainname", u.domainname.clone())
                .set("businessunitid", bu_ref(u.business_unit))
                .set("isdisabled", u.is_disabled);
            if let Some(aad) = u.aad_object_id {
                e.set("azureactivedirectoryobjectid", aad);
            }
            if let Some(app) = u.application_id {
                e.set("applicationid", app);
            }
            rows.push(e);
        }
        for t in org.teams.values() {
            let mut e = Entity::with_id("team", t.id);
            e.set("name", t.name.clone())
                .set("businessunitid", bu_ref(t.business_unit))
                .set("teamtype", Value::Choice(if t.team_type == TeamType::Owner { 0 } else { 1 }));
            rows.push(e);
        }
        for r in org.roles.values() {
            let mut e = Entity::with_id("role", r.id);
            e.set("name", r.name.clone()).set("businessunitid", bu_ref(org.root_business_unit));
            rows.push(e);
        }
        rows.extend(super::security_rows::rows(org));
        rows
    }

    /// The columns the platform fills on every record: its key, creator, owner and state.
    fn stamped(&self, mut e: Entity) -> Entity {
        let org = &self.org;
        let Some(table) = org.table(&e.logical_name) else { return e };
        let id = e.id.unwrap_or_default();
        let system = Value::Lookup(EntityReference::new("systemuser", org.system_user));
        let now = Value::DateTime(org.settings.now.unwrap_or_else(Utc::now));
        e.attributes.insert(table.primary_id.clone(), Value::Guid(id));
        for (column, value) in
            [("createdby", &system), ("modifiedby", &system), ("createdon", &now), ("modifiedon", &now)]
        {
            e.attributes.entry(column.into()).or_insert_with(|| value.clone());
        }
        e.attributes.entry("statecode".into()).or_insert(Value::Choice(0));
        if table.ownership == Ownership::UserOwned {
            let owner = e.attributes.entry("ownerid".into()).or_insert_with(|| system.clone()).clone();
            if let Value::Lookup(owner) = owner {
                let bu = match owner.logical_name.as_str() {
                    "team" => org.teams.get(&owner.id).map_or(org.root_business_unit, |t| t.business_unit),
                    _ => org.business_unit_of(owner.id),
                };
                e.attributes
                    .insert("owningbusinessunit".into(), Value::Lookup(EntityReference::new("businessunit", bu)));
            }
        }
        e
    }

    fn finish(self) -> Organization {
        self.org
    }
}
