//! The metadata messages (META-1): `RetrieveEntity`, `RetrieveAttribute`, `RetrieveAllEntities` and
//! `RetrieveOptionSet`, answered from the organization's tables (built in and declared in the organization
//! file, with their display names, required levels and option labels) and its global choices.

use xrm_model::metadata::entity_filters;
use xrm_model::{
    AttributeMetadata, EntityKeyMetadata, EntityMetadata, Fault, Metadata, OptionMetadata, OptionSetMetadata,
    ParameterValue, Parameters, Request, Value, codes, messages,
};

use crate::org::Organization;
use crate::org::metadata::{GlobalChoice, Options, RequiredLevel};
use crate::org::tables::{ColumnType, Ownership, Table};

/// Runs one of the metadata messages: its response parameters.
pub fn run(org: &Organization, request: &Request) -> Result<Parameters, Fault> {
    let (name, metadata) = match request.message.as_str() {
        messages::RETRIEVE_ENTITY => {
            let table = table(org, &text(request, "LogicalName")?)?;
            ("EntityMetadata", Metadata::Entity(entity(org, table, filters(request)?)))
        }
        messages::RETRIEVE_ALL_ENTITIES => {
            let filters = filters(request)?;
            let mut tables: Vec<&Table> = org.tables.values().collect();
            tables.sort_by(|a, b| a.logical_name.cmp(&b.logical_name));
            ("EntityMetadata", Metadata::Entities(tables.into_iter().map(|t| entity(org, t, filters)).collect()))
        }
        messages::RETRIEVE_ATTRIBUTE => {
            let table = table(org, &text(request, "EntityLogicalName")?)?;
            let column = text(request, "LogicalName")?;
            if !table.columns.contains_key(&column) {
                return Err(Fault::new(
                    codes::OBJECT_DOES_NOT_EXIST,
                    format!("Could not find an attribute with name '{column}' on the table '{}'", table.logical_name),
                ));
            }
            ("AttributeMetadata", Metadata::Attribute(attribute(org, table, &column)))
        }
        messages::RETRIEVE_OPTION_SET => {
            let name = text(request, "Name")?;
            let choice = org.option_sets.get(&name).ok_or_else(|| {
                Fault::new(codes::OBJECT_DOES_NOT_EXIST, format!("Could not find a global choice with name '{name}'"))
            })?;
            ("OptionSetMetadata", Metadata::OptionSet(global(&name, choice)))
        }
        other => return Err(Fault::new(codes::INVALID_ARGUMENT, format!("`{other}` is not a metadata message"))),
    };
    Ok(Parameters::from([(name.to_owned(), ParameterValue::Metadata(metadata))]))
}

/// Whether the message is one of the metadata messages.
pub fn is_metadata(message: &str) -> bool {
    matches!(
        message,
        messages::RETRIEVE_ENTITY
            | messages::RETRIEVE_ATTRIBUTE
            | messages::RETRIEVE_ALL_ENTITIES
            | messages::RETRIEVE_OPTION_SET
    )
}

fn text(request: &Request, name: &str) -> Result<String, Fault> {
    match request.parameter(name) {
        Some(ParameterValue::Value(Value::Text(s))) if !s.is_empty() => Ok(s.clone()),
        _ => Err(Fault::new(
            codes::INVALID_ARGUMENT,
            format!("the {} request needs {name} (the logical name, as text)", request.message),
        )),
    }
}

/// `EntityFilters`: a number (the platform's flags: Entity 1, Attributes 2, Privileges 4, Relationships 8,
/// All 15) or the members' names (`"Entity, Attributes"`); none: `Default` (the table alone).
fn filters(request: &Request) -> Result<i32, Fault> {
    let bad = |found: &str| {
        Fault::new(
            codes::INVALID_ARGUMENT,
            format!(
                "EntityFilters of {} is a number or names of Entity, Default, Attributes, Privileges, Relationships and All: not {found}",
                request.message
            ),
        )
    };
    match request.parameter("EntityFilters") {
        None => Ok(entity_filters::DEFAULT),
        Some(ParameterValue::Value(Value::Integer(n) | Value::Choice(n))) => Ok(*n),
        Some(ParameterValue::Value(Value::Text(names))) => names.split(',').map(str::trim).try_fold(0, |all, name| {
            Ok(all
                | match name {
                    "Entity" | "Default" => entity_filters::ENTITY,
                    "Attributes" => entity_filters::ATTRIBUTES,
                    "Privileges" => entity_filters::PRIVILEGES,
                    "Relationships" => entity_filters::RELATIONSHIPS,
                    "All" => entity_filters::ALL,
                    other => return Err(bad(&format!("`{other}`"))),
                })
        }),
        Some(other) => Err(bad(&format!("{other:?}"))),
    }
}

fn table<'o>(org: &'o Organization, name: &str) -> Result<&'o Table, Fault> {
    org.table(name)
        .ok_or_else(|| Fault::new(codes::OBJECT_DOES_NOT_EXIST, format!("Could not find an entity with name '{name}'")))
}

fn entity(org: &Organization, table: &Table, filters: i32) -> EntityMetadata {
    let attributes = match filters & entity_filters::ATTRIBUTES {
        0 => Vec::new(),
        _ => {
            let mut names: Vec<&String> = table.columns.keys().collect();
            names.sort();
            names.into_iter().map(|c| attribute(org, table, c)).collect()
        }
    };
    EntityMetadata {
        logical_name: table.logical_name.clone(),
        schema_name: table.schema_name.clone(),
        object_type_code: table.object_type_code,
        display_name: table.display_name.clone(),
        display_collection_name: table.display_collection_name.clone(),
        entity_set_name: table.entity_set_name.clone(),
        primary_id_attribute: table.primary_id.clone(),
        primary_name_attribute: table.primary_name.clone(),
        ownership_type: match table.ownership {
            Ownership::UserOwned => "UserOwned",
            Ownership::OrganizationOwned => "OrganizationOwned",
            Ownership::BusinessOwned => "BusinessOwned",
        }
        .to_owned(),
        is_activity: table.primary_id == "activityid",
        is_custom_entity: table.custom,
        keys: table
            .keys
            .iter()
            .map(|k| EntityKeyMetadata { logical_name: k.name.clone(), key_attributes: k.columns.clone() })
            .collect(),
        attributes,
    }
}

/// A column's metadata.
fn attribute(org: &Organization, table: &Table, column: &str) -> AttributeMetadata {
    let ty = &table.columns[column];
    let meta = table.column_meta(column);
    let options = meta.map_or(&Options::None, |m| &m.options);
    let attribute_type = match ty {
        ColumnType::Picklist if matches!(options, Options::State(_)) || column == "statecode" => "State".to_owned(),
        ColumnType::Picklist if matches!(options, Options::Status(_)) || column == "statuscode" => "Status".to_owned(),
        ColumnType::MultiSelectPicklist => "Virtual".to_owned(),
        ColumnType::Lookup(_) if column == "ownerid" => "Owner".to_owned(),
        ColumnType::Lookup(targets) if is_customer(targets) => "Customer".to_owned(),
        ColumnType::Lookup(_) => "Lookup".to_owned(),
        other => other.to_string(),
    };
    let required = match meta {
        Some(m) => m.required_level,
        None if column == table.primary_id || column == "ownerid" => RequiredLevel::SystemRequired,
        None => RequiredLevel::None,
    };
    let option_set = match attribute_type.as_str() {
        "State" | "Status" | "Picklist" | "Virtual" | "Boolean" => {
            let global = meta.and_then(|m| m.global_choice.clone());
            let global_name = global.as_ref().and_then(|g| org.option_sets.get(g)?.display_name.clone());
            Some(OptionSetMetadata {
                name: global.clone().unwrap_or_else(|| format!("{}_{column}", table.logical_name)),
                display_name: global_name.or_else(|| meta.and_then(|m| m.display_name.clone())),
                is_global: global.is_some(),
                option_set_type: match attribute_type.as_str() {
                    "Virtual" => "Picklist".to_owned(),
                    other => other.to_owned(),
                },
                options: option_list(options, attribute_type == "Boolean"),
            })
        }
        _ => None,
    };
    AttributeMetadata {
        logical_name: column.to_owned(),
        schema_name: column.to_owned(),
        entity_logical_name: table.logical_name.clone(),
        display_name: meta.and_then(|m| m.display_name.clone()),
        attribute_type,
        required_level: format!("{required:?}"),
        is_primary_id: column == table.primary_id,
        is_primary_name: table.primary_name.as_deref() == Some(column),
        is_custom_attribute: table.custom_columns.contains(column),
        targets: match ty {
            ColumnType::Lookup(targets) | ColumnType::PartyList(targets) => targets.clone(),
            _ => Vec::new(),
        },
        option_set,
    }
}

fn is_customer(targets: &[String]) -> bool {
    targets.len() == 2 && targets.iter().any(|t| t == "account") && targets.iter().any(|t| t == "contact")
}

/// The options in value order; a Boolean column without labels has the platform's `No` (0) and `Yes` (1).
fn option_list(options: &Options, boolean: bool) -> Vec<OptionMetadata> {
    let option =
        |value: i32, label: &str| OptionMetadata { value, label: Some(label.to_owned()), ..OptionMetadata::default() };
    match options {
        Options::None if boolean => vec![option(0, "No"), option(1, "Yes")],
        Options::None => Vec::new(),
        Options::Labels(labels) => labels.iter().map(|(v, l)| option(*v, l)).collect(),
        Options::State(states) => states
            .iter()
            .map(|(v, s)| OptionMetadata { default_status: s.default_status, ..option(*v, &s.label) })
            .collect(),
        Options::Status(statuses) => {
            statuses.iter().map(|(v, s)| OptionMetadata { state: Some(s.state), ..option(*v, &s.label) }).collect()
        }
    }
}

fn global(name: &str, choice: &GlobalChoice) -> OptionSetMetadata {
    OptionSetMetadata {
        name: name.to_owned(),
        display_name: choice.display_name.clone(),
        is_global: true,
        option_set_type: "Picklist".to_owned(),
        options: option_list(&Options::Labels(choice.labels.clone()), false),
    }
}
