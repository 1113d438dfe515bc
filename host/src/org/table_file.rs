//! The organization file's `tables`: custom tables and columns added to built-in ones, with their metadata
//! (display names, entity set name, alternate keys, required levels, option labels, state/status pairs).
//! Columns are read by hand from their JSON, so that each mistake is reported at its own JSON path.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value as Json;

use super::metadata::{AlternateKey, ColumnMeta, GlobalChoice, Options, RequiredLevel, StateOption, StatusOption};
use super::tables::{ColumnType, Ownership, Table};
use crate::input::{self, FileError};

/// A custom table, or columns added to a built-in one (named by its logical name).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Table")]
pub(super) struct TableFile {
    /// The table's logical name, such as `new_invoice`.
    logicalname: String,
    /// Its schema name, which privilege names use, such as `new_Invoice` (default: the logical name).
    #[serde(default)]
    schemaname: Option<String>,
    /// The table's object type code.
    objecttypecode: i32,
    /// `UserOwned` (the default) or `OrganizationOwned`.
    #[serde(default = "user_owned")]
    ownership: OwnershipFile,
    /// The column holding the record's name.
    #[serde(default)]
    primarynameattribute: Option<String>,
    /// The name the platform shows for one record, such as `Invoice`.
    #[serde(default)]
    displayname: Option<String>,
    /// The name the platform shows for several records, such as `Invoices`.
    #[serde(default)]
    displaycollectionname: Option<String>,
    /// The Web API's name for the table's records (default: the logical name in the plural, as the platform
    /// forms it: `new_invoices`).
    #[serde(default)]
    entitysetname: Option<String>,
    /// Alternate keys: columns whose values together identify one record.
    #[serde(default)]
    keys: Vec<KeyFile>,
    /// Columns: a type name, `{"Lookup": "account"}`, or an object with the type and the column's metadata.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, ColumnForm>")]
    columns: BTreeMap<String, Json>,
}

/// An alternate key.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "AlternateKey")]
struct KeyFile {
    /// The key's name, such as `new_number_key`.
    #[schemars(length(min = 1))]
    name: String,
    /// The columns whose values together identify one record.
    #[schemars(length(min = 1))]
    columns: Vec<String>,
}

/// Who owns a table's records.
#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[schemars(rename = "Ownership")]
enum OwnershipFile {
    /// Records are owned by a user or team, and privileges apply by depth.
    UserOwned,
    /// Records belong to the organization.
    OrganizationOwned,
}

fn user_owned() -> OwnershipFile {
    OwnershipFile::UserOwned
}

/// A column: the forms the loader reads by hand. Only its schema is used (the variants are never built).
#[derive(JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
#[schemars(rename = "ColumnType")]
#[allow(dead_code)]
enum ColumnForm {
    /// A type name: String, Memo, Integer, BigInt, Double, Boolean, Decimal, Money, DateTime, Uniqueidentifier,
    /// Picklist, MultiSelectPicklist, State, Status, Lookup (to any table), Customer or Owner.
    Plain(#[schemars(extend("enum" = TYPES))] String),
    /// A lookup: `{"Lookup": "account"}`, or a list of the tables it may point to.
    Lookup {
        /// The table, or tables, the lookup may point to.
        #[serde(rename = "Lookup")]
        lookup: LookupTargets,
    },
    /// A column with its metadata.
    Full(ColumnObject),
}

/// One table, or several.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
enum LookupTargets {
    One(String),
    Many(Vec<String>),
}

/// The type names a column may have, synonyms included.
pub(super) const TYPES: &[&str] = &[
    "String",
    "Memo",
    "Integer",
    "BigInt",
    "Double",
    "Boolean",
    "Decimal",
    "Money",
    "DateTime",
    "Uniqueidentifier",
    "Guid",
    "Picklist",
    "Choice",
    "MultiSelectPicklist",
    "Choices",
    "State",
    "Status",
    "Lookup",
    "Customer",
    "Owner",
];

/// The type names, as error messages list them.
const TYPE_NAMES: &str = "String, Memo, Integer, BigInt, Double, Boolean, Decimal, Money, DateTime, Uniqueidentifier, \
    Picklist, MultiSelectPicklist, State, Status, Lookup, Customer or Owner";

/// A column with its metadata.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Column")]
#[schemars(extend(
    "if" = { "properties": { "type": { "const": "Status" } }, "required": ["type"] },
    "then" = { "properties": { "options": { "additionalProperties": { "$ref": "#/$defs/StatusOption" } } } },
    "else" = { "properties": { "options": { "additionalProperties": { "type": "string" } } } },
))]
struct ColumnObject {
    /// The column's type.
    #[serde(rename = "type")]
    #[schemars(extend("enum" = TYPES))]
    kind: String,
    /// The name the platform shows for the column.
    #[serde(default)]
    displayname: Option<String>,
    /// How strongly forms ask for a value (default: None).
    #[serde(default)]
    requiredlevel: RequiredLevel,
    /// The options of a Picklist, MultiSelectPicklist, Boolean (`"0"` false, `"1"` true) or State column, value
    /// → label: `{"1": "Standard"}`; of a Status column, value → label and state:
    /// `{"1": {"label": "Active", "state": 0}}`.
    #[serde(default)]
    #[schemars(extend("propertyNames" = { "pattern": "^-?[0-9]+$" }))]
    #[schemars(with = "Option<BTreeMap<String, OptionForm>>")]
    options: Option<BTreeMap<String, Json>>,
    /// The tables a Lookup may point to (default: any table; Customer: account and contact; Owner: systemuser
    /// and team).
    #[serde(default)]
    targets: Option<Vec<String>>,
    /// A State column's default status for each state: `{"0": 1, "1": 2}`.
    #[serde(default)]
    #[schemars(extend("propertyNames" = { "pattern": "^-?[0-9]+$" }))]
    defaultstatus: Option<BTreeMap<String, i32>>,
    /// The global choice (`optionsets`) a Picklist or MultiSelectPicklist column takes its options from,
    /// instead of `options` of its own.
    #[serde(default)]
    optionset: Option<String>,
}

/// A global choice: options that choice columns of any table can share (`OptionSetMetadata` with
/// `IsGlobal`), read by `RetrieveOptionSet` (META-1).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "OptionSet")]
pub(super) struct OptionSetFile {
    /// The choice's name, such as `new_color`.
    #[schemars(length(min = 1))]
    pub(super) name: String,
    /// The name the platform shows for it.
    #[serde(default)]
    pub(super) displayname: Option<String>,
    /// Option value (a whole number, as a JSON key) → label: `{"1": "Red"}`.
    #[schemars(extend("propertyNames" = { "pattern": "^-?[0-9]+$" }))]
    pub(super) options: BTreeMap<String, String>,
}

/// Reads the organization file's `optionsets` (META-1).
pub(super) fn global_choices(
    path: &Path,
    files: &[OptionSetFile],
) -> Result<BTreeMap<String, GlobalChoice>, FileError> {
    let mut choices = BTreeMap::new();
    for (i, file) in files.iter().enumerate() {
        let at = format!("optionsets[{i}]");
        if file.name.is_empty() {
            return Err(FileError::new(path, format!("{at}.name"), "the choice's name is empty"));
        }
        let raw: BTreeMap<String, Json> =
            file.options.iter().map(|(k, v)| (k.clone(), Json::String(v.clone()))).collect();
        let choice = GlobalChoice { display_name: file.displayname.clone(), labels: labels(path, &at, &raw)? };
        if choices.insert(file.name.clone(), choice).is_some() {
            let message = format!("the choice `{}` is declared twice", file.name);
            return Err(FileError::new(path, format!("{at}.name"), message));
        }
    }
    Ok(choices)
}

/// An option: its label, or for a Status column its label and state. Only its schema is used.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum OptionForm {
    /// The option's label.
    Label(String),
    /// A status option.
    Status(StatusOptionFile),
}

/// A status option: its label and the state it belongs to.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "StatusOption")]
struct StatusOptionFile {
    /// The option's label.
    label: String,
    /// The value of the state (`statecode` option) the status belongs to.
    state: i32,
}

/// What a column's type name makes of it.
enum Kind {
    Plain(ColumnType),
    Choice(ColumnType),
    State,
    Status,
    Lookup(Vec<String>),
}

fn kind(name: &str) -> Option<Kind> {
    let owned = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect();
    Some(match name {
        "State" => Kind::State,
        "Status" => Kind::Status,
        "Lookup" => Kind::Lookup(Vec::new()),
        "Customer" => Kind::Lookup(owned(&["account", "contact"])),
        "Owner" => Kind::Lookup(owned(&["systemuser", "team"])),
        other => match ColumnType::parse(other)? {
            ty @ (ColumnType::Picklist | ColumnType::MultiSelectPicklist | ColumnType::Boolean) => Kind::Choice(ty),
            ty => Kind::Plain(ty),
        },
    })
}

/// Reads one entry of `tables` into the table it names (a new one, or a built-in one extended).
pub(super) fn apply(
    path: &Path,
    at: &str,
    file: &TableFile,
    tables: &mut HashMap<String, Table>,
    choices: &BTreeMap<String, GlobalChoice>,
) -> Result<(), FileError> {
    let ownership = match file.ownership {
        OwnershipFile::UserOwned => Ownership::UserOwned,
        OwnershipFile::OrganizationOwned => Ownership::OrganizationOwned,
    };
    let existing = tables.remove(&file.logicalname);
    let is_new = existing.is_none();
    let mut table = match existing {
        Some(existing) => existing,
        None => {
            let schema = file.schemaname.clone().unwrap_or_else(|| file.logicalname.clone());
            let mut table = Table::new(&file.logicalname, &schema, file.objecttypecode, ownership);
            table.custom = true;
            table
        }
    };
    if let Some(name) = &file.primarynameattribute {
        table.primary_name = Some(name.clone());
        table.columns.entry(name.clone()).or_insert(ColumnType::String);
    }
    if file.displayname.is_some() {
        table.display_name.clone_from(&file.displayname);
    }
    if file.displaycollectionname.is_some() {
        table.display_collection_name.clone_from(&file.displaycollectionname);
    }
    if let Some(set) = &file.entitysetname {
        if set.is_empty() {
            return Err(FileError::new(path, format!("{at}.entitysetname"), "the entity set name is empty"));
        }
        table.entity_set_name.clone_from(set);
    }
    for (name, json) in &file.columns {
        let (ty, meta) = column(path, &format!("{at}.columns.{name}"), json, choices)?;
        if table.columns.insert(name.clone(), ty).is_none() {
            table.custom_columns.insert(name.clone());
        }
        match meta {
            Some(meta) => table.column_meta.insert(name.clone(), meta),
            None => table.column_meta.remove(name),
        };
    }
    check_state_pairs(path, at, &table)?;
    if is_new {
        super::states::apply_default(&mut table);
    }
    for (i, key) in file.keys.iter().enumerate() {
        table.keys.push(alternate_key(path, &format!("{at}.keys[{i}]"), key, &table)?);
    }
    tables.insert(file.logicalname.clone(), table);
    Ok(())
}

/// A column's type and its metadata (none when it declares nothing beyond its type).
fn column(
    path: &Path,
    at: &str,
    json: &Json,
    choices: &BTreeMap<String, GlobalChoice>,
) -> Result<(ColumnType, Option<ColumnMeta>), FileError> {
    let object = match json {
        Json::String(name) => ColumnObject::of_type(name),
        Json::Object(map) if map.contains_key("Lookup") => {
            let targets =
                match input::from_value::<LookupTargets>(path, &format!("{at}.Lookup"), map["Lookup"].clone())? {
                    LookupTargets::One(t) => vec![t],
                    LookupTargets::Many(ts) => ts,
                };
            if map.len() > 1 {
                return Err(FileError::new(
                    path,
                    at,
                    "`{\"Lookup\": …}` takes no other key: write `{\"type\": \"Lookup\", \"targets\": […], …}` for a lookup with metadata",
                ));
            }
            return Ok((ColumnType::Lookup(targets), None));
        }
        Json::Object(_) => input::from_value::<ColumnObject>(path, at, json.clone())?,
        _ => return Err(FileError::new(path, at, format!("expected a type name or an object (types: {TYPE_NAMES})"))),
    };
    let type_at = if json.is_string() { at.to_owned() } else { format!("{at}.type") };
    let kind = kind(&object.kind).ok_or_else(|| {
        FileError::new(path, &type_at, format!("unknown column type `{}` (expected {TYPE_NAMES})", object.kind))
    })?;
    object.build(path, at, kind, choices)
}

impl ColumnObject {
    fn of_type(name: &str) -> ColumnObject {
        ColumnObject {
            kind: name.to_owned(),
            displayname: None,
            requiredlevel: RequiredLevel::None,
            options: None,
            targets: None,
            defaultstatus: None,
            optionset: None,
        }
    }

    fn build(
        self,
        path: &Path,
        at: &str,
        kind: Kind,
        choices: &BTreeMap<String, GlobalChoice>,
    ) -> Result<(ColumnType, Option<ColumnMeta>), FileError> {
        let misplaced = |key: &str, what: &str| {
            FileError::new(path, format!("{at}.{key}"), format!("`{key}` is for {what} columns, not {}", self.kind))
        };
        if self.targets.is_some() && !matches!(kind, Kind::Lookup(_)) {
            return Err(misplaced("targets", "Lookup, Customer and Owner"));
        }
        if self.options.is_some() && matches!(kind, Kind::Plain(_) | Kind::Lookup(_)) {
            return Err(misplaced("options", "Picklist, MultiSelectPicklist, Boolean, State and Status"));
        }
        if self.defaultstatus.is_some() && !matches!(kind, Kind::State) {
            return Err(misplaced("defaultstatus", "State"));
        }
        let global = match &self.optionset {
            None => None,
            Some(_) if self.options.is_some() => {
                let message = "a column takes its options from `optionset` or lists its own `options`, not both";
                return Err(FileError::new(path, format!("{at}.optionset"), message));
            }
            Some(_) if !matches!(kind, Kind::Choice(ColumnType::Picklist | ColumnType::MultiSelectPicklist)) => {
                return Err(misplaced("optionset", "Picklist and MultiSelectPicklist"));
            }
            Some(name) => Some(choices.get(name).ok_or_else(|| {
                let known: Vec<&str> = choices.keys().map(String::as_str).collect();
                let message = format!(
                    "no global choice `{name}` in `optionsets` (declared: {})",
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                );
                FileError::new(path, format!("{at}.optionset"), message)
            })?),
        };
        let raw = self.options.unwrap_or_default();
        let (ty, options) = match kind {
            Kind::Choice(ty) if global.is_some() => {
                (ty, Options::Labels(global.map(|g| g.labels.clone()).unwrap_or_default()))
            }
            Kind::Plain(ty) => (ty, Options::None),
            Kind::Lookup(defaults) => (ColumnType::Lookup(self.targets.unwrap_or(defaults)), Options::None),
            Kind::Choice(ty) if raw.is_empty() => (ty, Options::None),
            Kind::Choice(ty) => {
                let labels = labels(path, at, &raw)?;
                if ty == ColumnType::Boolean
                    && let Some(value) = labels.keys().find(|v| !matches!(v, 0 | 1))
                {
                    let message = "a Boolean column's options are 0 (false) and 1 (true)";
                    return Err(FileError::new(path, format!("{at}.options.{value}"), message));
                }
                (ty, Options::Labels(labels))
            }
            Kind::State => {
                let labels = labels(path, at, &raw)?;
                let defaults = self.defaultstatus.unwrap_or_default();
                let mut states: BTreeMap<i32, StateOption> = labels
                    .into_iter()
                    .map(|(value, label)| (value, StateOption { label, default_status: None }))
                    .collect();
                for (key, status) in &defaults {
                    let key_at = format!("{at}.defaultstatus.{key}");
                    let value = option_value(path, &key_at, key)?;
                    let state = states.get_mut(&value).ok_or_else(|| {
                        FileError::new(path, &key_at, format!("`{key}` is not one of this column's options"))
                    })?;
                    state.default_status = Some(*status);
                }
                (ColumnType::Picklist, Options::State(states))
            }
            Kind::Status => (ColumnType::Picklist, Options::Status(statuses(path, at, &raw)?)),
        };
        let meta = ColumnMeta {
            display_name: self.displayname,
            required_level: self.requiredlevel,
            options,
            global_choice: self.optionset,
        };
        Ok((ty, (meta != ColumnMeta::default()).then_some(meta)))
    }
}

fn option_value(path: &Path, at: &str, key: &str) -> Result<i32, FileError> {
    key.parse().map_err(|_| {
        FileError::new(path, at, format!("an option's value is a whole number, such as \"1\": not `{key}`"))
    })
}

/// Options written as value → label.
fn labels(path: &Path, at: &str, raw: &BTreeMap<String, Json>) -> Result<BTreeMap<i32, String>, FileError> {
    let mut labels = BTreeMap::new();
    for (key, label) in raw {
        let key_at = format!("{at}.options.{key}");
        let value = option_value(path, &key_at, key)?;
        let Json::String(label) = label else {
            return Err(FileError::new(path, key_at, "expected the option's label (a string)"));
        };
        if labels.insert(value, label.clone()).is_some() {
            return Err(FileError::new(path, key_at, format!("the option {value} is given twice")));
        }
    }
    Ok(labels)
}

/// Options of a Status column, written as value → `{"label": …, "state": …}`.
fn statuses(path: &Path, at: &str, raw: &BTreeMap<String, Json>) -> Result<BTreeMap<i32, StatusOption>, FileError> {
    let mut statuses = BTreeMap::new();
    for (key, option) in raw {
        let key_at = format!("{at}.options.{key}");
        let value = option_value(path, &key_at, key)?;
        if !option.is_object() {
            let message = "a Status column's option is `{\"label\": \"Active\", \"state\": 0}`: its label and the state it belongs to";
            return Err(FileError::new(path, key_at, message));
        }
        let StatusOptionFile { label, state } = input::from_value(path, &key_at, option.clone())?;
        if statuses.insert(value, StatusOption { label, state }).is_some() {
            return Err(FileError::new(path, key_at, format!("the option {value} is given twice")));
        }
    }
    Ok(statuses)
}

/// A table has at most one State and one Status column, and where both list their options, each status
/// belongs to a state and each state's default status is one of its own.
fn check_state_pairs(path: &Path, at: &str, table: &Table) -> Result<(), FileError> {
    let mut state: Option<(&str, &BTreeMap<i32, StateOption>)> = None;
    let mut status: Option<(&str, &BTreeMap<i32, StatusOption>)> = None;
    let mut names: Vec<&str> = table.column_meta.keys().map(String::as_str).collect();
    names.sort_unstable();
    for name in names {
        match &table.column_meta[name].options {
            Options::State(options) => {
                if let Some((first, _)) = state.replace((name, options)) {
                    return Err(two_of(path, at, "State", first, name));
                }
            }
            Options::Status(options) => {
                if let Some((first, _)) = status.replace((name, options)) {
                    return Err(two_of(path, at, "Status", first, name));
                }
            }
            Options::None | Options::Labels(_) => {}
        }
    }
    let (Some((state_name, states)), Some((status_name, statuses))) = (state, status) else { return Ok(()) };
    if !states.is_empty() {
        for (value, status) in statuses {
            if !states.contains_key(&status.state) {
                return Err(FileError::new(
                    path,
                    format!("{at}.columns.{status_name}.options.{value}.state"),
                    format!("{} is not an option of the State column `{state_name}`", status.state),
                ));
            }
        }
    }
    if !statuses.is_empty() {
        for (value, state) in states {
            let Some(default) = state.default_status else { continue };
            if statuses.get(&default).is_none_or(|s| s.state != *value) {
                return Err(FileError::new(
                    path,
                    format!("{at}.columns.{state_name}.defaultstatus.{value}"),
                    format!("{default} is not a status of state {value} in the Status column `{status_name}`"),
                ));
            }
        }
    }
    Ok(())
}

fn two_of(path: &Path, at: &str, kind: &str, first: &str, second: &str) -> FileError {
    FileError::new(
        path,
        format!("{at}.columns.{second}"),
        format!("a table has one {kind} column, and `{first}` is already one"),
    )
}

fn alternate_key(path: &Path, at: &str, key: &KeyFile, table: &Table) -> Result<AlternateKey, FileError> {
    if key.name.is_empty() {
        return Err(FileError::new(path, format!("{at}.name"), "the key's name is empty"));
    }
    if table.keys.iter().any(|k| k.name == key.name) {
        return Err(FileError::new(path, format!("{at}.name"), format!("the key `{}` is declared twice", key.name)));
    }
    if key.columns.is_empty() {
        return Err(FileError::new(path, format!("{at}.columns"), "a key names at least one column"));
    }
    for (j, column) in key.columns.iter().enumerate() {
        if !table.columns.contains_key(column) {
            let message = format!("`{}` has no column `{column}`", table.logical_name);
            return Err(FileError::new(path, format!("{at}.columns[{j}]"), message));
        }
        if key.columns[..j].contains(column) {
            let message = format!("the column `{column}` is named twice");
            return Err(FileError::new(path, format!("{at}.columns[{j}]"), message));
        }
    }
    Ok(AlternateKey { name: key.name.clone(), columns: key.columns.clone() })
}
