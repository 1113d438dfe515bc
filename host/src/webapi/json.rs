//! Records as the Web API writes them: columns by their logical names, lookups as `_{column}_value` (written
//! back through `{navigation}@odata.bind`), choices as integers, money and decimals as numbers, dates as ISO
//! 8601 text; and record bodies read into entities with the table's column metadata.

use chrono::SecondsFormat;
use serde_json::{Map, Number, Value as Json};
use xrm_model::{Entity, EntityReference, KeyAttributes, Value};

use super::errors::ApiError;
use super::path::{RecordKey, Resource, parse_resource, split_api_path};
use crate::org::{ColumnType, Organization, Table};

/// Which annotations a client asked for with `Prefer: odata.include-annotations`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Annotations {
    /// `OData.Community.Display.V1.FormattedValue`.
    pub formatted: bool,
    /// `Microsoft.Dynamics.CRM.lookuplogicalname`.
    pub lookup_table: bool,
    /// `Microsoft.Dynamics.CRM.fetchxmlpagingcookie` (a FetchXML query's).
    pub paging_cookie: bool,
    /// `Microsoft.Dynamics.CRM.morerecords` (a FetchXML query's).
    pub more_records: bool,
}

impl Annotations {
    /// From the value of `odata.include-annotations`: `*`, or names (with `*` wildcards such as
    /// `OData.Community.Display.V1.*`), comma-separated.
    pub fn from_preference(value: &str) -> Annotations {
        let wants = |name: &str| {
            value.split(',').map(str::trim).any(|p| match p.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => p == name,
            })
        };
        Annotations {
            formatted: wants("OData.Community.Display.V1.FormattedValue"),
            lookup_table: wants("Microsoft.Dynamics.CRM.lookuplogicalname"),
            paging_cookie: wants("Microsoft.Dynamics.CRM.fetchxmlpagingcookie"),
            more_records: wants("Microsoft.Dynamics.CRM.morerecords"),
        }
    }
}

const FORMATTED: &str = "@OData.Community.Display.V1.FormattedValue";
const LOOKUP_TABLE: &str = "@Microsoft.Dynamics.CRM.lookuplogicalname";

/// A record as the Web API returns it (without `@odata.context`): its columns, its id under its table's
/// primary id column (`accountid`, `activityid`), `@odata.etag` from its version number, and the annotations
/// asked for. Party lists and aliased values are left out.
pub fn entity_to_json(entity: &Entity, primary_id: &str, annotations: Annotations) -> Map<String, Json> {
    let mut out = Map::new();
    if let Some(Value::BigInt(version)) = entity.get("versionnumber") {
        out.insert("@odata.etag".into(), Json::String(format!("W/\"{version}\"")));
    }
    for (column, value) in &entity.attributes {
        let formatted = entity.formatted_value(column).filter(|_| annotations.formatted);
        match value {
            Value::Lookup(r) => {
                let key = format!("_{column}_value");
                if let Some(text) = formatted {
                    out.insert(format!("{key}{FORMATTED}"), Json::String(text.to_owned()));
                }
                if annotations.lookup_table {
                    out.insert(format!("{key}{LOOKUP_TABLE}"), Json::String(r.logical_name.clone()));
                }
                out.insert(key, Json::String(r.id.to_string()));
            }
            Value::EntityCollection(_) | Value::Aliased(_) => {}
            other => {
                if let Some(text) = formatted {
                    out.insert(format!("{column}{FORMATTED}"), Json::String(text.to_owned()));
                }
                out.insert(column.clone(), value_to_json(other));
            }
        }
    }
    if let Some(id) = entity.id {
        out.entry(primary_id.to_owned()).or_insert_with(|| Json::String(id.to_string()));
    }
    out
}

pub fn value_to_json(value: &Value) -> Json {
    let number = |text: &str| text.parse::<Number>().map(Json::Number).unwrap_or_else(|_| Json::String(text.into()));
    match value {
        Value::Null => Json::Null,
        Value::Text(s) => Json::String(s.clone()),
        Value::Integer(n) | Value::Choice(n) => Json::from(*n),
        Value::BigInt(n) => Json::from(*n),
        Value::Double(n) => Number::from_f64(*n).map_or(Json::Null, Json::Number),
        Value::Boolean(b) => Json::Bool(*b),
        Value::Decimal(s) | Value::Money(s) => number(s),
        Value::DateTime(t) => Json::String(t.to_rfc3339_opts(SecondsFormat::Secs, true)),
        Value::Guid(g) => Json::String(g.to_string()),
        Value::Choices(ns) => Json::String(ns.iter().map(i32::to_string).collect::<Vec<_>>().join(",")),
        Value::Lookup(r) => Json::String(r.id.to_string()),
        Value::EntityCollection(_) | Value::Aliased(_) => Json::Null,
    }
}

/// Reads a request body into a record of `table`: every column checked against the table, every value read as
/// its column's type, lookups from `{navigation}@odata.bind` (`/accounts(…)`); other annotations are ignored.
pub fn entity_from_json(org: &Organization, table: &Table, body: &[u8]) -> Result<Entity, ApiError> {
    let set = &table.entity_set_name;
    let json: Json = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_payload(format!("The body of a request to '{set}' is not JSON: {e}")))?;
    let Json::Object(object) = json else {
        return Err(ApiError::bad_payload(format!("The body of a request to '{set}' must be a JSON object")));
    };
    let mut entity = Entity::new(&table.logical_name);
    for (key, item) in object {
        if let Some(navigation) = key.strip_suffix("@odata.bind") {
            let (column, reference) = bind(org, table, navigation, &item)?;
            entity.attributes.insert(column, reference);
            continue;
        }
        // Annotations (`@odata.type`, `name@OData.Community…`) are not data.
        if key.contains('@') {
            continue;
        }
        let Some(ty) = table.columns.get(&key) else {
            let lookup = key.strip_prefix('_').and_then(|k| k.strip_suffix("_value"));
            let hint = match lookup {
                Some(column) if table.columns.contains_key(column) => {
                    format!(" (a lookup is written as \"{column}@odata.bind\": \"/{{entityset}}({{id}})\")")
                }
                _ => String::new(),
            };
            return Err(ApiError::bad_payload(format!(
                "Error identified in Payload provided by the user for Entity :'{set}': the property '{key}' does not exist on type 'Microsoft.Dynamics.CRM.{}'{hint}",
                table.logical_name
            )));
        };
        let value = column_value(table, &key, ty, &item)?;
        if key == table.primary_id
            && let Value::Guid(id) = value
        {
            entity.id = Some(id);
        }
        entity.attributes.insert(key, value);
    }
    Ok(entity)
}

/// A value of the body as its column's type.
fn column_value(table: &Table, column: &str, ty: &ColumnType, item: &Json) -> Result<Value, ApiError> {
    use ColumnType as T;
    if item.is_null() {
        return Ok(Value::Null);
    }
    let wrong = |form: &str| {
        ApiError::bad_payload(format!(
            "Cannot convert the literal '{item}' to the expected type of '{}.{column}' ({ty}): expected {form}",
            table.logical_name
        ))
    };
    let number_text = || item.as_number().map(Number::to_string);
    let value = match ty {
        T::String | T::Memo => item.as_str().map(|s| Value::Text(s.to_owned())).ok_or_else(|| wrong("a string"))?,
        T::Integer => item
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Value::Integer)
            .ok_or_else(|| wrong("a whole number"))?,
        T::BigInt => item.as_i64().map(Value::BigInt).ok_or_else(|| wrong("a whole number"))?,
        T::Double => item.as_f64().map(Value::Double).ok_or_else(|| wrong("a number"))?,
        T::Boolean => item.as_bool().map(Value::Boolean).ok_or_else(|| wrong("true or false"))?,
        T::Decimal => number_text().map(Value::Decimal).ok_or_else(|| wrong("a number"))?,
        T::Money => number_text().map(Value::Money).ok_or_else(|| wrong("a number"))?,
        T::Picklist => {
            item.as_i64().and_then(|n| i32::try_from(n).ok()).map(Value::Choice).ok_or_else(|| wrong("an integer"))?
        }
        T::MultiSelectPicklist => {
            let parts: Option<Vec<i32>> = match item {
                Json::String(s) if s.trim().is_empty() => Some(Vec::new()),
                Json::String(s) => s.split(',').map(|p| p.trim().parse().ok()).collect(),
                _ => None,
            };
            parts.map(Value::Choices).ok_or_else(|| wrong("integers separated by commas, such as \"1,3\""))?
        }
        T::DateTime | T::Uniqueidentifier => {
            let text = item.as_str().ok_or_else(|| wrong("a string"))?;
            crate::query::values::parse_value(ty, text).ok_or_else(|| match ty {
                T::DateTime => wrong("an ISO 8601 date, such as \"2026-12-03T10:00:00Z\""),
                _ => wrong("a GUID"),
            })?
        }
        T::Lookup(_) => {
            return Err(ApiError::bad_payload(format!(
                "The lookup '{column}' of '{}' is written as \"{column}@odata.bind\": \"/{{entityset}}({{id}})\"",
                table.logical_name
            )));
        }
        T::PartyList(_) => return Err(ApiError::not_supported(format!("Writing the party list '{column}'"))),
    };
    Ok(value)
}

/// `{navigation}@odata.bind`: the lookup column the navigation property names (`parentcustomerid_account` or
/// `parentcustomerid` for `parentcustomerid`, case-insensitive), and the record the value points to.
pub fn bind(org: &Organization, table: &Table, navigation: &str, item: &Json) -> Result<(String, Value), ApiError> {
    let lower = navigation.to_ascii_lowercase();
    let lookup = |name: &str| match table.columns.get(name) {
        Some(ColumnType::Lookup(targets)) => Some((name.to_owned(), targets.clone())),
        _ => None,
    };
    // `parentcustomerid_account`: the column, and the one table it may point to through this property.
    let (column, targets, only) = match lookup(&lower) {
        Some((column, targets)) => (column, targets, None),
        None => lower
            .rsplit_once('_')
            .and_then(|(column, target)| lookup(column).map(|(c, t)| (c, t, Some(target.to_owned()))))
            .ok_or_else(|| {
                ApiError::bad_payload(format!(
                    "'{navigation}' is not a navigation property of '{}': no lookup column is named so",
                    table.logical_name
                ))
            })?,
    };
    let Some(text) = item.as_str() else {
        return match item {
            Json::Null => Ok((column, Value::Null)),
            _ => Err(ApiError::bad_payload(format!(
                "'{navigation}@odata.bind' takes a record's URL, such as \"/accounts(00000000-0000-0000-0000-000000000000)\""
            ))),
        };
    };
    let reference = record_url(org, text)
        .map_err(|e| ApiError::bad_payload(format!("'{navigation}@odata.bind': {}", e.message)))?;
    let fits = (targets.is_empty() || targets.contains(&reference.logical_name))
        && only.as_ref().is_none_or(|t| *t == reference.logical_name);
    if !fits {
        return Err(ApiError::bad_payload(format!(
            "'{navigation}@odata.bind' points to a '{}' record; '{}.{column}' takes {}",
            reference.logical_name,
            table.logical_name,
            only.unwrap_or_else(|| targets.join(" or "))
        )));
    }
    Ok((column, Value::Lookup(reference)))
}

/// The record a URL names: `/accounts(…)`, `accounts(…)` or the full URL under `/api/data/v…/`.
pub fn record_url(org: &Organization, url: &str) -> Result<EntityReference, ApiError> {
    let path = match url.find("/api/data/") {
        Some(at) => split_api_path(&url[at..]).map_or("", |(_, rest)| rest),
        None => url.trim_start_matches('/'),
    };
    match parse_resource(path)? {
        Resource::Record(set, key) => key_reference(table_of_set(org, &set)?, &key),
        _ => Err(ApiError::bad_payload(format!("'{url}' is not a record's URL, such as /accounts(<id>)"))),
    }
}

/// The record a URL's key names in `table`: by id, or by alternate key values read as their columns' types
/// (KEY-1; the pipeline checks that they are one of the table's keys).
pub fn key_reference(table: &Table, key: &RecordKey) -> Result<EntityReference, ApiError> {
    let keys = match key {
        RecordKey::Id(id) => return Ok(EntityReference::new(table.logical_name.clone(), *id)),
        RecordKey::Keys(pairs) => pairs,
    };
    let mut attributes = KeyAttributes::new();
    for (column, text) in keys {
        let ty = table.columns.get(column).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Bad Request - Error in path: '{}' has no column '{column}' for an alternate key",
                table.entity_set_name
            ))
        })?;
        let value = crate::query::values::parse_value(ty, text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Bad Request - Error in path: '{text}' is not a value of '{}.{column}' ({ty})",
                table.logical_name
            ))
        })?;
        attributes.insert(column.clone(), value);
    }
    Ok(EntityReference::with_keys(table.logical_name.clone(), attributes))
}

/// The table whose entity set name is `set`: 404 naming it when there is none.
pub fn table_of_set<'o>(org: &'o Organization, set: &str) -> Result<&'o Table, ApiError> {
    org.tables.values().find(|t| t.entity_set_name == set).ok_or_else(|| {
        ApiError::not_found(format!("Resource not found for the segment '{set}': no table has this entity set name"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_are_read_from_the_preference() {
        let all = Annotations { formatted: true, lookup_table: true, paging_cookie: true, more_records: true };
        assert_eq!(Annotations::from_preference("*"), all);
        assert_eq!(Annotations::from_preference("\"*\"".trim_matches('"')), all);
        assert_eq!(
            Annotations::from_preference("OData.Community.Display.V1.FormattedValue"),
            Annotations { formatted: true, ..Annotations::default() }
        );
        assert_eq!(
            Annotations::from_preference("Microsoft.Dynamics.CRM.*"),
            Annotations { lookup_table: true, paging_cookie: true, more_records: true, ..Annotations::default() }
        );
    }

    #[test]
    fn values_are_written_as_the_web_api_writes_them() {
        let mut e = Entity::with_id("account", xrm_model::Uuid::from_u128(7));
        e.set("name", "Contoso")
            .set("revenue", Value::Money("12.50".into()))
            .set("industrycode", Value::Choice(3))
            .set("versionnumber", 5i64)
            .set("ownerid", EntityReference::new("systemuser", xrm_model::Uuid::from_u128(1)));
        e.formatted_values.insert("ownerid".into(), "Alice".into());
        let json = Json::Object(entity_to_json(
            &e,
            "accountid",
            Annotations { formatted: true, lookup_table: true, ..Annotations::default() },
        ));
        assert_eq!(json["name"], "Contoso");
        assert_eq!(json["revenue"], serde_json::json!(12.5));
        assert_eq!(json["industrycode"], 3);
        assert_eq!(json["@odata.etag"], "W/\"5\"");
        assert_eq!(json["_ownerid_value"], "00000000-0000-0000-0000-000000000001");
        assert_eq!(json["_ownerid_value@OData.Community.Display.V1.FormattedValue"], "Alice");
        assert_eq!(json["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"], "systemuser");
        assert_eq!(json["accountid"], "00000000-0000-0000-0000-000000000007");

        // An activity's id is its activityid, as its table names its primary key.
        let task = Entity::with_id("task", xrm_model::Uuid::from_u128(9));
        let json = entity_to_json(&task, "activityid", Annotations::default());
        assert_eq!(json.keys().collect::<Vec<_>>(), ["activityid"]);
    }
}
