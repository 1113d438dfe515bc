//! The core operations of the built-in messages against the store, stamping the effective user.

use chrono::{DateTime, Utc};
use xrm_model::{Entity, EntityReference, Fault, Uuid, Value, codes};

use super::messages::status;
use crate::org::{Organization, Ownership, Table};
use crate::store::Store;

pub use crate::query::not_found;

pub fn table<'o>(org: &'o Organization, name: &str) -> Result<&'o Table, Fault> {
    org.require_table(name)
}

/// A user's business unit as the case's store holds it (the `systemuser` row, which a case may change), else
/// as the organization declared it; SYSTEM's is the root (ORG-2).
pub fn business_unit_of(org: &Organization, store: &Store, user: Uuid) -> Uuid {
    match store.get("systemuser", user).and_then(|row| row.get("businessunitid")) {
        Some(Value::Lookup(bu)) => bu.id,
        _ => org.business_unit_of(user),
    }
}

/// Columns only the platform writes (PIPE-15): a value a client or a plug-in sends for one is dropped.
pub const SYSTEM_COLUMNS: &[&str] = &[
    "createdby",
    "createdon",
    "modifiedby",
    "modifiedon",
    "createdonbehalfby",
    "modifiedonbehalfby",
    "owningbusinessunit",
    "versionnumber",
    "overriddencreatedon",
];

/// Drops the system columns of a record about to be written (PIPE-15), giving back `overriddencreatedon`, the
/// one a Create may set: the creation date it asks for.
fn drop_system_columns(record: &mut Entity) -> Option<Value> {
    let overridden = record.attributes.remove("overriddencreatedon").filter(|v| !v.is_null());
    for column in SYSTEM_COLUMNS {
        record.attributes.remove(*column);
    }
    overridden
}

fn user_ref(id: Uuid) -> Value {
    Value::Lookup(EntityReference::new("systemuser", id))
}

/// Creates `target` as `user`, returning its id (SEC-5: owned by `user` unless `ownerid` is given);
/// `on_behalf` is the external impersonator stamped in `createdonbehalfby` (IMP-8).
pub fn create(
    org: &Organization,
    store: &mut Store,
    user: Uuid,
    on_behalf: Option<Uuid>,
    mut target: Entity,
    now: DateTime<Utc>,
) -> Result<Uuid, Fault> {
    let table = table(org, &target.logical_name)?;
    refuse_security_table(table, "Create")?;
    super::keys::resolve_lookups(org, store, &mut target)?;
    let mut record = table.check(target)?;
    let overridden = drop_system_columns(&mut record);
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
    super::messages::activities::settle(org, store, table, id, &mut record)?;
    table.settle_state(id, None, &mut record)?;
    table.stamp_currency(org.base_currency, &|c| rate(store, c), None, &mut record)?;
    let now = Value::DateTime(now);
    record.id = Some(id);
    let attrs = &mut record.attributes;
    attrs.insert(table.primary_id.clone(), Value::Guid(id));
    attrs.insert("createdby".into(), user_ref(user));
    attrs.insert("modifiedby".into(), user_ref(user));
    if let Some(impersonator) = on_behalf {
        attrs.insert("createdonbehalfby".into(), user_ref(impersonator));
        attrs.insert("modifiedonbehalfby".into(), user_ref(impersonator));
    }
    // PIPE-15: `overriddencreatedon` becomes `createdon`; it keeps when the record was really created [choice].
    if let Some(created) = overridden {
        attrs.insert("overriddencreatedon".into(), now.clone());
        attrs.insert("createdon".into(), created);
    } else {
        attrs.insert("createdon".into(), now.clone());
    }
    attrs.insert("modifiedon".into(), now);
    if table.ownership == Ownership::UserOwned {
        if !matches!(attrs.get("ownerid"), Some(Value::Lookup(_))) {
            attrs.insert("ownerid".into(), user_ref(user));
        }
        stamp_owner(org, store, &mut record);
    }
    super::keys::check_unique(table, store, &record)?;
    store.put(record);
    Ok(id)
}

/// A currency's exchange rate as it stands in the store now (CUR-1).
fn rate(store: &Store, currency: Uuid) -> Option<rust_decimal::Decimal> {
    store.get("transactioncurrency", currency).and_then(|r| crate::org::currency::rate_of(r))
}

/// Refuses a Create, Update or Delete of a security table (SEC-10): they change through the security
/// messages only, which keep the checks in step with them [choice].
pub fn refuse_security_table(table: &Table, message: &str) -> Result<(), Fault> {
    match table.read_with.is_empty() {
        true => Ok(()),
        false => Err(Fault::new(
            codes::INVALID_ARGUMENT,
            format!(
                "The '{message}' method does not support entities of type '{}': use AddMembersTeam, RemoveMembersTeam, or Associate and Disassociate of systemuserroles_association, teamroles_association or teammembership_association (SEC-10)",
                table.logical_name
            ),
        )),
    }
}

/// A team's business unit as the case's store holds it (a team may be created while a case runs).
fn team_business_unit(org: &Organization, store: &Store, team: Uuid) -> Uuid {
    match store.get("team", team).and_then(|row| row.get("businessunitid")) {
        Some(Value::Lookup(bu)) => bu.id,
        _ => org.teams.get(&team).map_or(org.root_business_unit, |t| t.business_unit),
    }
}

/// Fills `owningbusinessunit`, `owninguser` and `owningteam` from `ownerid`, with the owner's business unit as
/// the case stands (SEC-10: a user may have moved).
fn stamp_owner(org: &Organization, store: &Store, record: &mut Entity) {
    let Some(Value::Lookup(owner)) = record.get("ownerid").cloned() else { return };
    let attrs = &mut record.attributes;
    let bu = match owner.logical_name.as_str() {
        "team" => {
            attrs.insert("owningteam".into(), Value::Lookup(owner.clone()));
            attrs.insert("owninguser".into(), Value::Null);
            team_business_unit(org, store, owner.id)
        }
        _ => {
            attrs.insert("owninguser".into(), Value::Lookup(owner.clone()));
            attrs.insert("owningteam".into(), Value::Null);
            business_unit_of(org, store, owner.id)
        }
    };
    attrs.insert("owningbusinessunit".into(), Value::Lookup(EntityReference::new("businessunit", bu)));
}

pub fn update(
    org: &Organization,
    store: &mut Store,
    user: Uuid,
    on_behalf: Option<Uuid>,
    mut target: Entity,
    now: DateTime<Utc>,
) -> Result<(), Fault> {
    let table = table(org, &target.logical_name)?;
    refuse_security_table(table, "Update")?;
    let id = target.id.unwrap_or_default();
    super::keys::resolve_lookups(org, store, &mut target)?;
    let mut changes = table.check(target)?;
    // PIPE-15: only Create may ask for a creation date; an Update's is dropped with the other system columns.
    drop_system_columns(&mut changes);
    super::messages::activities::settle(org, store, table, id, &mut changes)?;
    let existing = store.get(&table.logical_name, id).ok_or_else(|| not_found(&table.logical_name, id))?;
    table.settle_state(id, Some(existing), &mut changes)?;
    table.stamp_currency(org.base_currency, &|c| rate(store, c), Some(existing), &mut changes)?;
    let mut record = Entity::clone(existing);
    let owner_changed = changes.contains("ownerid");
    // SEC-10: a user moved to another business unit.
    let moved_to = match changes.get("businessunitid") {
        Some(Value::Lookup(bu))
            if table.logical_name == "systemuser"
                && existing.get("businessunitid") != changes.get("businessunitid") =>
        {
            Some(bu.id)
        }
        _ => None,
    };
    record.attributes.extend(changes.attributes);
    record.attributes.insert(table.primary_id.clone(), Value::Guid(id));
    record.attributes.insert("modifiedby".into(), user_ref(user));
    record.attributes.insert("modifiedon".into(), Value::DateTime(now));
    let behalf = on_behalf.map_or(Value::Null, user_ref);
    record.attributes.insert("modifiedonbehalfby".into(), behalf);
    if owner_changed && table.ownership == Ownership::UserOwned {
        stamp_owner(org, store, &mut record);
    }
    super::keys::check_unique(table, store, &record)?;
    store.put(record);
    if let Some(bu) = moved_to {
        super::messages::security::user_moved(org, store, id, bu);
    }
    Ok(())
}

pub fn delete(org: &Organization, store: &mut Store, target: &EntityReference) -> Result<(), Fault> {
    let table = table(org, &target.logical_name)?;
    refuse_security_table(table, "Delete")?;
    store.remove(&table.logical_name, target.id).map(|_| ()).ok_or_else(|| not_found(&table.logical_name, target.id))
}

/// Assign: a new owner, who must exist and be enabled (SEC-5).
pub fn assign(
    org: &Organization,
    store: &mut Store,
    user: Uuid,
    on_behalf: Option<Uuid>,
    target: &EntityReference,
    assignee: &EntityReference,
    now: DateTime<Utc>,
) -> Result<(), Fault> {
    match assignee.logical_name.as_str() {
        "systemuser" => super::identity::check_user(org, assignee.id)?,
        "team" if org.teams.contains_key(&assignee.id) => {}
        _ => return Err(not_found(&assignee.logical_name, assignee.id)),
    }
    let mut change = Entity::with_id(target.logical_name.clone(), target.id);
    change.set("ownerid", Value::Lookup(EntityReference::new(assignee.logical_name.clone(), assignee.id)));
    update(org, store, user, on_behalf, change, now)
}

/// SetState: `statecode`, and `statuscode` or the state's default status (STATE-2).
pub fn set_state(
    org: &Organization,
    store: &mut Store,
    user: Uuid,
    on_behalf: Option<Uuid>,
    target: &EntityReference,
    (state, status): (Value, Option<Value>),
    now: DateTime<Utc>,
) -> Result<(), Fault> {
    update(org, store, user, on_behalf, status::set_state_change(target, state, status), now)
}

/// GrantAccess adds rights to a principal's share, ModifyAccess replaces them (SEC-7).
pub fn share(
    org: &Organization,
    store: &mut Store,
    target: &EntityReference,
    principal: &EntityReference,
    mask: u32,
    replace: bool,
) -> Result<(), Fault> {
    table(org, &target.logical_name)?;
    if !store.contains(&target.logical_name, target.id) {
        return Err(not_found(&target.logical_name, target.id));
    }
    if !store.contains(&principal.logical_name, principal.id) {
        return Err(not_found(&principal.logical_name, principal.id));
    }
    let existing = share_row(store, target.id, principal.id);
    let mut row = existing.as_deref().cloned().unwrap_or_else(|| {
        let mut row = Entity::with_id("principalobjectaccess", Uuid::new_v4());
        row.set("objectid", Value::Lookup(target.clone())).set("principalid", Value::Lookup(principal.clone()));
        row
    });
    let old = match row.get("accessrightsmask") {
        Some(Value::Integer(m)) if !replace => u32::try_from(*m).unwrap_or(0),
        _ => 0,
    };
    row.set("accessrightsmask", Value::Integer(i32::try_from(old | mask).unwrap_or(i32::MAX)));
    store.put(row);
    Ok(())
}

/// RevokeAccess: the principal's share is removed.
pub fn revoke(store: &mut Store, target: &EntityReference, revokee: &EntityReference) {
    if let Some(row) = share_row(store, target.id, revokee.id) {
        store.remove("principalobjectaccess", row.id.unwrap_or_default());
    }
}

fn share_row(store: &Store, object: Uuid, principal: Uuid) -> Option<std::sync::Arc<Entity>> {
    store
        .rows("principalobjectaccess")
        .find(|row| {
            matches!(row.get("objectid"), Some(Value::Lookup(r)) if r.id == object)
                && matches!(row.get("principalid"), Some(Value::Lookup(p)) if p.id == principal)
        })
        .cloned()
}

/// Associate (`add`) or Disassociate: rows of the relationship's intersect table.
pub fn relate(
    org: &Organization,
    store: &mut Store,
    name: &str,
    target: &EntityReference,
    related: &[EntityReference],
    add: bool,
) -> Result<(), Fault> {
    let rel = org.relationships.get(name).ok_or_else(|| {
        Fault::new(codes::INVALID_ARGUMENT, format!("the many-to-many relationship `{name}` does not exist (declare it under `relationships` in the organization)"))
    })?;
    for other in related {
        let (one, two) = match (target.logical_name.as_str(), other.logical_name.as_str()) {
            (a, b) if a == rel.entity1 && b == rel.entity2 => (target, other),
            (a, b) if a == rel.entity2 && b == rel.entity1 => (other, target),
            (a, b) => {
                return Err(Fault::new(
                    codes::INVALID_ARGUMENT,
                    format!("`{name}` relates {} and {}, not {a} and {b}", rel.entity1, rel.entity2),
                ));
            }
        };
        for side in [one, two] {
            if !store.contains(&side.logical_name, side.id) {
                return Err(not_found(&side.logical_name, side.id));
            }
        }
        if add {
            super::messages::security::check_association(store, &rel.intersect, one)?;
        }
        // Through the index on the first side's column: the security intersects hold a row per membership.
        let existing = store
            .find(&rel.intersect, &rel.entity1_column, &crate::store::IndexKey::Id(one.id))
            .into_iter()
            .flatten()
            .find(|row| row.get(&rel.entity2_column) == Some(&Value::Guid(two.id)))
            .and_then(|row| row.id);
        match (existing, add) {
            (Some(_), true) => {
                return Err(Fault::new(
                    codes::DUPLICATE_RECORD,
                    format!("Cannot insert duplicate key: the records are already associated through `{name}`"),
                ));
            }
            (None, true) => {
                let mut row = Entity::with_id(rel.intersect.clone(), Uuid::new_v4());
                row.set(rel.entity1_column.clone(), Value::Guid(one.id))
                    .set(rel.entity2_column.clone(), Value::Guid(two.id));
                store.put(row);
            }
            (Some(id), false) => {
                store.remove(&rel.intersect, id);
            }
            (None, false) => {}
        }
    }
    // SEC-10: a role or a team member more or less applies to the next check.
    if org.table(&rel.intersect).is_some_and(|t| !t.read_with.is_empty()) {
        store.security_changed();
    }
    Ok(())
}
