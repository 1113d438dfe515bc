//! A record written in a file (`{"@logicalname": …, column: value}`) read against its table when the file
//! loads, as a write would check it: every unknown column and every value of the wrong type is reported at its
//! own JSON path, with the name meant or the form the value must take (`{"@option": 2}` for a choice).

use serde_json::{Value as Json, json};
use xrm_model::json::{JsonError, Path as JsonPath, Reader, kind};
use xrm_model::{Entity, Uuid, Value};

use super::{ColumnType, Organization, Table};

/// How `"@alias"` text in a lookup column is read: as a reference to the alias's record (organization
/// records), or refused with the reference to write (requests, where a lookup is always `{"@ref": …}`).
pub enum AliasLookups<'a> {
    /// The table of each alias: `"@alice"` in `ownerid` reads as `{"@ref": "systemuser", "id": "@alice"}`.
    Read(&'a dyn Fn(&str) -> Option<String>),
    /// The table of each alias, for the hint only.
    Refuse(&'a dyn Fn(&str) -> Option<String>),
}

/// Reads `json` as a record of its table. `Err` holds every problem found.
pub fn read_entity(
    org: &Organization,
    reader: &Reader,
    json: &Json,
    path: &JsonPath,
    lookups: &AliasLookups,
) -> Result<Entity, Vec<JsonError>> {
    let Some(obj) = json.as_object() else {
        return Err(vec![
            reader.entity(json, path).err().unwrap_or_else(|| JsonError::new(path, "expected an entity")),
        ]);
    };
    let table = match obj.get("@logicalname") {
        Some(Json::String(name)) => {
            org.check_table(name).map_err(|e| vec![JsonError::new(&path.key("@logicalname"), e)])?
        }
        _ => {
            return Err(vec![
                reader.entity(json, path).err().unwrap_or_else(|| JsonError::new(path, "expected an entity")),
            ]);
        }
    };
    let mut entity = Entity::new(&table.logical_name);
    let mut problems = Vec::new();
    for (key, item) in obj {
        let at = path.key(key);
        match key.as_str() {
            "@logicalname" => {}
            "@id" => match reader.guid(item, &at) {
                Ok(id) => entity.id = Some(id),
                Err(e) => problems.push(e),
            },
            // KEY-1: the record named by an alternate key's values instead of its id.
            "@keys" => match reader.key_attributes(item, &at) {
                Ok(keys) => entity.key_attributes = keys,
                Err(e) => problems.push(e),
            },
            // QRY-7: formatted values sent with a record are read and ignored, as a write ignores them.
            "@formatted" => {}
            k if k.starts_with('@') => {
                problems.push(JsonError::new(&at, "unknown key (expected `@logicalname`, `@id`, `@keys` or a column)"))
            }
            column => match column_value(table, column, item, reader, &at, lookups) {
                Ok(value) => {
                    entity.attributes.insert(column.to_owned(), value);
                }
                Err(e) => problems.push(e),
            },
        }
    }
    if problems.is_empty() { Ok(entity) } else { Err(problems) }
}

/// The value of one column, checked against its type.
fn column_value(
    table: &Table,
    column: &str,
    item: &Json,
    reader: &Reader,
    at: &JsonPath,
    lookups: &AliasLookups,
) -> Result<Value, JsonError> {
    let ty = table.check_column(column).map_err(|e| JsonError::new(at, e))?;
    let alias_table = |text: &str| match lookups {
        AliasLookups::Read(f) | AliasLookups::Refuse(f) => text.strip_prefix('@').and_then(f),
    };
    // `"@alice"` in a lookup column of a record: the alias says which table it points to.
    if let (ColumnType::Lookup(targets), Json::String(text), AliasLookups::Read(_)) = (ty, item, lookups)
        && let Some(target) = alias_table(text)
        && (targets.is_empty() || targets.contains(&target))
    {
        return reader.reference(&json!({ "@ref": target, "id": text }), at).map(Value::Lookup);
    }
    let value = reader.value(item, at)?;
    if ty.accept(value.clone()).is_some() {
        return Ok(value);
    }
    let what = format!("`{column}` of `{}` is {ty}", table.logical_name);
    let message = match rewrite(ty, item, &alias_table) {
        Some(written) => format!("{what}: write `{written}`"),
        None => match (&value, ty) {
            (Value::Lookup(r), ColumnType::Lookup(_)) => {
                format!("{what}: a reference to `{}` does not fit it", r.logical_name)
            }
            (Value::Text(text), ColumnType::Lookup(_)) if alias_table(text).is_some() => {
                format!("{what}: `{text}` is a `{}`, which it does not take", alias_table(text).unwrap_or_default())
            }
            _ => format!("{what}: expected {}, found {}", ty.json_form(), kind(item)),
        },
    };
    Err(JsonError::new(at, message))
}

/// The JSON a value of the wrong form was most likely meant as: a number for a choice is `{"@option": n}`,
/// `"@alice"` for a lookup is `{"@ref": "systemuser", "id": "@alice"}`, and so on.
fn rewrite(ty: &ColumnType, given: &Json, alias_table: &dyn Fn(&str) -> Option<String>) -> Option<Json> {
    let text = || match given {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    };
    Some(match (ty, given) {
        (ColumnType::Picklist, Json::Number(n)) => json!({ "@option": n }),
        (ColumnType::MultiSelectPicklist, Json::Array(items)) => json!({ "@options": items }),
        (ColumnType::Money, Json::Number(_) | Json::String(_)) => json!({ "@money": text()? }),
        (ColumnType::Decimal, Json::Number(_) | Json::String(_)) => json!({ "@decimal": text()? }),
        (ColumnType::DateTime, Json::String(s)) => json!({ "@datetime": s }),
        (ColumnType::Uniqueidentifier, Json::String(s)) => json!({ "@guid": s }),
        (ColumnType::Lookup(targets), Json::String(s)) => {
            let table = match alias_table(s) {
                Some(t) => t,
                None if Uuid::parse_str(s).is_ok() => targets.first()?.clone(),
                None => return None,
            };
            if !targets.is_empty() && !targets.contains(&table) {
                return None;
            }
            json!({ "@ref": table, "id": s })
        }
        (ColumnType::Integer | ColumnType::BigInt | ColumnType::Double, Json::String(s)) => {
            serde_json::from_str::<serde_json::Number>(s).ok().map(Json::Number)?
        }
        (ColumnType::Boolean, Json::String(s)) if s == "true" || s == "false" => json!(s == "true"),
        (ColumnType::String | ColumnType::Memo, Json::Number(n)) => json!(n.to_string()),
        _ => return None,
    })
}
