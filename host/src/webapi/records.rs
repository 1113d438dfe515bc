//! The requests on records and entity sets: WhoAmI, Create, Retrieve, PATCH (Update, Create, Upsert), queries
//! and `$count`, each read into organization requests run on the session, and their answers written as the
//! Web API writes them.

use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::{self, HeaderMap, HeaderValue};
use serde_json::{Map, Value as Json, json};
use xrm_model::{
    ColumnSet, Entity, EntityReference, PagingInfo, ParameterValue, Query, QueryExpression, Request, Response, Uuid,
    Value, messages,
};

use super::errors::ApiError;
use super::json::{entity_from_json, entity_to_json, key_reference};
use super::options::QueryOptions;
use super::path::{self, RecordKey};
use super::{Answer, Caller, Context, Shared, filter, header_text, internal, respond, with_header};
use crate::org::Table;
use crate::pipeline::Session;

/// The page size when a client asks for none (`Prefer: odata.maxpagesize`): the platform's.
const DEFAULT_PAGE: u32 = 5000;

fn json_response(status: StatusCode, body: Json) -> Answer {
    respond(status, Some(body.to_string()))
}

/// The record as JSON with its `@odata.context`.
fn record_body(context: &Context, table: &Table, entity: &Entity) -> Json {
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(format!("{}$metadata#{}/$entity", context.base, table.entity_set_name)));
    body.extend(entity_to_json(entity, &table.primary_id, context.prefer.annotations));
    Json::Object(body)
}

fn entity_id_url(context: &Context, table: &Table, id: Uuid) -> String {
    format!("{}{}({id})", context.base, table.entity_set_name)
}

fn retrieved(response: Response) -> Result<Entity, ApiError> {
    match response.results.get(messages::ENTITY) {
        Some(ParameterValue::Entity(e)) => Ok(e.clone()),
        _ => Err(internal("Retrieve returned no entity")),
    }
}

pub(super) fn who_am_i(session: &mut Session, caller: &Caller, context: &Context) -> Result<Answer, ApiError> {
    let response = caller.send(session, Request::new(messages::WHO_AM_I))?;
    let id = |name: &str| match response.results.get(name) {
        Some(ParameterValue::Value(Value::Guid(id))) => json!(id.to_string()),
        _ => Json::Null,
    };
    Ok(json_response(
        StatusCode::OK,
        json!({
            "@odata.context": format!("{}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse", context.base),
            "BusinessUnitId": id(messages::BUSINESS_UNIT_ID),
            "UserId": id(messages::USER_ID),
            "OrganizationId": id(messages::ORGANIZATION_ID),
        }),
    ))
}

fn body_entity(shared: &Shared, table: &Table, body: &[u8]) -> Result<Entity, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_payload(format!(
            "The request to '{}' has no body: send the record's columns as a JSON object",
            table.entity_set_name
        )));
    }
    entity_from_json(shared.pipeline.org(), table, body)
}

pub(super) fn create(
    shared: &Shared,
    s: &mut Session,
    caller: &Caller,
    context: &Context,
    table: &Table,
    options: &QueryOptions,
    body: Bytes,
) -> Result<Answer, ApiError> {
    let entity = body_entity(shared, table, &body)?;
    let (logical, columns, representation) =
        (table.logical_name.clone(), options.columns(), context.prefer.representation);
    let response = caller.send(s, Request::create(entity))?;
    let Some(ParameterValue::Value(Value::Guid(id))) = response.results.get(messages::ID).cloned() else {
        return Err(internal("Create returned no id"));
    };
    let record = match representation {
        true => Some(retrieved(caller.send(s, Request::retrieve(EntityReference::new(logical, id), columns))?)?),
        false => None,
    };
    Ok(written(context, table, id, record, StatusCode::CREATED))
}

pub(super) fn retrieve(
    session: &mut Session,
    caller: &Caller,
    context: &Context,
    table: &Table,
    key: &RecordKey,
    options: &QueryOptions,
) -> Result<Answer, ApiError> {
    let request = Request::retrieve(key_reference(table, key)?, options.columns());
    let record = retrieved(caller.send(session, request)?)?;
    Ok(json_response(StatusCode::OK, record_body(context, table, &record)))
}

/// What a PATCH does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Patch {
    /// `If-Match: *`: the record must exist.
    Update,
    /// `If-None-Match: *`: it must not.
    Create,
    Upsert,
}

/// The id of the record a Create or an Upsert wrote.
fn written_id(response: &Response) -> Option<Uuid> {
    match (response.results.get(messages::ID), response.results.get(messages::TARGET)) {
        (Some(ParameterValue::Value(Value::Guid(id))), _) => Some(*id),
        (_, Some(ParameterValue::Value(Value::Lookup(r)))) => Some(r.id),
        _ => None,
    }
}

/// PATCH: Update with `If-Match: *` (the record must exist), Create with `If-None-Match: *` (it must not),
/// Upsert otherwise; the record named by id or by alternate key (KEY-1).
#[allow(clippy::too_many_arguments)]
pub(super) fn update(
    shared: &Shared,
    s: &mut Session,
    caller: &Caller,
    context: &Context,
    table: &Table,
    key: RecordKey,
    options: &QueryOptions,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Answer, ApiError> {
    let mut entity = body_entity(shared, table, &body)?;
    let reference = key_reference(table, &key)?;
    match key {
        RecordKey::Id(id) if entity.id.is_some_and(|sent| sent != id) => {
            return Err(ApiError::bad_payload(format!(
                "The body's {} is not the id in the URL ({id})",
                table.primary_id
            )));
        }
        RecordKey::Id(id) => entity.id = Some(id),
        RecordKey::Keys(_) if entity.id.is_some() => {
            return Err(ApiError::bad_payload(format!(
                "The body names the record by its {} while the URL names it by alternate key",
                table.primary_id
            )));
        }
        RecordKey::Keys(_) => entity.key_attributes = reference.key_attributes.clone(),
    }
    let condition = |name: &str| -> Result<bool, ApiError> {
        match header_text(headers, name)? {
            // `If-None-Match: null` is what the platform's documentation has clients send against caching.
            None | Some("null") => Ok(false),
            Some("*") => Ok(true),
            Some(other) => Err(ApiError::not_supported(format!("{name}: {other} (an ETag; only * is served)"))),
        }
    };
    let patch = match (condition("If-Match")?, condition("If-None-Match")?) {
        (true, true) => return Err(ApiError::bad_request("If-Match: * and If-None-Match: * exclude each other")),
        (true, false) => Patch::Update,
        (false, true) => Patch::Create,
        (false, false) => Patch::Upsert,
    };
    let (logical, columns, representation) =
        (table.logical_name.clone(), options.columns(), context.prefer.representation);
    let primary = table.primary_id.clone();
    let (id, record) = (|| {
        let id = match patch {
            Patch::Update => {
                // By key, the record is found first: the update may change the key's own columns.
                let id = match reference.id.is_nil() {
                    false => reference.id,
                    true => {
                        let only_id = ColumnSet::Columns(vec![primary]);
                        let found = retrieved(caller.send(s, Request::retrieve(reference, only_id))?)?;
                        found.id.ok_or_else(|| internal("Retrieve returned a record without its id"))?
                    }
                };
                caller.send(s, Request::update(entity))?;
                id
            }
            Patch::Create | Patch::Upsert => {
                let request = if patch == Patch::Create { Request::create(entity) } else { Request::upsert(entity) };
                let response = caller.send(s, request)?;
                written_id(&response).ok_or_else(|| internal("the write returned no id"))?
            }
        };
        let record = match representation {
            true => Some(retrieved(caller.send(s, Request::retrieve(EntityReference::new(logical, id), columns))?)?),
            false => None,
        };
        Ok::<_, ApiError>((id, record))
    })()?;
    Ok(written(context, table, id, record, StatusCode::OK))
}

/// The answer to a write: `OData-EntityId`, and the record read back (with `status`) when the client asked for
/// it with `return=representation`, else `204`.
fn written(context: &Context, table: &Table, id: Uuid, record: Option<Entity>, status: StatusCode) -> Answer {
    let response = match record {
        Some(record) => with_header(
            json_response(status, record_body(context, table, &record)),
            "Preference-Applied",
            "return=representation",
        ),
        None => respond(StatusCode::NO_CONTENT, None),
    };
    with_header(response, "OData-EntityId", &entity_id_url(context, table, id))
}

/// The QueryExpression of a collection's query options.
fn query_expression(table: &Table, options: &QueryOptions, page_size: u32) -> Result<QueryExpression, ApiError> {
    let mut query = QueryExpression::new(table.logical_name.clone());
    query.column_set = options.columns();
    if let Some(text) = &options.filter {
        query.criteria = filter::parse(text)?;
    }
    query.orders = options.orderby.clone();
    match options.top {
        // The engine refuses a top count with a total count; a first page of `top` rows is the same rows.
        Some(top) if options.count => {
            query.page_info =
                Some(PagingInfo { page_number: 1, count: top, paging_cookie: None, return_total_record_count: true })
        }
        Some(top) => query.top_count = Some(top),
        None => {
            query.page_info = Some(PagingInfo {
                page_number: options.page.unwrap_or(1),
                count: page_size,
                paging_cookie: None,
                return_total_record_count: options.count,
            })
        }
    }
    Ok(query)
}

pub(super) fn collection(response: Response) -> Result<xrm_model::EntityCollection, ApiError> {
    match response.results.get(messages::ENTITY_COLLECTION) {
        Some(ParameterValue::EntityCollection(c)) => Ok(c.clone()),
        _ => Err(internal("RetrieveMultiple returned no collection")),
    }
}

pub(super) fn query(
    session: &mut Session,
    caller: &Caller,
    context: &Context,
    table: &Table,
    options: &QueryOptions,
    raw_query: &str,
) -> Result<Answer, ApiError> {
    let page_size = context.prefer.max_page_size.unwrap_or(DEFAULT_PAGE);
    let request = Request::retrieve_multiple(Query::Expression(query_expression(table, options, page_size)?));
    let rows = collection(caller.send(session, request)?)?;
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(format!("{}$metadata#{}", context.base, table.entity_set_name)));
    if options.count {
        let total =
            if rows.total_record_count >= 0 { i64::from(rows.total_record_count) } else { rows.entities.len() as i64 };
        body.insert("@odata.count".into(), json!(total));
        if rows.total_record_count_limit_exceeded {
            body.insert("@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded".into(), json!(true));
        }
    }
    let values: Vec<Json> = rows
        .entities
        .iter()
        .map(|e| Json::Object(entity_to_json(e, &table.primary_id, context.prefer.annotations)))
        .collect();
    body.insert("value".into(), Json::Array(values));
    if rows.more_records && options.top.is_none() {
        let next = options.page.unwrap_or(1) + 1;
        let kept: Vec<&str> = raw_query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| {
                let name = p.split_once('=').map_or(*p, |(n, _)| n);
                path::percent_decode(name, true).map_or(true, |n| n != "$skiptoken")
            })
            .collect();
        let mut query = kept.join("&");
        if !query.is_empty() {
            query.push('&');
        }
        body.insert(
            "@odata.nextLink".into(),
            json!(format!("{}{}?{query}$skiptoken={next}", context.base, table.entity_set_name)),
        );
    }
    let response = json_response(StatusCode::OK, Json::Object(body));
    Ok(match context.prefer.max_page_size {
        Some(size) => with_header(response, "Preference-Applied", &format!("odata.maxpagesize={size}")),
        None => response,
    })
}

/// `{set}/$count`: how many records the caller may read (as the platform, at most 5,000), as plain text.
pub(super) fn count(
    session: &mut Session,
    caller: &Caller,
    table: &Table,
    options: &QueryOptions,
) -> Result<Answer, ApiError> {
    let mut query = QueryExpression::new(table.logical_name.clone());
    query.column_set = ColumnSet::Columns(vec![table.primary_id.clone()]);
    if let Some(text) = &options.filter {
        query.criteria = filter::parse(text)?;
    }
    let request = Request::retrieve_multiple(Query::Expression(query));
    let rows = collection(caller.send(session, request)?)?;
    let mut response = respond(StatusCode::OK, None);
    *response.body_mut() = Bytes::from(rows.entities.len().to_string());
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}
