//! From what the exports hold to the files of a runnable project: the organization (tables, custom APIs,
//! roles, a default user and one placeholder user per run-as user), the registrations, the starter suite and
//! the identity map. Pure: nothing here touches the file system.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::{Map, Value as Json, json};
use xrm_model::messages;

use super::entity::{self, TableDef};
use super::package::{CustomApiDef, Package};
use super::xml::Node;
use super::{Imported, LeftOut, Mapping, StepOut, UserRef, identity_map, starter};

/// The default user of the starter suite, and a second user for Assign and sharing.
pub const DEFAULT_USER: &str = "user";
pub const OTHER_USER: &str = "other";
const EVERYTHING_ROLE: &str = "xrm_sandbox_every_privilege";

/// Every file of the project, as JSON, and what the user must be told.
pub struct Project {
    pub org: Json,
    pub registrations: Json,
    pub suite: Json,
    pub map: identity_map::IdentityMap,
    /// Steps written but on a message the sandbox cannot run yet, with why.
    pub cannot_fire: Vec<String>,
    pub left_out: Vec<LeftOut>,
    /// What was adapted on the way (columns not carried over, privileges dropped, tables added).
    pub notes: Vec<String>,
    /// Run-as users the mapping did not name: their placeholder aliases, for the mapping file.
    pub placeholders: BTreeMap<String, String>,
}

/// Builds the project from the merged exports. `mapping` is the user's (with the stand-in default).
pub fn build(package: &Package, mapping: &Mapping, name: &str) -> Project {
    let mut notes = Vec::new();
    let mut tables = Tables::from_package(package, &mut notes);
    let apis = custom_apis(package, &mut tables, &mut notes);
    let api_names: HashSet<String> = apis.iter().filter_map(|a| a["uniquename"].as_str().map(str::to_owned)).collect();
    let mut steps = package.steps.clone();
    for step in &mut steps {
        if step.plugin_type.is_none()
            && let Some(id) = step.plugin_type_id
        {
            step.plugin_type = package.plugin_types.get(&id).cloned();
        }
    }
    steps.extend(api_main_operations(package, &api_names));
    let (mapping, placeholders) = with_placeholders(mapping, &steps);
    let imported: Imported = super::map_steps_with(&steps, &mapping, &api_names);
    notes.extend(imported.notes.iter().cloned());
    for step in &imported.file.steps {
        if let Some(table) = &step.primaryentity {
            tables.ensure(table, &mut notes);
            for column in step.filteringattributes.iter().flat_map(|f| f.split(',')).map(str::trim) {
                tables.ensure_column(table, column, &mut notes);
            }
        }
    }
    let mut cannot_fire: Vec<String> = imported
        .file
        .steps
        .iter()
        .filter(|s| !runnable(&s.message, &api_names))
        .map(|s| {
            format!(
                "step \"{}\" on {} cannot fire: the sandbox does not run `{}` yet (it is listed in the identity map, and left out of registrations.json, whose loader refuses a message it does not run)",
                s.name.as_deref().unwrap_or("(no name)"),
                s.primaryentity.as_deref().unwrap_or("every table"),
                s.message
            )
        })
        .collect();
    let users = users(&imported.file.steps, &placeholders);
    let roles = roles(package, &tables, &mut notes);
    let mut org = json!({
        "name": name,
        "businessunits": [{ "@alias": "root", "name": "Root" }],
        "roles": roles,
        "users": users,
        "tables": tables.json(),
        "customapis": apis,
    });
    let runnable_steps: Vec<&StepOut> =
        imported.file.steps.iter().filter(|s| runnable(&s.message, &api_names)).collect();
    // [choice] A step on a message the sandbox does not run stays out of the registrations, which refuse such
    // a message as they would a misspelt one; it is warned about and listed in the identity map instead.
    let registrations = json!({ "plugins": imported.file.plugins, "steps": runnable_steps });
    let suite = starter::suite(name, &runnable_steps, &tables, &apis, &mut cannot_fire);
    if starter::needs_team_template(&runnable_steps) {
        org["records"] = json!([{ "@logicalname": "teamtemplate", "@alias": starter::STARTER_TEAM,
            "teamtemplatename": "xrm-sandbox starter access team", "objecttypecode": 1, "defaultaccessrightsmask": 1 }]);
    }
    let map = identity_map::IdentityMap::of(&imported.file.steps, &api_names, &users_by_alias(&org));
    Project { org, registrations, suite, map, cannot_fire, left_out: imported.left_out, notes, placeholders }
}

/// Whether the sandbox runs a step on `message`: a built-in message, one that fires for one, or a custom API
/// of the organization.
pub fn runnable(message: &str, apis: &HashSet<String>) -> bool {
    messages::can_fire(message) || apis.contains(message)
}

/// The mapping with one placeholder alias for every run-as user it does not name; the placeholders by the
/// name the mapping file keys them with.
fn with_placeholders(mapping: &Mapping, steps: &[super::ExportedStep]) -> (Mapping, BTreeMap<String, String>) {
    let mut mapping = mapping.clone();
    let mut placeholders = BTreeMap::new();
    let mut taken: HashSet<String> = [DEFAULT_USER, OTHER_USER].iter().map(|s| (*s).to_owned()).collect();
    for user in steps.iter().filter_map(|s| s.impersonating_user.as_ref()) {
        if mapping.user(user).is_some() {
            continue;
        }
        let key = user_key(user);
        let alias = unique(&mut taken, &format!("runas_{}", slug(&key)));
        mapping.add_user(&key, &format!("@{alias}"));
        placeholders.insert(key, format!("@{alias}"));
    }
    (mapping, placeholders)
}

/// How the mapping file names a user: the full name, else the domain name, else the id.
fn user_key(user: &UserRef) -> String {
    user.fullname
        .clone()
        .or_else(|| user.domainname.clone())
        .or_else(|| user.id.map(|id| id.to_string()))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Lower-case letters, digits and `_` only.
pub fn slug(text: &str) -> String {
    let s: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .collect::<String>()
        .split('_')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    if s.is_empty() { "x".to_owned() } else { s }
}

fn unique(taken: &mut HashSet<String>, base: &str) -> String {
    let mut candidate = base.to_owned();
    let mut n = 2;
    while !taken.insert(candidate.clone()) {
        candidate = format!("{base}_{n}");
        n += 1;
    }
    candidate
}

/// The default user, a second one, and one placeholder per run-as user.
fn users(steps: &[StepOut], placeholders: &BTreeMap<String, String>) -> Vec<Json> {
    let mut users = vec![
        json!({ "@alias": DEFAULT_USER, "fullname": "Starter suite user", "businessunit": "@root",
                "roles": [format!("@{EVERYTHING_ROLE}")] }),
        json!({ "@alias": OTHER_USER, "fullname": "Starter suite second user", "businessunit": "@root",
                "roles": [format!("@{EVERYTHING_ROLE}")] }),
    ];
    let named: BTreeSet<&str> = placeholders.values().map(String::as_str).collect();
    let used: BTreeSet<&str> = steps.iter().filter_map(|s| s.impersonatinguserid.as_deref()).collect();
    for (key, alias) in placeholders {
        let mut user = json!({
            "$comment": format!("placeholder for the run-as user \"{key}\" of the solution: fill in its business unit, roles and ids"),
            "@alias": alias.trim_start_matches('@'),
            "fullname": key,
            "businessunit": "@root",
        });
        // An export that names the user by id only (a register file): the placeholder keeps that id.
        if let Ok(id) = xrm_model::Uuid::parse_str(key) {
            user["systemuserid"] = json!(id);
        }
        users.push(user);
    }
    // Aliases the user's own mapping names that no placeholder stands for: they still need a user to load.
    for alias in used.into_iter().filter(|a| a.starts_with('@') && !named.contains(a)) {
        let bare = alias.trim_start_matches('@');
        if bare != DEFAULT_USER && bare != OTHER_USER {
            users.push(json!({
                "$comment": "a user the mapping names: fill in its business unit, roles and ids",
                "@alias": bare, "businessunit": "@root",
            }));
        }
    }
    users
}

fn users_by_alias(org: &Json) -> HashMap<String, String> {
    let users = org["users"].as_array().into_iter().flatten();
    users
        .filter_map(|u| {
            let alias = u["@alias"].as_str()?;
            Some((format!("@{alias}"), u["fullname"].as_str().unwrap_or(alias).to_owned()))
        })
        .collect()
}

/// The organization's tables: the built-in ones the sandbox has, the export's, and any a step or a custom
/// API names that neither has.
pub struct Tables {
    built_in: HashMap<String, crate::org::Table>,
    /// Logical name → the entry of the organization file.
    entries: BTreeMap<String, Map<String, Json>>,
    next_code: i32,
}

impl Tables {
    fn from_package(package: &Package, notes: &mut Vec<String>) -> Tables {
        let built_in: HashMap<String, crate::org::Table> =
            crate::org::tables::standard().into_iter().map(|t| (t.logical_name.clone(), t)).collect();
        let mut tables = Tables { built_in, entries: BTreeMap::new(), next_code: 10_000 };
        let lookups = entity::lookup_targets(&package.relationships);
        let defs: Vec<TableDef> =
            package.entities.iter().filter_map(|(_, e)| entity::table(e, &package.option_sets, &lookups)).collect();
        for def in defs {
            notes.extend(def.skipped.iter().map(|s| format!("column {s}: not carried over")));
            let built = tables.built_in.get(&def.logical_name).map(|t| t.object_type_code);
            let code = match built {
                Some(code) => code,
                None => def.object_type_code.unwrap_or_else(|| tables.new_code()),
            };
            let mut json = def.json;
            json.insert("objecttypecode".into(), json!(code));
            tables.entries.insert(def.logical_name, json);
        }
        tables.drop_unknown_targets();
        tables
    }

    fn new_code(&mut self) -> i32 {
        let used: HashSet<i32> = self
            .built_in
            .values()
            .map(|t| t.object_type_code)
            .chain(self.entries.values().filter_map(|e| e.get("objecttypecode")?.as_i64()?.try_into().ok()))
            .collect();
        while used.contains(&self.next_code) {
            self.next_code += 1;
        }
        self.next_code += 1;
        self.next_code - 1
    }

    /// Lookup targets the organization does not have are dropped (the lookup then takes any table).
    fn drop_unknown_targets(&mut self) {
        let known: HashSet<String> = self.built_in.keys().chain(self.entries.keys()).cloned().collect();
        for entry in self.entries.values_mut() {
            let Some(Json::Object(columns)) = entry.get_mut("columns") else { continue };
            for column in columns.values_mut() {
                if let Some(Json::Array(targets)) = column.get_mut("targets") {
                    targets.retain(|t| t.as_str().is_some_and(|t| known.contains(t)));
                    if targets.is_empty() {
                        column.as_object_mut().map(|c| c.remove("targets"));
                    }
                }
            }
        }
    }

    pub fn has(&self, table: &str) -> bool {
        self.built_in.contains_key(table) || self.entries.contains_key(table)
    }

    /// Adds a table the export does not define and the sandbox does not have, with its key column only.
    pub fn ensure(&mut self, table: &str, notes: &mut Vec<String>) {
        if !self.has(table) {
            let code = self.new_code();
            notes.push(format!("table `{table}`: not in the export, added with its key column only"));
            self.entries.insert(table.to_owned(), json_object(json!({ "logicalname": table, "objecttypecode": code })));
        }
    }

    /// A column a step filters on must exist for the starter suite to send it: one the export does not
    /// define is added as text.
    fn ensure_column(&mut self, table: &str, column: &str, notes: &mut Vec<String>) {
        if column.is_empty() || self.column_type(table, column).is_some() {
            return;
        }
        let code = self.built_in.get(table).map(|t| t.object_type_code);
        let entry = self
            .entries
            .entry(table.to_owned())
            .or_insert_with(|| json_object(json!({ "logicalname": table, "objecttypecode": code.unwrap_or(0) })));
        let columns = entry.entry("columns").or_insert_with(|| json!({}));
        if let Some(columns) = columns.as_object_mut() {
            columns.insert(column.to_owned(), json!("String"));
        }
        notes.push(format!(
            "column `{table}.{column}`: a step filters on it but the export does not define it: added as String"
        ));
    }

    /// A column's type name as the organization file gives it (`"String"`, `"Lookup"`, …).
    pub fn column_type(&self, table: &str, column: &str) -> Option<String> {
        if let Some(entry) = self.entries.get(table)
            && let Some(c) = entry.get("columns").and_then(|c| c.get(column))
        {
            return Some(match c {
                Json::String(t) => t.clone(),
                Json::Object(o) if o.contains_key("Lookup") => "Lookup".to_owned(),
                other => other["type"].as_str().unwrap_or("String").to_owned(),
            });
        }
        let ty = self.built_in.get(table)?.columns.get(column)?;
        Some(match ty {
            crate::org::ColumnType::Lookup(_) => "Lookup".to_owned(),
            other => format!("{other:?}"),
        })
    }

    /// The options of a choice column the export defines.
    pub fn column(&self, table: &str, column: &str) -> Option<&Json> {
        self.entries.get(table)?.get("columns")?.get(column)
    }

    /// The primary name column, when the table has one.
    pub fn primary_name(&self, table: &str) -> Option<String> {
        match self.entries.get(table).and_then(|e| e.get("primarynameattribute")).and_then(Json::as_str) {
            Some(name) => Some(name.to_owned()),
            None => self.built_in.get(table)?.primary_name.clone(),
        }
    }

    /// The name each table's privileges carry (`prv<Access><name>`) and whether it is user-owned.
    fn schemas(&self) -> Vec<(String, bool)> {
        let mut all: BTreeMap<String, (String, bool)> = BTreeMap::new();
        // The security tables have no privileges of their own (SEC-10).
        for t in self.built_in.values().filter(|t| t.read_with.is_empty()) {
            all.insert(
                t.logical_name.clone(),
                (t.privilege_name.clone(), t.ownership == crate::org::Ownership::UserOwned),
            );
        }
        for (name, e) in &self.entries {
            let built = self.built_in.get(name);
            let schema = match built {
                Some(t) => Some(t.privilege_name.clone()),
                None => e.get("schemaname").and_then(Json::as_str).map(str::to_owned),
            };
            let user_owned = match e.get("ownership").and_then(Json::as_str) {
                Some(o) => o == "UserOwned",
                None => built.is_none_or(|t| t.ownership == crate::org::Ownership::UserOwned),
            };
            all.insert(name.clone(), (schema.unwrap_or_else(|| name.clone()), user_owned));
        }
        all.into_values().collect()
    }

    fn json(&self) -> Vec<Json> {
        self.entries.values().cloned().map(Json::Object).collect()
    }
}

fn json_object(v: Json) -> Map<String, Json> {
    match v {
        Json::Object(o) => o,
        _ => Map::new(),
    }
}

/// Custom APIs of the organization file, from `customapis/`.
fn custom_apis(package: &Package, tables: &mut Tables, notes: &mut Vec<String>) -> Vec<Json> {
    let mut apis = Vec::new();
    let mut seen = HashSet::new();
    for def in &package.custom_apis {
        let Some(name) = def.api.attribute("uniquename").or_else(|| def.api.value("uniquename")) else { continue };
        if !seen.insert(name.to_owned()) || messages::can_fire(name) {
            continue;
        }
        let bound = match def.api.value("bindingtype") {
            Some("1") => def.api.value("boundentitylogicalname").map(str::to_lowercase),
            _ => None,
        };
        if let Some(table) = &bound {
            tables.ensure(table, notes);
        }
        let request = parameters(def, &def.request, true, notes);
        let response = parameters(def, &def.response, false, notes);
        apis.push(json!({ "uniquename": name, "boundentity": bound, "request": request, "response": response }));
    }
    apis
}

fn parameters(def: &CustomApiDef, params: &[Node], request: bool, notes: &mut Vec<String>) -> Map<String, Json> {
    let api = def.api.attribute("uniquename").unwrap_or_default();
    let mut out = Map::new();
    for p in params {
        let Some(name) = p.attribute("uniquename").or_else(|| p.value("uniquename")) else { continue };
        let ty = match p.value("type").and_then(|t| t.parse::<i32>().ok()) {
            Some(0) => "Boolean",
            Some(1) => "DateTime",
            Some(2) => "Decimal",
            Some(3) => "Entity",
            Some(4) => "EntityCollection",
            Some(5) => "EntityReference",
            Some(6) => "Float",
            Some(7) => "Integer",
            Some(8) => "Money",
            Some(9) => "Picklist",
            Some(10) => "String",
            Some(12) => "Guid",
            other => {
                let what = other.map_or_else(|| "no type".to_owned(), |t| format!("type {t}"));
                notes.push(format!(
                    "custom API `{api}`: parameter `{name}` has {what}, which the sandbox does not have: left out"
                ));
                continue;
            }
        };
        let optional = p.value("isoptional") == Some("1") || p.value("isoptional") == Some("true");
        let value = if request && optional { json!({ "type": ty, "optional": true }) } else { json!(ty) };
        out.insert(name.to_owned(), value);
    }
    out
}

/// A custom API's own plug-in (`<plugintypeid>`) runs at stage 30: one step for each, as the platform has.
fn api_main_operations(package: &Package, apis: &HashSet<String>) -> Vec<super::ExportedStep> {
    let mut steps = Vec::new();
    for def in &package.custom_apis {
        let Some(name) = def.api.attribute("uniquename") else { continue };
        if !apis.contains(name) {
            continue;
        }
        let type_ref = def.api.child("plugintypeid");
        let id = type_ref.and_then(|t| t.value("plugintypeid").or_else(|| t.value("plugintypeexportkey")));
        let Some(type_name) = id.and_then(super::solution::guid).and_then(|id| package.plugin_types.get(&id)) else {
            continue;
        };
        let bound = def
            .api
            .value("boundentitylogicalname")
            .map(str::to_lowercase)
            .filter(|_| def.api.value("bindingtype") == Some("1"));
        steps.push(super::ExportedStep {
            at: def.file.display().to_string(),
            name: Some(format!("{type_name}: {name} (the custom API's main operation)")),
            plugin_type: Some(type_name.clone()),
            message: super::MessageRef::Name(name.to_owned()),
            primary_entity: bound,
            stage: 30,
            rank: 1,
            ..super::ExportedStep::default()
        });
    }
    steps
}

/// The export's roles with the privileges the sandbox knows, and a role with every table privilege for the
/// starter suite's users.
fn roles(package: &Package, tables: &Tables, notes: &mut Vec<String>) -> Vec<Json> {
    let schemas = tables.schemas();
    let by_lower: HashMap<String, &str> = schemas.iter().map(|(s, _)| (s.to_lowercase(), s.as_str())).collect();
    let access = ["Create", "Read", "Write", "Delete", "AppendTo", "Append", "Assign", "Share"];
    let mut everything = Map::new();
    for (schema, user_owned) in &schemas {
        for a in access {
            if *user_owned || !matches!(a, "Assign" | "Share") {
                everything.insert(format!("prv{a}{schema}"), json!("Global"));
            }
        }
    }
    // The privileges of messages rather than tables (the platform's names).
    everything.insert("prvMerge".to_owned(), json!("Global"));
    let mut roles =
        vec![json!({ "@alias": EVERYTHING_ROLE, "name": "xrm-sandbox: every table privilege (starter suite)",
                                 "privileges": everything })];
    let mut taken: HashSet<String> = [EVERYTHING_ROLE.to_owned()].into();
    for (file, role) in &package.roles {
        let Some(name) = role.attribute("name") else { continue };
        let mut privileges = Map::new();
        let mut dropped = 0;
        for p in role.child("RolePrivileges").into_iter().flat_map(|r| r.all("RolePrivilege")) {
            let (Some(privilege), Some(level)) = (p.attribute("name"), p.attribute("level")) else { continue };
            let known = crate::org::PLAIN_PRIVILEGES.contains(&privilege).then(|| privilege.to_owned()).or_else(|| {
                let rest = privilege.strip_prefix("prv")?;
                let a = access.iter().find(|a| rest.starts_with(**a))?;
                by_lower.get(&rest[a.len()..].to_lowercase()).map(|schema| format!("prv{a}{schema}"))
            });
            match (known, level) {
                (Some(p), "Basic" | "Local" | "Deep" | "Global") => {
                    privileges.insert(p, json!(level));
                }
                _ => dropped += 1,
            }
        }
        if dropped > 0 {
            notes.push(format!(
                "role \"{name}\" ({}): {dropped} privileges on tables or features the organization does not have were left out",
                file.display()
            ));
        }
        let alias = unique(&mut taken, &format!("role_{}", slug(name)));
        roles.push(json!({ "@alias": alias, "name": name, "privileges": privileges }));
    }
    roles
}
