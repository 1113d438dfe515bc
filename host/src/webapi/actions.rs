//! Actions: the organization's custom APIs, unbound (`POST {Name}`) or bound to a record
//! (`POST {set}({id})/Microsoft.Dynamics.CRM.{Name}`), their request parameters read from the JSON body by
//! the types the API declares and their response properties written as JSON; and the bulk messages
//! `CreateMultiple` / `UpsertMultiple` bound to an entity set (`{"Targets": [...]}`, answering `{"Ids": [...]}`).

use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{Map, Value as Json, json};
use xrm_model::{Entity, EntityCollection, EntityReference, ParameterValue, Request, Response, Uuid, Value, messages};

use super::errors::ApiError;
use super::json::{Annotations, entity_from_json, entity_to_json, key_reference, table_of_set, value_to_json};
use super::path::RecordKey;
use super::{Answer, Caller, Context, Shared, respond};
use crate::org::{CustomApi, Organization, ParameterType, Table};
use crate::pipeline::Session;

/// `POST {Name}` or `POST {set}[({key})]/Microsoft.Dynamics.CRM.{Name}`.
#[allow(clippy::too_many_arguments)]
pub(super) fn action(
    shared: &Shared,
    session: &mut Session,
    caller: &Caller,
    context: &Context,
    bound: Option<(&Table, Option<&RecordKey>)>,
    name: &str,
    body: &Bytes,
) -> Result<Answer, ApiError> {
    let org = shared.pipeline.org();
    let object = body_object(name, body)?;
    if let Some(api) = org.custom_apis.get(name) {
        let mut request = Request::new(name);
        match (&api.bound_entity, bound) {
            (None, None) => {}
            (Some(table), Some((bound, Some(key)))) if *table == bound.logical_name => {
                request
                    .parameters
                    .insert(messages::TARGET.into(), ParameterValue::Value(Value::Lookup(key_reference(bound, key)?)));
            }
            (Some(table), _) => {
                return Err(ApiError::bad_request(format!(
                    "The action '{name}' is bound to the table '{table}': call it as POST {}({{id}})/Microsoft.Dynamics.CRM.{name}",
                    org.table(table).map_or(table.as_str(), |t| t.entity_set_name.as_str())
                )));
            }
            (None, Some(_)) => {
                return Err(ApiError::bad_request(format!(
                    "The action '{name}' is not bound to a table: call it as POST {name}"
                )));
            }
        }
        for (key, item) in object {
            if key.contains('@') {
                continue;
            }
            let Some(parameter) = api.request.iter().find(|p| p.name == key) else {
                return Err(ApiError::bad_payload(format!(
                    "The action '{name}' has no parameter '{key}' (its parameters: {})",
                    api.request.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
                )));
            };
            if item.is_null() {
                continue;
            }
            request.parameters.insert(key.clone(), parameter_value(org, name, &key, parameter.kind, &item)?);
        }
        let response = caller.send(session, request)?;
        return Ok(custom_response(org, context, api, &response));
    }
    match (name, bound) {
        (messages::CREATE_MULTIPLE | messages::UPSERT_MULTIPLE, Some((table, None))) => {
            bulk(org, session, caller, context, name, table, object)
        }
        (messages::CREATE_MULTIPLE | messages::UPSERT_MULTIPLE, _) => Err(ApiError::bad_request(format!(
            "{name} is bound to an entity set: call it as POST {{set}}/Microsoft.Dynamics.CRM.{name}"
        ))),
        _ if messages::is_built_in(name) => Err(ApiError::not_supported(format!("The action '{name}'"))),
        _ => Err(ApiError::not_found(format!(
            "Resource not found for the segment '{name}': the organization has no custom API (action) of this name"
        ))),
    }
}

/// The body of an action: a JSON object (no body: no parameters).
fn body_object(name: &str, body: &Bytes) -> Result<Map<String, Json>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Json::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::bad_payload(format!("The body of the action '{name}' must be a JSON object"))),
        Err(e) => Err(ApiError::bad_payload(format!("The body of the action '{name}' is not JSON: {e}"))),
    }
}

/// `CreateMultiple` / `UpsertMultiple` on an entity set.
fn bulk(
    org: &Organization,
    session: &mut Session,
    caller: &Caller,
    context: &Context,
    name: &str,
    table: &Table,
    mut object: Map<String, Json>,
) -> Result<Answer, ApiError> {
    let Some(Json::Array(targets)) = object.remove(messages::TARGETS) else {
        return Err(ApiError::bad_payload(format!("{name} needs \"Targets\": an array of records")));
    };
    let mut entities = Vec::with_capacity(targets.len());
    for target in &targets {
        entities.push(typed_entity(org, name, messages::TARGETS, Some(table), target)?);
    }
    let collection =
        EntityCollection { entity_name: table.logical_name.clone(), entities, ..EntityCollection::default() };
    let mut request = Request::new(name);
    request.parameters.insert(messages::TARGETS.into(), ParameterValue::EntityCollection(collection));
    let response = caller.send(session, request)?;
    let ids: Vec<Uuid> = match (response.results.get(messages::IDS), response.results.get(messages::RESULTS)) {
        (Some(ParameterValue::Guids(ids)), _) => ids.clone(),
        (_, Some(ParameterValue::Responses(results))) => results
            .iter()
            .filter_map(|r| match r.results.get(messages::TARGET) {
                Some(ParameterValue::Value(Value::Lookup(r))) => Some(r.id),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let body = json!({
        "@odata.context": format!("{}$metadata#Microsoft.Dynamics.CRM.{name}Response", context.base),
        "Ids": ids.iter().map(Uuid::to_string).collect::<Vec<_>>(),
    });
    Ok(respond(StatusCode::OK, Some(body.to_string())))
}

/// A record in an action's body: its table from `@odata.type` (`Microsoft.Dynamics.CRM.account`), or
/// `table` when it has none.
fn typed_entity(
    org: &Organization,
    action: &str,
    parameter: &str,
    table: Option<&Table>,
    item: &Json,
) -> Result<Entity, ApiError> {
    let wrong = |why: String| ApiError::bad_payload(format!("The parameter '{parameter}' of '{action}': {why}"));
    let Json::Object(object) = item else { return Err(wrong(format!("'{item}' is not a record (a JSON object)"))) };
    let named = object.get("@odata.type").and_then(Json::as_str).map(|t| t.trim_start_matches('#'));
    let table = match (named, table) {
        (Some(name), expected) => {
            let logical = name.strip_prefix("Microsoft.Dynamics.CRM.").unwrap_or(name);
            let found = org.table(logical).ok_or_else(|| wrong(format!("no table is named '{logical}'")))?;
            if let Some(expected) = expected.filter(|e| e.logical_name != found.logical_name) {
                return Err(wrong(format!("a record of '{}' where '{}' is expected", logical, expected.logical_name)));
            }
            found
        }
        (None, Some(table)) => table,
        (None, None) => {
            return Err(wrong("a record needs \"@odata.type\": \"Microsoft.Dynamics.CRM.{table}\"".to_owned()));
        }
    };
    entity_from_json(org, table, item.to_string().as_bytes())
}

/// A parameter of a custom API read as its declared type.
fn parameter_value(
    org: &Organization,
    action: &str,
    name: &str,
    kind: ParameterType,
    item: &Json,
) -> Result<ParameterValue, ApiError> {
    let wrong = |form: &str| {
        ApiError::bad_payload(format!(
            "The parameter '{name}' of '{action}' is {kind:?}: expected {form}, found {item}"
        ))
    };
    let text = || item.as_str().ok_or_else(|| wrong("a string"));
    let number_text = || item.as_number().map(ToString::to_string).ok_or_else(|| wrong("a number"));
    let value = match kind {
        ParameterType::String => Value::Text(text()?.to_owned()),
        ParameterType::Integer => {
            Value::Integer(item.as_i64().and_then(|n| i32::try_from(n).ok()).ok_or_else(|| wrong("a whole number"))?)
        }
        ParameterType::Boolean => Value::Boolean(item.as_bool().ok_or_else(|| wrong("true or false"))?),
        ParameterType::Float => Value::Double(item.as_f64().ok_or_else(|| wrong("a number"))?),
        ParameterType::Decimal => Value::Decimal(number_text()?),
        ParameterType::Money => Value::Money(number_text()?),
        ParameterType::Picklist => {
            Value::Choice(item.as_i64().and_then(|n| i32::try_from(n).ok()).ok_or_else(|| wrong("an integer"))?)
        }
        ParameterType::DateTime => crate::query::values::parse_value(&crate::org::ColumnType::DateTime, text()?)
            .ok_or_else(|| wrong("an ISO 8601 date"))?,
        ParameterType::Guid => {
            Value::Guid(Uuid::try_parse(text()?.trim_matches(['{', '}'])).map_err(|_| wrong("a GUID"))?)
        }
        ParameterType::EntityReference => {
            let entity = typed_entity(org, action, name, None, item)?;
            let table = org.require_table(&entity.logical_name).map_err(ApiError::from)?;
            let id = entity.id.ok_or_else(|| wrong(&format!("a record with its {}", table.primary_id)))?;
            Value::Lookup(EntityReference::new(entity.logical_name, id))
        }
        ParameterType::Entity => return Ok(ParameterValue::Entity(typed_entity(org, action, name, None, item)?)),
        ParameterType::EntityCollection => {
            let Json::Array(items) = item else { return Err(wrong("an array of records")) };
            let mut collection = EntityCollection::default();
            for item in items {
                collection.entities.push(typed_entity(org, action, name, None, item)?);
            }
            return Ok(ParameterValue::EntityCollection(collection));
        }
    };
    Ok(ParameterValue::Value(value))
}

/// A custom API's answer: `204` when it declares no response property, else `200` with them.
fn custom_response(org: &Organization, context: &Context, api: &CustomApi, response: &Response) -> Answer {
    if api.response.is_empty() {
        return respond(StatusCode::NO_CONTENT, None);
    }
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        json!(format!("{}$metadata#Microsoft.Dynamics.CRM.{}Response", context.base, api.unique_name)),
    );
    for parameter in &api.response {
        let value = match response.results.get(&parameter.name) {
            None => Json::Null,
            Some(ParameterValue::Value(Value::Lookup(r))) => reference_json(org, r),
            Some(ParameterValue::Value(v)) => value_to_json(v),
            Some(ParameterValue::Entity(e)) => record_json(org, e),
            Some(ParameterValue::EntityCollection(c)) => {
                Json::Array(c.entities.iter().map(|e| record_json(org, e)).collect())
            }
            Some(_) => Json::Null,
        };
        body.insert(parameter.name.clone(), value);
    }
    respond(StatusCode::OK, Some(Json::Object(body).to_string()))
}

fn reference_json(org: &Organization, r: &EntityReference) -> Json {
    let primary = org.table(&r.logical_name).map_or_else(|| format!("{}id", r.logical_name), |t| t.primary_id.clone());
    json!({ "@odata.type": format!("#Microsoft.Dynamics.CRM.{}", r.logical_name), primary: r.id.to_string() })
}

fn record_json(org: &Organization, e: &Entity) -> Json {
    let primary = org.table(&e.logical_name).map_or_else(|| format!("{}id", e.logical_name), |t| t.primary_id.clone());
    let mut object = Map::new();
    object.insert("@odata.type".into(), json!(format!("#Microsoft.Dynamics.CRM.{}", e.logical_name)));
    object.extend(entity_to_json(e, &primary, Annotations::default()));
    Json::Object(object)
}

/// The table bound in the URL (`{set}` of `{set}(…)/Microsoft.Dynamics.CRM.{Name}`).
pub(super) fn bound_table<'o>(org: &'o Organization, set: &str) -> Result<&'o Table, ApiError> {
    table_of_set(org, set)
}
