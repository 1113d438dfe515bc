//! A table of the organization file (`formats.md`, "Table metadata") from a solution's `<Entity>`: names,
//! ownership, the Web API set name, alternate keys, and each column's type, display name, required level and
//! choices with their labels (the table's own, or a global choice it names).

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value as Json, json};

use super::xml::Node;

/// What an `<Entity>` gives: the table entry (without its object type code when the export has none), and
/// the columns that were not carried over, with why.
pub struct TableDef {
    pub logical_name: String,
    pub object_type_code: Option<i32>,
    pub json: Map<String, Json>,
    pub skipped: Vec<String>,
}

/// The columns every table has already (`org::Table::new`), left to the sandbox: the state and status keep
/// their choices from the export.
fn platform_column(table: &crate::org::Table, column: &str) -> bool {
    table.columns.contains_key(column) && column != "statecode" && column != "statuscode"
}

/// Reads an `<Entity>`; `lookups` gives the tables each lookup column points to, by (table, column).
pub fn table(
    entity: &Node,
    option_sets: &HashMap<String, Node>,
    lookups: &HashMap<(String, String), Vec<String>>,
) -> Option<TableDef> {
    let info = entity.at(&["EntityInfo", "entity"])?;
    let schema = info.attribute("Name").or_else(|| entity.value("Name"))?.to_owned();
    let logical = schema.to_lowercase();
    let ownership = match info.value("OwnershipTypeMask") {
        Some("UserOwned") | None => "UserOwned",
        Some(_) => "OrganizationOwned",
    };
    let platform = crate::org::Table::new(&logical, &schema, 0, crate::org::Ownership::UserOwned);
    let mut json = Map::new();
    json.insert("logicalname".into(), json!(logical));
    json.insert("schemaname".into(), json!(schema));
    json.insert("ownership".into(), json!(ownership));
    let names = |list: &str| info.child(list).and_then(Node::label).map(str::to_owned);
    if let Some(name) = names("LocalizedNames") {
        json.insert("displayname".into(), json!(name));
    }
    if let Some(name) = names("LocalizedCollectionNames") {
        json.insert("displaycollectionname".into(), json!(name));
    }
    if let Some(set) = info.value("EntitySetName") {
        json.insert("entitysetname".into(), json!(set));
    }
    let mut columns = BTreeMap::new();
    let mut skipped = Vec::new();
    let mut primary_name = None;
    for attribute in info.child("attributes").into_iter().flat_map(|a| a.all("attribute")) {
        let Some(name) = attribute.value("LogicalName").or_else(|| attribute.value("Name")) else { continue };
        let name = name.to_lowercase();
        if platform_column(&platform, &name) || attribute.value("Type") == Some("primarykey") {
            continue;
        }
        if attribute.value("DisplayMask").is_some_and(|m| m.contains("PrimaryName")) {
            primary_name = Some(name.clone());
        }
        match column(attribute, option_sets, lookups.get(&(logical.clone(), name.clone()))) {
            Ok(c) => {
                columns.insert(name, c);
            }
            Err(why) => skipped.push(format!("`{logical}.{name}`: {why}")),
        }
    }
    if let Some(name) = primary_name {
        json.insert("primarynameattribute".into(), json!(name));
    }
    let keys = keys(info, &columns, &platform);
    json.insert("columns".into(), Json::Object(columns.into_iter().collect()));
    if !keys.is_empty() {
        json.insert("keys".into(), Json::Array(keys));
    }
    let object_type_code = info.value("ObjectTypeCode").and_then(|c| c.parse().ok());
    Some(TableDef { logical_name: logical, object_type_code, json, skipped })
}

/// A column in the object form, or why it is not carried over.
fn column(
    attribute: &Node,
    option_sets: &HashMap<String, Node>,
    targets: Option<&Vec<String>>,
) -> Result<Json, String> {
    let kind = attribute.value("Type").unwrap_or_default().to_ascii_lowercase();
    let ty = match kind.as_str() {
        "nvarchar" | "string" => "String",
        "ntext" | "memo" => "Memo",
        "int" | "integer" => "Integer",
        "bigint" => "BigInt",
        "float" | "double" => "Double",
        "decimal" => "Decimal",
        "money" => "Money",
        "datetime" => "DateTime",
        "bit" | "boolean" => "Boolean",
        "uniqueidentifier" => "Uniqueidentifier",
        "picklist" => "Picklist",
        "multiselectpicklist" => "MultiSelectPicklist",
        "state" => "State",
        "status" => "Status",
        "lookup" => "Lookup",
        "customer" => "Customer",
        "owner" => "Owner",
        other => return Err(format!("type `{other}` has no counterpart in the sandbox")),
    };
    let mut out = Map::new();
    out.insert("type".into(), json!(ty));
    if let Some(name) = attribute.child("displaynames").and_then(Node::label) {
        out.insert("displayname".into(), json!(name));
    }
    let level = match attribute.value("RequiredLevel").map(str::to_ascii_lowercase).as_deref() {
        Some("recommended") => Some("Recommended"),
        Some("required" | "applicationrequired") => Some("ApplicationRequired"),
        Some("systemrequired") => Some("SystemRequired"),
        _ => None,
    };
    if let Some(level) = level {
        out.insert("requiredlevel".into(), json!(level));
    }
    let set = attribute
        .child("optionset")
        .or_else(|| attribute.value("OptionSetName").and_then(|name| option_sets.get(&name.to_ascii_lowercase())));
    if let Some(set) = set {
        options(ty, set, &mut out);
    }
    if ty == "Lookup"
        && let Some(targets) = targets
    {
        out.insert("targets".into(), json!(targets));
    }
    Ok(Json::Object(out))
}

/// The labels of a choice, or a state's labels and default statuses, or a status's labels and states.
fn options(ty: &str, set: &Node, out: &mut Map<String, Json>) {
    let label = |n: &Node| n.child("labels").and_then(Node::label).unwrap_or_default().to_owned();
    match ty {
        "State" => {
            let states = set.child("states").into_iter().flat_map(|s| s.all("state"));
            let (mut labels, mut defaults) = (Map::new(), Map::new());
            for s in states {
                let Some(value) = s.attribute("value") else { continue };
                labels.insert(value.to_owned(), json!(label(s)));
                if let Some(default) = s.attribute("defaultstatus").and_then(|d| d.parse::<i32>().ok()) {
                    defaults.insert(value.to_owned(), json!(default));
                }
            }
            out.insert("options".into(), Json::Object(labels));
            if !defaults.is_empty() {
                out.insert("defaultstatus".into(), Json::Object(defaults));
            }
        }
        "Status" => {
            let statuses = set.child("statuses").into_iter().flat_map(|s| s.all("status"));
            let mut labels = Map::new();
            for s in statuses {
                let (Some(value), Some(state)) =
                    (s.attribute("value"), s.attribute("state").and_then(|v| v.parse::<i32>().ok()))
                else {
                    continue;
                };
                labels.insert(value.to_owned(), json!({ "label": label(s), "state": state }));
            }
            out.insert("options".into(), Json::Object(labels));
        }
        "Picklist" | "MultiSelectPicklist" | "Boolean" => {
            let items = set.child("options").into_iter().flat_map(|o| o.all("option"));
            let labels: Map<String, Json> =
                items.filter_map(|o| Some((o.attribute("value")?.to_owned(), json!(label(o))))).collect();
            if !labels.is_empty() {
                out.insert("options".into(), Json::Object(labels));
            }
        }
        _ => {}
    }
}

/// Alternate keys whose columns all made it into the table.
fn keys(info: &Node, columns: &BTreeMap<String, Json>, platform: &crate::org::Table) -> Vec<Json> {
    let keys = info.child("EntityKeys").into_iter().flat_map(|k| k.all("EntityKey"));
    keys.filter_map(|key| {
        let name = key.value("LogicalName").or_else(|| key.value("Name"))?.to_lowercase();
        let cols: Vec<String> =
            key.child("EntityKeyAttributes")?.all("AttributeName").map(|a| a.text.trim().to_lowercase()).collect();
        let known = |c: &String| columns.contains_key(c) || platform.columns.contains_key(c);
        (!cols.is_empty() && cols.iter().all(known)).then(|| json!({ "name": name, "columns": cols }))
    })
    .collect()
}

/// Lookup targets from one-to-many relationships: (referencing table, column) → referenced tables.
pub fn lookup_targets(relationships: &[Node]) -> HashMap<(String, String), Vec<String>> {
    let mut targets: HashMap<(String, String), Vec<String>> = HashMap::new();
    for r in relationships {
        let (Some(from), Some(column), Some(to)) =
            (r.value("ReferencingEntityName"), r.value("ReferencingAttributeName"), r.value("ReferencedEntityName"))
        else {
            continue;
        };
        let list = targets.entry((from.to_lowercase(), column.to_lowercase())).or_default();
        let to = to.to_lowercase();
        if !list.contains(&to) {
            list.push(to);
        }
    }
    targets
}
