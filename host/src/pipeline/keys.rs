//! Alternate keys (KEY-1..3): records named by the values of a key's columns instead of their id, and the
//! uniqueness every write keeps.
//!
//! The record a key names is found by scanning the table: a cost linear in the table's rows, as every other
//! lookup by column value here.

use xrm_model::{Entity, EntityReference, Fault, KeyAttributes, ParameterValue, Request, Uuid, Value, codes, messages};

use crate::org::{Organization, Table};
use crate::store::Store;

/// Gives the Target its record's id when it names the record by key (KEY-1), and every lookup of an entity
/// Target the id of the record its key names (KEY-2). A Target with an id keeps it: the id wins over keys.
/// Upsert and the bulk messages resolve their own targets, where a key that names nothing is no error.
pub fn resolve_request(org: &Organization, store: &Store, request: &mut Request) -> Result<(), Fault> {
    let message = request.message.clone();
    if messages::BULK.iter().any(|(bulk, _)| *bulk == message)
        && let Some(ParameterValue::EntityCollection(targets)) = request.parameters.get_mut(messages::TARGETS)
    {
        return resolve_targets(org, store, &message, &mut targets.entities);
    }
    let Some(target) = request.parameters.get_mut(messages::TARGET) else { return Ok(()) };
    match target {
        ParameterValue::Value(Value::Lookup(reference)) => resolve_reference(org, store, reference),
        ParameterValue::Entity(entity) => {
            resolve_lookups(org, store, entity)?;
            match message.as_str() {
                messages::UPSERT => Ok(()),
                // [choice] A Create's key attributes are the new record's values for them, as Upsert's are.
                messages::CREATE => {
                    copy_keys_into_columns(entity);
                    Ok(())
                }
                _ if entity.id.is_none() && !entity.key_attributes.is_empty() => {
                    let reference = entity.to_reference();
                    entity.id = Some(find_required(org, store, &reference)?);
                    Ok(())
                }
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// The targets of a bulk message, as its single message resolves its Target: CreateMultiple's keys become
/// columns, UpdateMultiple's name the records to update; UpsertMultiple's are looked up target by target.
fn resolve_targets(org: &Organization, store: &Store, message: &str, targets: &mut [Entity]) -> Result<(), Fault> {
    for target in targets {
        resolve_lookups(org, store, target)?;
        match message {
            messages::CREATE_MULTIPLE => copy_keys_into_columns(target),
            messages::UPDATE_MULTIPLE if target.id.is_none() && !target.key_attributes.is_empty() => {
                target.id = Some(find_required(org, store, &target.to_reference())?);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Sets the id of a reference that names its record by key; a reference with an id is left alone.
pub fn resolve_reference(org: &Organization, store: &Store, reference: &mut EntityReference) -> Result<(), Fault> {
    if reference.id.is_nil() && !reference.key_attributes.is_empty() {
        reference.id = find_required(org, store, reference)?;
    }
    Ok(())
}

/// Replaces every lookup by key among an entity's columns with the id of the record it names: the key
/// attributes are used to find the record, and only its id is stored (KEY-2).
pub fn resolve_lookups(org: &Organization, store: &Store, entity: &mut Entity) -> Result<(), Fault> {
    for value in entity.attributes.values_mut() {
        if let Value::Lookup(reference) = value
            && reference.id.is_nil()
            && !reference.key_attributes.is_empty()
        {
            reference.id = find_required(org, store, reference)?;
            reference.key_attributes.clear();
        }
    }
    Ok(())
}

/// Upsert's copy of "any alternate key values into the target's columns" before it creates the record.
pub fn copy_keys_into_columns(entity: &mut Entity) {
    for (column, value) in &entity.key_attributes {
        entity.attributes.entry(column.clone()).or_insert_with(|| value.clone());
    }
}

/// The id of the record `reference` names by key; a key that names no record is the platform's not-found.
fn find_required(org: &Organization, store: &Store, reference: &EntityReference) -> Result<Uuid, Fault> {
    find(org, store, &reference.logical_name, &reference.key_attributes)?.ok_or_else(|| {
        Fault::new(
            codes::OBJECT_DOES_NOT_EXIST,
            format!("A record with the specified key values does not exist in {} entity", reference.logical_name),
        )
    })
}

/// The record of `table` the key attributes name, if any. The attributes must be one of the table's alternate
/// keys, all its columns and no other (KEY-1), or the table's primary key alone.
pub fn find(org: &Organization, store: &Store, table: &str, keys: &KeyAttributes) -> Result<Option<Uuid>, Fault> {
    let table = org.require_table(table)?;
    if let [(column, value)] = keys.iter().collect::<Vec<_>>()[..]
        && *column == table.primary_id
    {
        return match value {
            Value::Guid(id) => Ok(store.contains(&table.logical_name, *id).then_some(*id)),
            other => Err(Fault::new(
                codes::INVALID_ARGUMENT,
                format!(
                    "the key `{column}` is the primary key of {}: it takes a GUID, not {}",
                    table.logical_name,
                    other.type_name()
                ),
            )),
        };
    }
    let defined =
        table.keys.iter().any(|k| k.columns.len() == keys.len() && k.columns.iter().all(|c| keys.contains_key(c)));
    if !defined {
        return Err(Fault::new(
            codes::KEY_NOT_DEFINED,
            format!("The specified key attributes are not a defined key for the {} entity", table.logical_name),
        ));
    }
    // The values as the columns store them (an integer in a BigInt column, …), checked as a write would be.
    let mut probe = Entity::new(table.logical_name.clone());
    probe.attributes = keys.clone();
    let wanted = table.check(probe)?.attributes;
    let columns: Vec<&String> = wanted.keys().collect();
    Ok(store
        .rows(&table.logical_name)
        .find(|row| columns.iter().all(|c| same(row.get(c.as_str()), wanted.get(c.as_str()))))
        .and_then(|row| row.id))
}

/// Refuses a write that would give `record` the same values as another record of its table for one of the
/// table's alternate keys (KEY-3). [choice] A key with an empty column holds no value to repeat: it is not
/// checked, as a unique index that leaves out nulls.
pub fn check_unique(table: &Table, store: &Store, record: &Entity) -> Result<(), Fault> {
    let id = record.id.unwrap_or_default();
    for key in &table.keys {
        let values: Vec<&Value> = key.columns.iter().filter_map(|c| record.get(c)).filter(|v| !v.is_null()).collect();
        if values.len() < key.columns.len() {
            continue;
        }
        let clash = store
            .rows(&table.logical_name)
            .any(|row| row.id != Some(id) && key.columns.iter().zip(&values).all(|(c, v)| same(row.get(c), Some(v))));
        if clash {
            return Err(Fault::new(
                codes::DUPLICATE_KEY,
                format!(
                    "Entity Key {} violated. A record with the same value for {} already exists. A duplicate record cannot be created. Select one or more unique values and try again.",
                    key.name,
                    key.columns.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Whether two key values are the same: text regardless of case, as the platform's database compares it
/// [choice], a lookup by the record it points to.
fn same(stored: Option<&Value>, wanted: Option<&Value>) -> bool {
    match (stored, wanted) {
        (Some(Value::Text(a)), Some(Value::Text(b))) => a.to_lowercase() == b.to_lowercase(),
        (Some(Value::Lookup(a)), Some(Value::Lookup(b))) => a.logical_name == b.logical_name && a.id == b.id,
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}
