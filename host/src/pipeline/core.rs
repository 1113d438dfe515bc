//! The core operations of the built-in messages against the store, stamping the effective user.

use chrono::Utc;
use xrm_model::{ColumnSet, Entity, EntityReference, Fault, Uuid, Value, codes};

use crate::org::{Organization, Ownership, Table};
use crate::store::Store;

pub fn table<'o>(org: &'o Organization, name: &str) -> Result<&'o Table, Fault> {
    org.table(name).ok_or_else(|| {
        Fault::new(
            codes::INVALID_ARGUMENT,
            format!("The entity with a name = '{name}' was not found in the MetadataCache."),
        )
    })
}

pub fn not_found(table: &str, id: Uuid) -> Fault {
    Fault::new(codes::OBJECT_DOES_NOT_EXIST, format!("{table} With Id = {id} Does Not Exist"))
}

fn user_ref(id: Uuid) -> Value {
    Value::Lookup(EntityReference::new("systemuser", id))
}

/// Creates `target` as `user`, returning its id (SEC-5: owned by `user` unless `ownerid` is given).
pub fn create(org: &Organization, store: &mut Store, user: Uuid, target: Entity) -> Result<Uuid, Fault> {
    let table = table(org, &target.logical_name)?;
    let mut record = table.check(target)?;
    let id = match (record.id, record.get(&table.primary_id)) {
        (Some(id), _) => id,
        (None, Some(Value::Guid(id))) => *id,
        _ => Uuid::new_v4(),
    };
    if store.contains(&table.logical_name, id) {
        return Err(Fault::new(
            codes::DUPLICATE_RECORD,
            format!("Cannot insert duplicate key: {} With Id = {id} already exists", table.logical_name),
        ));
    }
    let now = Value::DateTime(Utc::now());
    record.id = Some(id);
    let attrs = &mut record.attributes;
    attrs.insert(table.primary_id.clone(), Value::Guid(id));
    attrs.insert("createdby".into(), user_ref(user));
    attrs.insert("modifiedby".into(), user_ref(user));
    attrs.insert("createdon".into(), now.clone());
    attrs.insert("modifiedon".into(), now);
    attrs.entry("statecode".into()).or_insert(Value::Choice(0));
    if table.ownership == Ownership::UserOwned {
        if !matches!(attrs.get("ownerid"), Some(Value::Lookup(_))) {
            attrs.insert("ownerid".into(), user_ref(user));
        }
        stamp_owner(org, &mut record);
    }
    store.put(record);
    Ok(id)
}

/// Fills `owningbusinessunit`, `owninguser` and `owningteam` from `ownerid`.
fn stamp_owner(org: &Organization, record: &mut Entity) {
    let Some(Value::Lookup(owner)) = record.get("ownerid").cloned() else { return };
    let attrs = &mut record.attributes;
    let bu = match owner.logical_name.as_str() {
        "team" => {
            attrs.insert("owningteam".into(), Value::Lookup(owner.clone()));
            attrs.insert("owninguser".into(), Value::Null);
            org.teams.get(&owner.id).map_or(org.root_business_unit, |t| t.business_unit)
        }
        _ => {
            attrs.insert("owninguser".into(), Value::Lookup(owner.clone()));
            attrs.insert("owningteam".into(), Value::Null);
            org.business_unit_of(owner.id)
        }
    };
    attrs.insert("owningbusinessunit".into(), Value::Lookup(EntityReference::new("businessunit", bu)));
}

pub fn update(org: &Organization, store: &mut Store, user: Uuid, target: Entity) -> Result<(), Fault> {
    let table = table(org, &target.logical_name)?;
    let id = target.id.unwrap_or_default();
    let changes = table.check(target)?;
    let existing = store.get(&table.logical_name, id).ok_or_else(|| not_found(&table.logical_name, id))?;
    let mut record = Entity::clone(existing);
    let owner_changed = changes.contains("ownerid");
    record.attributes.extend(changes.attributes);
    record.attributes.insert(table.primary_id.clone(), Value::Guid(id));
    record.attributes.insert("modifiedby".into(), user_ref(user));
    record.attributes.insert("modifiedon".into(), Value::DateTime(Utc::now()));
    if owner_changed && table.ownership == Ownership::UserOwned {
        stamp_owner(org, &mut record);
    }
    store.put(record);
    Ok(())
}

pub fn delete(org: &Organization, store: &mut Store, target: &EntityReference) -> Result<(), Fault> {
    let table = table(org, &target.logical_name)?;
    store.remove(&table.logical_name, target.id).map(|_| ()).ok_or_else(|| not_found(&table.logical_name, target.id))
}

pub fn retrieve(
    org: &Organization,
    store: &Store,
    target: &EntityReference,
    columns: &ColumnSet,
) -> Result<Entity, Fault> {
    let table = table(org, &target.logical_name)?;
    check_columns(table, columns)?;
    let record = store.get(&table.logical_name, target.id).ok_or_else(|| not_found(&table.logical_name, target.id))?;
    Ok(project(table, record, columns))
}

/// Refuses a column set naming a column the table does not have.
pub fn check_columns(table: &Table, columns: &ColumnSet) -> Result<(), Fault> {
    let ColumnSet::Columns(cols) = columns else { return Ok(()) };
    match cols.iter().find(|c| !table.columns.contains_key(c.as_str())) {
        Some(c) => Err(Fault::new(
            codes::UNKNOWN_ATTRIBUTE,
            format!("'{}' entity doesn't contain attribute with Name = '{c}'", table.logical_name),
        )),
        None => Ok(()),
    }
}

/// The record with only the requested columns (and its key, as the platform returns it).
pub fn project(table: &Table, record: &Entity, columns: &ColumnSet) -> Entity {
    let mut out = Entity { logical_name: record.logical_name.clone(), id: record.id, attributes: Default::default() };
    for (name, value) in &record.attributes {
        if (columns.includes(name) || *name == table.primary_id) && !value.is_null() {
            out.attributes.insert(name.clone(), value.clone());
        }
    }
    out
}
