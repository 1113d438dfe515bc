//! The platform's privilege and access checks of a request (SEC-3, SEC-5), run after PreValidation (PIPE-5)
//! for every user but SYSTEM (ORG-2).

use xrm_model::{Entity, EntityReference, Fault, ParameterValue, Request, Uuid, Value, messages};

use super::core;
use super::messages as msg;
use crate::org::Organization;
use crate::security::{self, Access, RecordAccess, UserPrivileges};
use crate::store::{IndexKey, Store};

/// Columns the platform fills itself: writing them is not appending to the record they point to.
const STAMPED: &[&str] = &[
    "ownerid",
    "owninguser",
    "owningteam",
    "owningbusinessunit",
    "createdby",
    "modifiedby",
    "createdonbehalfby",
    "modifiedonbehalfby",
];

/// The shares on a record (SEC-7): each principal with its rights; the members of an access team the record is
/// shared with get the team's rights (TEAM-1).
pub fn shares(store: &Store, record: Uuid) -> Vec<(Uuid, u32)> {
    // Through the index on `objectid`: a read check per row of a query must not scan every share.
    let mut shares: Vec<(Uuid, u32)> = store
        .find("principalobjectaccess", "objectid", &IndexKey::Id(record))
        .into_iter()
        .flatten()
        .filter_map(|row| match (row.get("principalid"), row.get("accessrightsmask")) {
            (Some(Value::Lookup(p)), Some(Value::Integer(mask))) => Some((p.id, u32::try_from(*mask).unwrap_or(0))),
            _ => None,
        })
        .collect();
    let members: Vec<(Uuid, u32)> =
        shares.iter().flat_map(|(team, mask)| msg::teams::members(store, *team).map(move |u| (u, *mask))).collect();
    shares.extend(members);
    shares
}

/// Both checks of `access` on the stored record `target`; a missing record is the platform's not-found.
pub fn check_record(
    org: &Organization,
    who: &UserPrivileges,
    store: &Store,
    access: Access,
    target: &EntityReference,
) -> Result<(), Fault> {
    let table = core::table(org, &target.logical_name)?;
    let record =
        store.get(&table.logical_name, target.id).ok_or_else(|| core::not_found(&table.logical_name, target.id))?;
    security::check(org, who, access, &RecordAccess::of(table, record, shares(store, target.id))).into_result()
}

/// Whether `who` may read `row` of its table (SEC-6).
pub fn can_read(org: &Organization, who: &UserPrivileges, store: &Store, row: &Entity) -> bool {
    let Some(table) = org.table(&row.logical_name) else { return false };
    security::can_read(org, who, &RecordAccess::of(table, row, shares(store, row.id.unwrap_or_default())))
}

/// The checks of SEC-5 for `request`, as `who`.
pub fn request(
    org: &Organization,
    who: &UserPrivileges,
    store: &Store,
    request: &Request,
    table: &str,
) -> Result<(), Fault> {
    let target = request.target_reference();
    let target_of =
        || target.clone().ok_or_else(|| Fault::new(xrm_model::codes::INVALID_ARGUMENT, "the request needs a Target"));
    match request.message.as_str() {
        messages::CREATE => create(org, who, store, request.target_entity()),
        messages::UPDATE => update(org, who, store, request.target_entity()),
        messages::DELETE => check_record(org, who, store, Access::Delete, &target_of()?),
        messages::RETRIEVE => check_record(org, who, store, Access::Read, &target_of()?),
        messages::RETRIEVE_MULTIPLE => {
            // SEC-6: only a missing privilege fails, on the query's table or a linked one; rows are filtered as
            // they are read.
            let mut tables = vec![table.to_owned()];
            if let Some(q) = query_of(request)? {
                linked_tables(&q.link_entities, &mut tables);
            }
            tables
                .iter()
                .try_for_each(|t| security::check_privilege(org, who, Access::Read, core::table(org, t)?).into_result())
        }
        // PIPE-17: each target is checked as its single request would be; an Upsert's checks are those of the
        // Create or Update it becomes, in its own pipeline.
        messages::CREATE_MULTIPLE | messages::UPDATE_MULTIPLE => super::messages::bulk::as_single(request)
            .iter()
            .try_for_each(|single| self::request(org, who, store, single, table)),
        messages::ASSIGN => check_record(org, who, store, Access::Assign, &target_of()?),
        messages::SET_STATE => check_record(org, who, store, Access::Write, &target_of()?),
        messages::GRANT_ACCESS | messages::MODIFY_ACCESS | messages::REVOKE_ACCESS => {
            check_record(org, who, store, Access::Share, &target_of()?)
        }
        messages::ASSOCIATE | messages::DISASSOCIATE => {
            let target = target_of()?;
            let related = match request.parameter(messages::RELATED_ENTITIES) {
                Some(ParameterValue::EntityReferences(refs)) => refs.clone(),
                _ => Vec::new(),
            };
            // Both sides need both rights (SEC-5).
            for side in std::iter::once(&target).chain(&related) {
                check_record(org, who, store, Access::Append, side)?;
                check_record(org, who, store, Access::AppendTo, side)?;
            }
            Ok(())
        }
        messages::MERGE => msg::merge::authorize(org, who, store, request),
        messages::QUALIFY_LEAD => msg::qualify::authorize(org, who, store, request),
        messages::ADD_USER_TO_RECORD_TEAM | messages::REMOVE_USER_FROM_RECORD_TEAM => {
            msg::teams::authorize(org, who, store, request)
        }
        _ => Ok(()),
    }
}

/// The request's query as an expression (FetchXML read into one).
fn query_of(request: &Request) -> Result<Option<xrm_model::QueryExpression>, Fault> {
    match request.parameter(messages::QUERY) {
        Some(ParameterValue::Query(xrm_model::Query::Expression(q))) => Ok(Some(q.clone())),
        Some(ParameterValue::Query(xrm_model::Query::FetchXml(x))) => crate::query::fetchxml::parse(x).map(Some),
        _ => Ok(None),
    }
}

fn linked_tables(links: &[xrm_model::LinkEntity], into: &mut Vec<String>) {
    for l in links {
        into.push(l.link_to_entity_name.clone());
        linked_tables(&l.link_entities, into);
    }
}

fn create(org: &Organization, who: &UserPrivileges, store: &Store, target: Option<&Entity>) -> Result<(), Fault> {
    let Some(target) = target else { return Ok(()) };
    let table = core::table(org, &target.logical_name)?;
    security::check_privilege(org, who, Access::Create, table).into_result()?;
    if let Some(Value::Lookup(owner)) = target.get("ownerid")
        && owner.id != who.user
    {
        security::check_privilege(org, who, Access::Assign, table).into_result()?;
    }
    lookups(org, who, store, target)
}

fn update(org: &Organization, who: &UserPrivileges, store: &Store, target: Option<&Entity>) -> Result<(), Fault> {
    let Some(target) = target else { return Ok(()) };
    let reference = target.to_reference();
    check_record(org, who, store, Access::Write, &reference)?;
    if target.contains("ownerid") {
        check_record(org, who, store, Access::Assign, &reference)?;
    }
    if has_lookups(target) {
        check_record(org, who, store, Access::Append, &reference)?;
    }
    lookups(org, who, store, target)
}

fn has_lookups(target: &Entity) -> bool {
    target.attributes.iter().any(|(c, v)| matches!(v, Value::Lookup(_)) && !STAMPED.contains(&c.as_str()))
}

/// Setting a lookup needs `prvAppend` on the record written and `prvAppendTo` on the record pointed to.
fn lookups(org: &Organization, who: &UserPrivileges, store: &Store, target: &Entity) -> Result<(), Fault> {
    if !has_lookups(target) {
        return Ok(());
    }
    let table = core::table(org, &target.logical_name)?;
    security::check_privilege(org, who, Access::Append, table).into_result()?;
    for (column, value) in &target.attributes {
        if let Value::Lookup(to) = value
            && !STAMPED.contains(&column.as_str())
            && store.contains(&to.logical_name, to.id)
        {
            check_record(org, who, store, Access::AppendTo, to)?;
        }
    }
    Ok(())
}
