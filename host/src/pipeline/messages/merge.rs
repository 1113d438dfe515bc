//! Merge (MERGE-1): the subordinate record's data moves into the target, the records that point at the
//! subordinate point at the target instead, and the subordinate is deactivated, marked merged into the target.
//! Accounts, contacts and leads merge, as on the platform.

use chrono::{DateTime, Utc};

use xrm_model::{Entity, EntityReference, Fault, ParameterValue, Request, Uuid, Value, codes};

use crate::org::{ColumnType, Organization};
use crate::pipeline::authorize::check_record;
use crate::pipeline::core;
use crate::security::{self, Access, UserPrivileges};
use crate::store::Store;

/// The tables Merge works on, and the state a merged subordinate is left in.
const MERGEABLE: &[(&str, i32)] = &[("account", 1), ("contact", 1), ("lead", 2)];

/// Columns the platform keeps to itself: never copied from the subordinate.
const SYSTEM: &[&str] = &[
    "createdby",
    "createdon",
    "createdonbehalfby",
    "modifiedby",
    "modifiedon",
    "modifiedonbehalfby",
    "ownerid",
    "owninguser",
    "owningteam",
    "owningbusinessunit",
    "statecode",
    "statuscode",
    "versionnumber",
    "masterid",
    "merged",
    "exchangerate",
];

/// The tables whose lookups are the platform's bookkeeping, not children: never re-pointed.
const NOT_CHILDREN: &[&str] = &[
    "asyncoperation",
    "plugintracelog",
    "principalobjectaccess",
    "team",
    "teammembership",
    "systemuser",
    "businessunit",
    "role",
    "organization",
];

/// The merge a request asks for: target, subordinate, the columns to set on the target.
pub struct Merge {
    pub target: EntityReference,
    pub subordinate: EntityReference,
    pub update: Option<Entity>,
    pub parenting_checks: bool,
}

impl Merge {
    pub fn of(request: &Request) -> Result<Merge, Fault> {
        let invalid = |m: String| Fault::new(codes::INVALID_ARGUMENT, m);
        let target = request.target_reference().ok_or_else(|| invalid("the Merge request needs a Target".into()))?;
        let subordinate = match request.parameter("SubordinateId") {
            Some(ParameterValue::Value(Value::Guid(id))) => *id,
            Some(ParameterValue::Value(Value::Lookup(r))) => r.id,
            _ => return Err(invalid("the Merge request needs `SubordinateId`".into())),
        };
        let update = match request.parameter("UpdateContent") {
            Some(ParameterValue::Entity(e)) => Some(e.clone()),
            None | Some(ParameterValue::Value(Value::Null)) => None,
            Some(_) => return Err(invalid("`UpdateContent` of a Merge request is an entity".into())),
        };
        let parenting_checks =
            matches!(request.parameter("PerformParentingChecks"), Some(ParameterValue::Value(Value::Boolean(true))));
        if !MERGEABLE.iter().any(|(t, _)| *t == target.logical_name) {
            return Err(invalid(format!(
                "Merge is not supported for the {} table: it merges accounts, contacts and leads",
                target.logical_name
            )));
        }
        if subordinate == target.id {
            return Err(invalid("a record cannot be merged into itself".into()));
        }
        let subordinate = EntityReference::new(target.logical_name.clone(), subordinate);
        Ok(Merge { target, subordinate, update, parenting_checks })
    }
}

/// Runs the merge as `user` (`on_behalf`: the external impersonator).
pub fn run(
    org: &Organization,
    store: &mut Store,
    user: Uuid,
    on_behalf: Option<Uuid>,
    merge: &Merge,
    now: DateTime<Utc>,
) -> Result<(), Fault> {
    let table = core::table(org, &merge.target.logical_name)?;
    let get = |r: &EntityReference| {
        store.get(&r.logical_name, r.id).cloned().ok_or_else(|| core::not_found(&r.logical_name, r.id))
    };
    let master = get(&merge.target)?;
    let subordinate = get(&merge.subordinate)?;
    if merge.parenting_checks {
        let parent = if table.logical_name == "contact" { "parentcustomerid" } else { "parentaccountid" };
        let of = |e: &Entity| e.get(parent).filter(|v| !v.is_null()).cloned();
        if let (Some(a), Some(b)) = (of(&master), of(&subordinate))
            && a != b
        {
            return Err(Fault::new(
                codes::INVALID_ARGUMENT,
                format!(
                    "The {} records have different parents: PerformParentingChecks refuses to merge them",
                    table.logical_name
                ),
            ));
        }
    }
    // The subordinate's data fills what the target lacks; the target's own data is never overwritten.
    let mut change = Entity::with_id(table.logical_name.clone(), merge.target.id);
    for (column, value) in &subordinate.attributes {
        let system = SYSTEM.contains(&column.as_str()) || *column == table.primary_id || column.ends_with("_base");
        let empty_on_master = master.get(column).is_none_or(Value::is_null);
        if !system && !value.is_null() && empty_on_master {
            change.attributes.insert(column.clone(), value.clone());
        }
    }
    if let Some(update) = &merge.update {
        change.attributes.extend(update.attributes.clone());
    }
    core::update(org, store, user, on_behalf, change, now)?;
    repoint_children(org, store, user, (&merge.subordinate, &merge.target), now)?;
    let state = MERGEABLE.iter().find(|(t, _)| *t == table.logical_name).map_or(1, |(_, s)| *s);
    let mut retire = Entity::with_id(table.logical_name.clone(), merge.subordinate.id);
    retire.set("statecode", Value::Choice(state)).set("merged", true).set("masterid", merge.target.clone());
    core::update(org, store, user, on_behalf, retire, now)
}

/// Every lookup of a record table that points at `from` points at `to` instead (the subordinate's own
/// columns aside).
fn repoint_children(
    org: &Organization,
    store: &mut Store,
    user: Uuid,
    (from, to): (&EntityReference, &EntityReference),
    now: DateTime<Utc>,
) -> Result<(), Fault> {
    let mut changes = Vec::new();
    let mut meter = crate::deadline::Meter::new();
    for table in org.tables.values().filter(|t| !NOT_CHILDREN.contains(&t.logical_name.as_str())) {
        let lookups: Vec<&String> = table
            .columns
            .iter()
            .filter(|(name, ty)| matches!(ty, ColumnType::Lookup(_)) && !SYSTEM.contains(&name.as_str()))
            .map(|(name, _)| name)
            .collect();
        if lookups.is_empty() {
            continue;
        }
        for row in store.rows(&table.logical_name) {
            meter.tick()?;
            if row.id == Some(from.id) {
                continue;
            }
            let mut change = Entity::with_id(table.logical_name.clone(), row.id.unwrap_or_default());
            for column in &lookups {
                if matches!(row.get(column), Some(Value::Lookup(r)) if r.id == from.id && r.logical_name == from.logical_name)
                {
                    change.set((*column).clone(), to.clone());
                }
            }
            if !change.attributes.is_empty() {
                changes.push(change);
            }
        }
    }
    for change in changes {
        core::update(org, store, user, None, change, now)?;
    }
    Ok(())
}

/// The checks of Merge (MERGE-1), the privileges the platform lists for it: `prvMerge`; Read and Write on both
/// records, and the table's Share privilege; AppendTo on the target, which the subordinate's children come to;
/// Write and Append on activities, which are re-pointed too.
pub fn authorize(org: &Organization, who: &UserPrivileges, store: &Store, request: &Request) -> Result<(), Fault> {
    let merge = Merge::of(request)?;
    security::check_plain_privilege(org, who, "prvMerge").into_result()?;
    let table = core::table(org, &merge.target.logical_name)?;
    security::check_privilege(org, who, Access::Share, table).into_result()?;
    for record in [&merge.target, &merge.subordinate] {
        check_record(org, who, store, Access::Read, record)?;
        check_record(org, who, store, Access::Write, record)?;
    }
    check_record(org, who, store, Access::AppendTo, &merge.target)?;
    if let Some(activity) = org.table("task") {
        security::check_privilege(org, who, Access::Write, activity).into_result()?;
        security::check_privilege(org, who, Access::Append, activity).into_result()?;
    }
    Ok(())
}
