//! `EntityDefinitions`: what clients look up about a table before they call it (its entity set name, its
//! primary id and name columns, its alternate keys), answered from the organization's tables.

use hyper::StatusCode;
use serde_json::{Map, Value as Json, json};

use super::errors::ApiError;
use super::path::{RecordKey, query_pairs};
use super::{Answer, Context, respond};
use crate::org::{Organization, Table};

/// The properties of an entity definition served, in the order written.
const PROPERTIES: [&str; 8] = [
    "LogicalName",
    "SchemaName",
    "EntitySetName",
    "LogicalCollectionName",
    "PrimaryIdAttribute",
    "PrimaryNameAttribute",
    "ObjectTypeCode",
    "IsCustomEntity",
];

/// The `$select` of the raw query string, as written (property names keep their case).
fn select(raw_query: &str) -> Result<Option<Vec<String>>, ApiError> {
    Ok(query_pairs(raw_query)?
        .into_iter()
        .find(|(name, _)| name == "$select")
        .map(|(_, value)| value.split(',').map(|p| p.trim().to_owned()).collect()))
}

fn definition(table: &Table, select: Option<&[String]>) -> Result<Map<String, Json>, ApiError> {
    let value = |property: &str| -> Option<Json> {
        Some(match property {
            "LogicalName" => json!(table.logical_name),
            "SchemaName" => json!(table.schema_name),
            "EntitySetName" | "LogicalCollectionName" => json!(table.entity_set_name),
            "PrimaryIdAttribute" => json!(table.primary_id),
            "PrimaryNameAttribute" => table.primary_name.as_ref().map_or(Json::Null, |n| json!(n)),
            "ObjectTypeCode" => json!(table.object_type_code),
            "IsCustomEntity" => json!(table.custom),
            _ => return None,
        })
    };
    let mut object = Map::new();
    match select {
        None => {
            for property in PROPERTIES {
                object.insert(property.to_owned(), value(property).unwrap_or(Json::Null));
            }
        }
        Some(properties) => {
            for property in properties {
                let found = value(property).ok_or_else(|| {
                    ApiError::not_supported(format!(
                        "The EntityDefinitions property '{property}' (served: {})",
                        PROPERTIES.join(", ")
                    ))
                })?;
                object.insert(property.clone(), found);
            }
        }
    }
    Ok(object)
}

/// `EntityDefinitions(LogicalName='account')` and its `/Keys`.
pub(super) fn entity(
    org: &Organization,
    context: &Context,
    key: &RecordKey,
    segment: Option<&str>,
    raw_query: &str,
) -> Result<Answer, ApiError> {
    let logical = match key {
        RecordKey::Keys(pairs) if pairs.len() == 1 && pairs[0].0.eq_ignore_ascii_case("LogicalName") => &pairs[0].1,
        _ => return Err(ApiError::not_supported("EntityDefinitions by another key than LogicalName='…'")),
    };
    let table = org.table(logical).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            xrm_model::codes::OBJECT_DOES_NOT_EXIST,
            format!("Could not find an entity with the LogicalName '{logical}'"),
        )
    })?;
    let base = format!("{}$metadata#EntityDefinitions", context.base);
    let body = match segment {
        None => {
            let mut body = Map::new();
            body.insert("@odata.context".into(), json!(format!("{base}/$entity")));
            body.extend(definition(table, select(raw_query)?.as_deref())?);
            Json::Object(body)
        }
        Some("Keys") => {
            let keys: Vec<Json> = table
                .keys
                .iter()
                .map(|k| {
                    json!({
                        "LogicalName": k.name,
                        "SchemaName": k.name,
                        "EntityLogicalName": table.logical_name,
                        "KeyAttributes": k.columns,
                    })
                })
                .collect();
            json!({ "@odata.context": format!("{base}('{}')/Keys", table.logical_name), "value": keys })
        }
        Some(other) => {
            return Err(ApiError::not_supported(format!("The EntityDefinitions segment '{other}'")));
        }
    };
    Ok(respond(StatusCode::OK, Some(body.to_string())))
}

/// `EntityDefinitions`: every table, sorted by logical name.
pub(super) fn entities(org: &Organization, context: &Context, raw_query: &str) -> Result<Answer, ApiError> {
    if query_pairs(raw_query)?.iter().any(|(name, _)| name != "$select") {
        return Err(ApiError::not_supported("EntityDefinitions with query options other than $select"));
    }
    let select = select(raw_query)?;
    let mut tables: Vec<&Table> = org.tables.values().collect();
    tables.sort_by(|a, b| a.logical_name.cmp(&b.logical_name));
    let values = tables
        .into_iter()
        .map(|t| definition(t, select.as_deref()).map(Json::Object))
        .collect::<Result<Vec<_>, _>>()?;
    let body = json!({ "@odata.context": format!("{}$metadata#EntityDefinitions", context.base), "value": values });
    Ok(respond(StatusCode::OK, Some(body.to_string())))
}
