//! `…/{navigation}/$ref`: references between records. A many-to-many relationship (its navigation property
//! is its schema name) is Associate (`POST` with `{"@odata.id": "…/{set}(id)"}`) and Disassociate (`DELETE`
//! with `?$id=…/{set}(id)` or `…/{navigation}(id)/$ref`); a single-valued navigation property (a lookup column,
//! as in `@odata.bind`) is an Update of the lookup (`PUT` with `{"@odata.id": …}`, `DELETE` to clear it).

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::Value as Json;
use xrm_model::{Entity, ParameterValue, Request, Value, messages};

use super::errors::ApiError;
use super::json::{bind, key_reference, record_url};
use super::options::QueryOptions;
use super::path::RecordKey;
use super::{Answer, Caller, Shared, respond};
use crate::org::{Relationship, Table};
use crate::pipeline::Session;

#[allow(clippy::too_many_arguments)]
pub(super) fn reference(
    shared: &Shared,
    session: &mut Session,
    caller: &Caller,
    method: &Method,
    table: &Table,
    key: &RecordKey,
    navigation: &str,
    related: Option<&RecordKey>,
    options: &QueryOptions,
    body: &Bytes,
) -> Result<Answer, ApiError> {
    let org = shared.pipeline.org();
    let record = key_reference(table, key)?;
    let relationship = org.relationships.values().find(|r| {
        r.schema_name.eq_ignore_ascii_case(navigation)
            && (r.entity1 == table.logical_name || r.entity2 == table.logical_name)
    });
    let body_target = || -> Result<String, ApiError> {
        let json: Json = serde_json::from_slice(body).map_err(|_| {
            ApiError::bad_payload(format!(
                "A $ref request to '{navigation}' takes {{\"@odata.id\": \"…/{{set}}({{id}})\"}} as its body"
            ))
        })?;
        json.get("@odata.id").and_then(Json::as_str).map(str::to_owned).ok_or_else(|| {
            ApiError::bad_payload(format!("The body of a $ref request to '{navigation}' needs \"@odata.id\""))
        })
    };
    if let Some(relationship) = relationship {
        let (message, other) = match (method, related) {
            (&Method::POST, None) => (messages::ASSOCIATE, record_url(org, &body_target()?)?),
            (&Method::DELETE, Some(related)) => {
                let table_name = other_side(relationship, &table.logical_name);
                let other_table = org.require_table(table_name).map_err(ApiError::from)?;
                (messages::DISASSOCIATE, key_reference(other_table, related)?)
            }
            (&Method::DELETE, None) => {
                let url = options.id.as_deref().ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "A DELETE of '{navigation}/$ref' names the related record: '?$id=…/{{set}}({{id}})' or \
                         '{navigation}({{id}})/$ref'"
                    ))
                })?;
                (messages::DISASSOCIATE, record_url(org, url)?)
            }
            (method, _) => return Err(super::method_not_allowed(method, &format!("{navigation}/$ref"))),
        };
        let mut request = Request::new(message);
        request.parameters.insert(messages::TARGET.into(), ParameterValue::Value(Value::Lookup(record)));
        request
            .parameters
            .insert(messages::RELATIONSHIP.into(), ParameterValue::Relationship(relationship.schema_name.clone()));
        request.parameters.insert(messages::RELATED_ENTITIES.into(), ParameterValue::EntityReferences(vec![other]));
        caller.send(session, request)?;
        return Ok(respond(StatusCode::NO_CONTENT, None));
    }
    // A single-valued navigation property: the lookup column, set or cleared by an Update.
    let value = match (method, related) {
        (&Method::PUT, None) => Json::String(body_target()?),
        (&Method::DELETE, None) => Json::Null,
        (&Method::POST, None) => {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                super::errors::BAD_URL,
                format!(
                    "'{navigation}' is no many-to-many relationship of '{}': set a single-valued navigation \
                     property with PUT …/{navigation}/$ref (collection-valued one-to-many properties are not \
                     served yet)",
                    table.logical_name
                ),
            ));
        }
        (method, _) => return Err(super::method_not_allowed(method, &format!("{navigation}/$ref"))),
    };
    let (column, value) = bind(org, table, navigation, &value).map_err(|e| {
        ApiError::not_found(format!(
            "'{navigation}' is neither a lookup nor a many-to-many relationship of '{}' ({})",
            table.logical_name, e.message
        ))
    })?;
    let mut entity = Entity::new(&table.logical_name);
    match record.id.is_nil() {
        false => entity.id = Some(record.id),
        true => entity.key_attributes = record.key_attributes.clone(),
    }
    entity.attributes.insert(column, value);
    caller.send(session, Request::update(entity))?;
    Ok(respond(StatusCode::NO_CONTENT, None))
}

fn other_side<'r>(relationship: &'r Relationship, table: &str) -> &'r str {
    if relationship.entity1 == table { &relationship.entity2 } else { &relationship.entity1 }
}
