//! Security that changes inside a case, and the questions plug-ins ask about it (SEC-10): `AddMembersTeam` and
//! `RemoveMembersTeam`; Associate and Disassociate of `systemuserroles_association`, `teamroles_association`
//! and `teammembership_association`; a user's move to another business unit; `RetrievePrincipalAccess` and
//! `RetrieveUserPrivileges`. Every change writes the security tables and gives the store a new security
//! version (`Store::security_changed`), so the next check resolves privileges again (`principals`); a rollback
//! restores both.

use xrm_model::{
    Entity, EntityCollection, EntityReference, Fault, ParameterValue, Parameters, Request, Uuid, Value, codes, messages,
};

use crate::org::{Depth, Organization, Ownership};
use crate::pipeline::authorize::{self, check_record};
use crate::pipeline::{CaseState, Pipeline, core, identity};
use crate::security::{self, Access, RecordAccess, UserPrivileges};
use crate::store::{IndexKey, Store};

/// The relationships whose rows are security (the privilege needed to associate a role, if any).
const RELATIONSHIPS: &[(&str, Option<Access>)] = &[
    ("systemuserroles_association", Some(Access::Assign)),
    ("teamroles_association", Some(Access::Assign)),
    ("teammembership_association", None),
];

fn missing(request: &Request, name: &str) -> Fault {
    Fault::new(codes::INVALID_ARGUMENT, format!("the {} request needs `{name}`", request.message))
}

/// A GUID parameter, given as a GUID or as a reference's id.
fn guid(request: &Request, name: &str) -> Result<Uuid, Fault> {
    match request.parameter(name) {
        Some(ParameterValue::Value(Value::Guid(id))) => Ok(*id),
        Some(ParameterValue::Value(Value::Lookup(r))) => Ok(r.id),
        _ => Err(missing(request, name)),
    }
}

/// The `MemberIds` of AddMembersTeam and RemoveMembersTeam: GUIDs, or references to users.
fn member_ids(request: &Request) -> Result<Vec<Uuid>, Fault> {
    match request.parameter(messages::MEMBER_IDS) {
        Some(ParameterValue::Guids(ids)) => Ok(ids.clone()),
        Some(ParameterValue::EntityReferences(refs)) => Ok(refs.iter().map(|r| r.id).collect()),
        Some(ParameterValue::Value(Value::Guid(id))) => Ok(vec![*id]),
        _ => Err(missing(request, messages::MEMBER_IDS)),
    }
}

/// The checks of the security messages. AddMembersTeam and RemoveMembersTeam: Write access to the team (the
/// platform's `prvWriteTeam`). RetrievePrincipalAccess: Read on the record's table (`prvRead<Table>`).
/// RetrieveUserPrivileges: `prvReadUser`.
pub fn authorize(org: &Organization, who: &UserPrivileges, store: &Store, request: &Request) -> Result<(), Fault> {
    match request.message.as_str() {
        messages::ADD_MEMBERS_TEAM | messages::REMOVE_MEMBERS_TEAM => {
            let team = EntityReference::new("team", guid(request, messages::TEAM_ID)?);
            check_record(org, who, store, Access::Write, &team)
        }
        messages::RETRIEVE_PRINCIPAL_ACCESS => {
            let target = request.target_reference().ok_or_else(|| missing(request, messages::TARGET))?;
            let table = core::table(org, &target.logical_name)?;
            security::check_privilege(org, who, Access::Read, table).into_result()
        }
        messages::RETRIEVE_USER_PRIVILEGES => {
            security::check_privilege(org, who, Access::Read, core::table(org, "systemuser")?).into_result()
        }
        _ => Ok(()),
    }
}

/// The checks of Associate and Disassociate on a security relationship, `None` for any other relationship:
/// Write access to the user or team whose roles or members change, and `prvAssignRole` to give or take a role
/// [choice].
pub fn authorize_relate(
    org: &Organization,
    who: &UserPrivileges,
    store: &Store,
    request: &Request,
) -> Option<Result<(), Fault>> {
    let Some(ParameterValue::Relationship(name)) = request.parameter(messages::RELATIONSHIP) else { return None };
    let (_, privilege) = RELATIONSHIPS.iter().find(|(n, _)| n == name)?;
    let check = || {
        if let Some(access) = privilege {
            security::check_privilege(org, who, *access, core::table(org, "role")?).into_result()?;
        }
        let target = request.target_reference().ok_or_else(|| missing(request, messages::TARGET))?;
        let related = match request.parameter(messages::RELATED_ENTITIES) {
            Some(ParameterValue::EntityReferences(refs)) => refs.clone(),
            _ => Vec::new(),
        };
        let membership = name == "teammembership_association";
        for side in std::iter::once(&target).chain(&related) {
            // The principal that changes: the team of a membership; the user or team that gets or loses a role.
            let changes = match membership {
                true => side.logical_name == "team",
                false => side.logical_name != "role",
            };
            if changes {
                check_record(org, who, store, Access::Write, side)?;
            }
        }
        Ok(())
    };
    Some(check())
}

/// Refuses a role for an access team (ORG-4: `0x80048331`) before Associate writes it; `first` is the first
/// side of the relationship (the team of `teamroles_association`).
pub fn check_association(store: &Store, intersect: &str, first: &EntityReference) -> Result<(), Fault> {
    if intersect != "teamroles" {
        return Ok(());
    }
    match store.get("team", first.id).and_then(|t| t.get("teamtype")) {
        Some(Value::Choice(1) | Value::Integer(1)) => Err(Fault::new(
            codes::ACCESS_TEAM_ROLE,
            format!("The team {} is an access team: access teams hold no security roles (ORG-4)", first.id),
        )),
        _ => Ok(()),
    }
}

/// AddMembersTeam (`add`) or RemoveMembersTeam: each user of `MemberIds` joins or leaves the team.
pub fn change_members(org: &Organization, store: &mut Store, request: &Request, add: bool) -> Result<(), Fault> {
    let team = guid(request, messages::TEAM_ID)?;
    if !store.contains("team", team) {
        return Err(core::not_found("team", team));
    }
    for member in member_ids(request)? {
        identity::check_user(org, member)?;
        let rows = store.find("teammembership", "systemuserid", &IndexKey::Id(member)).into_iter().flatten();
        let existing: Vec<Uuid> =
            rows.filter(|row| row.get("teamid") == Some(&Value::Guid(team))).filter_map(|row| row.id).collect();
        match (add, existing.is_empty()) {
            (true, true) => {
                let id = Uuid::new_v4();
                let mut row = Entity::with_id("teammembership", id);
                row.set("teammembershipid", Value::Guid(id))
                    .set("teamid", Value::Guid(team))
                    .set("systemuserid", Value::Guid(member));
                store.put(row);
            }
            (false, false) => existing.into_iter().for_each(|id| {
                store.remove("teammembership", id);
            }),
            _ => {}
        }
    }
    store.security_changed();
    Ok(())
}

/// A user moved to business unit `to` (an Update of `businessunitid`): the records the user owns move with
/// the user, as on the platform, and the user's privileges are measured from there at the next check [choice:
/// the user keeps the roles].
pub fn user_moved(org: &Organization, store: &mut Store, user: Uuid, to: Uuid) {
    let owned = org.tables.values().filter(|t| t.ownership == Ownership::UserOwned);
    for table in owned {
        let rows: Vec<Entity> = store
            .find(&table.logical_name, "ownerid", &IndexKey::Id(user))
            .into_iter()
            .flatten()
            .map(|row| Entity::clone(row))
            .collect();
        for mut row in rows {
            row.set("owningbusinessunit", EntityReference::new("businessunit", to));
            store.put(row);
        }
    }
    store.security_changed();
}

/// RetrievePrincipalAccess: the `AccessRights` mask a user or team has on the Target, as the checks of SEC-3
/// and the shares would grant each right (SYSTEM: every right).
pub fn principal_access(pipeline: &Pipeline, state: &CaseState, request: &Request) -> Result<Parameters, Fault> {
    let org = &pipeline.org;
    let store = state.store.data();
    let target = request.target_reference().ok_or_else(|| missing(request, messages::TARGET))?;
    let principal = request
        .parameter(messages::PRINCIPAL)
        .and_then(ParameterValue::as_reference)
        .ok_or_else(|| missing(request, messages::PRINCIPAL))?;
    let table = core::table(org, &target.logical_name)?;
    let record =
        store.get(&table.logical_name, target.id).ok_or_else(|| core::not_found(&table.logical_name, target.id))?;
    let mask = match principal.id == org.system_user {
        true => Access::ALL.iter().fold(0, |mask, a| mask | a.flag()),
        false => {
            let who = authorize::principal(pipeline, state, principal)
                .ok_or_else(|| core::not_found(&principal.logical_name, principal.id))?;
            let access = RecordAccess::of(table, record, authorize::shares(store, target.id));
            security::access_mask(org, &who, &access)
        }
    };
    let mask = i32::try_from(mask).unwrap_or(i32::MAX);
    Ok(Parameters::from([(messages::ACCESS_RIGHTS.to_owned(), ParameterValue::Value(Value::Integer(mask)))]))
}

/// The SDK's `PrivilegeDepth` value of a depth.
fn privilege_depth(depth: Depth) -> i32 {
    match depth {
        Depth::Basic => 0,
        Depth::Local => 1,
        Depth::Deep => 2,
        Depth::Global => 3,
    }
}

/// RetrieveUserPrivileges: every privilege the user holds, once per depth and business unit it is measured
/// from, as `roleprivilege` entities (`privilegeid`, `privilegename`, `depth`: 0 Basic … 3 Global, the SDK's
/// `PrivilegeDepth`, `businessunitid`), ordered by name.
pub fn user_privileges(pipeline: &Pipeline, state: &CaseState, request: &Request) -> Result<Parameters, Fault> {
    let org = &pipeline.org;
    let user = guid(request, "UserId")?;
    identity::check_user(org, user)?;
    let who = pipeline.who(state, user).ok_or_else(|| core::not_found("systemuser", user))?;
    let mut held: Vec<(&str, Depth, Uuid)> =
        who.all_grants().map(|(name, g)| (name, g.depth, g.business_unit)).collect();
    held.sort();
    held.dedup();
    let entities = held
        .into_iter()
        .map(|(name, depth, business_unit)| {
            let mut e = Entity::new("roleprivilege");
            e.set("privilegeid", Value::Guid(org.privilege_id(name)))
                .set("privilegename", name)
                .set("depth", Value::Choice(privilege_depth(depth)))
                .set("businessunitid", EntityReference::new("businessunit", business_unit));
            e
        })
        .collect();
    let collection = EntityCollection { entity_name: "roleprivilege".into(), entities, ..EntityCollection::default() };
    Ok(Parameters::from([(messages::ROLE_PRIVILEGES.to_owned(), ParameterValue::EntityCollection(collection))]))
}
