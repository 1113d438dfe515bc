//! The platform's privilege and access checks of a request (SEC-3, SEC-5, SEC-9), run after PreValidation
//! (PIPE-5) for every user but SYSTEM (ORG-2).

use std::sync::Arc;

use xrm_model::{Entity, EntityReference, Fault, ParameterValue, PrincipalAccess, Request, Uuid, Value, messages};

use super::messages as msg;
use super::principals::{self, Who};
use super::{CaseState, Pipeline, core};
use crate::org::{Organization, Ownership};
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
    // Shares only add rights: they are looked up only for a row no grant reaches, not for every row of a query.
    security::can_read(org, who, &RecordAccess::of(table, row, Vec::new()))
        || security::can_read(org, who, &RecordAccess::of(table, row, shares(store, row.id.unwrap_or_default())))
}

/// The checks of SEC-5 and SEC-9 for `request`, as `who`, against the case's store.
pub fn request(
    pipeline: &Pipeline,
    state: &CaseState,
    who: &UserPrivileges,
    request: &Request,
    table: &str,
) -> Result<(), Fault> {
    let org: &Organization = &pipeline.org;
    let store = state.store.data();
    let target = request.target_reference();
    let target_of =
        || target.clone().ok_or_else(|| Fault::new(xrm_model::codes::INVALID_ARGUMENT, "the request needs a Target"));
    match request.message.as_str() {
        messages::CREATE => create(pipeline, state, who, request.target_entity()),
        messages::UPDATE => update(pipeline, state, who, request.target_entity()),
        messages::DELETE => {
            let target = target_of()?;
            core::refuse_security_table(core::table(org, &target.logical_name)?, messages::DELETE)?;
            check_record(org, who, store, Access::Delete, &target)
        }
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
            .try_for_each(|single| self::request(pipeline, state, who, single, table)),
        messages::ASSIGN => {
            // SEC-9: assigning needs Write and Read besides Assign, and the new owner must be able to read.
            let target = target_of()?;
            for access in [Access::Assign, Access::Write, Access::Read] {
                check_record(org, who, store, access, &target)?;
            }
            match request.parameter(messages::ASSIGNEE).and_then(ParameterValue::as_reference) {
                Some(assignee) => new_owner_reads(pipeline, state, assignee, &target.logical_name),
                None => Ok(()),
            }
        }
        messages::SET_STATE => check_record(org, who, store, Access::Write, &target_of()?),
        messages::GRANT_ACCESS | messages::MODIFY_ACCESS => {
            // SEC-9: sharing needs Read besides Share; the sharee must be able to hold what it is given.
            let target = target_of()?;
            check_record(org, who, store, Access::Share, &target)?;
            check_record(org, who, store, Access::Read, &target)?;
            match request.parameter(messages::PRINCIPAL_ACCESS) {
                Some(ParameterValue::PrincipalAccess(pa)) => sharee_holds(pipeline, state, pa, &target.logical_name),
                _ => Ok(()),
            }
        }
        messages::REVOKE_ACCESS => check_record(org, who, store, Access::Share, &target_of()?),
        messages::ASSOCIATE | messages::DISASSOCIATE => {
            if let Some(checked) = msg::security::authorize_relate(org, who, store, request) {
                return checked;
            }
            let target = target_of()?;
            let related = match request.parameter(messages::RELATED_ENTITIES) {
                Some(ParameterValue::EntityReferences(refs)) => refs.clone(),
                _ => Vec::new(),
            };
            // Both sides need both rights (SEC-5), and Write and Read with them (SEC-9).
            for side in std::iter::once(&target).chain(&related) {
                for access in [Access::Append, Access::AppendTo, Access::Write, Access::Read] {
                    check_record(org, who, store, access, side)?;
                }
            }
            Ok(())
        }
        messages::MERGE => msg::merge::authorize(org, who, store, request),
        messages::QUALIFY_LEAD => msg::qualify::authorize(org, who, store, request),
        messages::SEND_EMAIL => msg::activities::authorize(org, who, store, request),
        messages::ADD_USER_TO_RECORD_TEAM | messages::REMOVE_USER_FROM_RECORD_TEAM => {
            msg::teams::authorize(org, who, store, request)
        }
        messages::ADD_MEMBERS_TEAM
        | messages::REMOVE_MEMBERS_TEAM
        | messages::RETRIEVE_PRINCIPAL_ACCESS
        | messages::RETRIEVE_USER_PRIVILEGES => msg::security::authorize(org, who, store, request),
        _ => Ok(()),
    }
}

/// The privileges of a user or team named by `principal` as the case stands (a team's own roles: SEC-9);
/// `None` for a principal the store does not have (the operation then fails as not found).
pub fn principal<'p>(pipeline: &'p Pipeline, state: &CaseState, principal: &EntityReference) -> Option<Who<'p>> {
    let org = &pipeline.org;
    match principal.logical_name.as_str() {
        "systemuser" => pipeline.who(state, principal.id),
        "team" => {
            let team = principals::team_roles(org, state.store.data(), principal.id)?;
            Some(Who::Case(Arc::new(UserPrivileges::of_team(org, &team))))
        }
        _ => None,
    }
}

/// SEC-9: the new owner of a record of `table`, a user or an owner team's roles, must hold Read on the table.
fn new_owner_reads(pipeline: &Pipeline, state: &CaseState, owner: &EntityReference, table: &str) -> Result<(), Fault> {
    let Some(owner) = principal(pipeline, state, owner) else { return Ok(()) };
    security::check_privilege(&pipeline.org, &owner, Access::Read, core::table(&pipeline.org, table)?).into_result()
}

/// SEC-9: the user or owner team a record is shared with must hold Read on the table, and the privilege of every
/// right the share gives. An access team holds no roles (ORG-4): its members' own privileges apply when they
/// use the share [choice].
fn sharee_holds(pipeline: &Pipeline, state: &CaseState, share: &PrincipalAccess, table: &str) -> Result<(), Fault> {
    let Some(sharee) = principal(pipeline, state, &share.principal) else { return Ok(()) };
    if sharee.is_team
        && principals::team_roles(&pipeline.org, state.store.data(), sharee.user).is_some_and(|t| !t.owner)
    {
        return Ok(());
    }
    let table = core::table(&pipeline.org, table)?;
    security::check_privilege(&pipeline.org, &sharee, Access::Read, table).into_result()?;
    for access in Access::ALL.into_iter().filter(|a| share.access_mask & a.flag() != 0) {
        security::check_privilege(&pipeline.org, &sharee, access, table).into_result()?;
    }
    Ok(())
}

/// The request's query as an expression (FetchXML read into one).
fn query_of(request: &Request) -> Result<Option<xrm_model::QueryExpression>, Fault> {
    match request.parameter(messages::QUERY) {
        Some(ParameterValue::Query(xrm_model::Query::Expression(q))) => Ok(Some(q.clone())),
        Some(ParameterValue::Query(xrm_model::Query::FetchXml(x))) => crate::query::fetchxml::parse(x).map(Some),
        Some(ParameterValue::Query(xrm_model::Query::ByAttribute(q))) => q.to_expression().map(Some),
        _ => Ok(None),
    }
}

fn linked_tables(links: &[xrm_model::LinkEntity], into: &mut Vec<String>) {
    for l in links {
        into.push(l.link_to_entity_name.clone());
        linked_tables(&l.link_entities, into);
    }
}

/// Create (SEC-5, SEC-9): the Create privilege, and Read to own the record; another owner also needs Assign,
/// and must be able to read it; lookups need Append (with Write and Read) on the table.
fn create(pipeline: &Pipeline, state: &CaseState, who: &UserPrivileges, target: Option<&Entity>) -> Result<(), Fault> {
    let org: &Organization = &pipeline.org;
    let Some(target) = target else { return Ok(()) };
    let table = core::table(org, &target.logical_name)?;
    core::refuse_security_table(table, messages::CREATE)?;
    security::check_privilege(org, who, Access::Create, table).into_result()?;
    let owned = table.ownership == Ownership::UserOwned;
    if owned {
        security::check_privilege(org, who, Access::Read, table).into_result()?;
    }
    if let Some(Value::Lookup(owner)) = target.get("ownerid")
        && owner.id != who.user
    {
        security::check_privilege(org, who, Access::Assign, table).into_result()?;
        if owned {
            new_owner_reads(pipeline, state, owner, &table.logical_name)?;
        }
    }
    if has_lookups(target) {
        for access in [Access::Append, Access::Write, Access::Read] {
            security::check_privilege(org, who, access, table).into_result()?;
        }
    }
    lookups(org, who, state.store.data(), target)
}

/// Update (SEC-5, SEC-9): Write; a new owner as Assign asks it; lookups need Append and Read on the record.
fn update(pipeline: &Pipeline, state: &CaseState, who: &UserPrivileges, target: Option<&Entity>) -> Result<(), Fault> {
    let org: &Organization = &pipeline.org;
    let store = state.store.data();
    let Some(target) = target else { return Ok(()) };
    let reference = target.to_reference();
    core::refuse_security_table(core::table(org, &reference.logical_name)?, messages::UPDATE)?;
    check_record(org, who, store, Access::Write, &reference)?;
    if let Some(owner) = target.get("ownerid") {
        check_record(org, who, store, Access::Assign, &reference)?;
        check_record(org, who, store, Access::Read, &reference)?;
        if let Value::Lookup(owner) = owner {
            new_owner_reads(pipeline, state, owner, &reference.logical_name)?;
        }
    }
    if has_lookups(target) {
        check_record(org, who, store, Access::Append, &reference)?;
        check_record(org, who, store, Access::Read, &reference)?;
    }
    lookups(org, who, store, target)
}

fn has_lookups(target: &Entity) -> bool {
    // A party of a party list is a lookup too (ACT-1).
    target
        .attributes
        .iter()
        .any(|(c, v)| matches!(v, Value::Lookup(_) | Value::EntityCollection(_)) && !STAMPED.contains(&c.as_str()))
}

/// Setting a lookup needs `prvAppend` on the record written and AppendTo on the record pointed to, with Write
/// and Read on it (SEC-9).
fn lookups(org: &Organization, who: &UserPrivileges, store: &Store, target: &Entity) -> Result<(), Fault> {
    if !has_lookups(target) {
        return Ok(());
    }
    let table = core::table(org, &target.logical_name)?;
    security::check_privilege(org, who, Access::Append, table).into_result()?;
    for (column, value) in &target.attributes {
        for to in super::messages::activities::pointed_at(value) {
            if !STAMPED.contains(&column.as_str()) && store.contains(&to.logical_name, to.id) {
                // SEC-9 on a lookup; a party of a party list needs AppendTo alone (ACT-1): an email to a user
                // needs no right to change that user.
                let rights: &[Access] = match value {
                    Value::Lookup(_) => &[Access::AppendTo, Access::Write, Access::Read],
                    _ => &[Access::AppendTo],
                };
                for access in rights {
                    check_record(org, who, store, *access, to)?;
                }
            }
        }
    }
    Ok(())
}
