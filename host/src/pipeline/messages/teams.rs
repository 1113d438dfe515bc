//! Access teams (TEAM-1): `AddUserToRecordTeam` and `RemoveUserFromRecordTeam`. A team template names a table
//! and the access rights its teams get; the first user added to a record's team creates that team (an access
//! team, `teamtype` 1, regarding the record), shared the record with the template's rights, and its members
//! reach the record through that share (`authorize::shares`).

use chrono::{DateTime, Utc};

use xrm_model::{Entity, EntityReference, Fault, ParameterValue, Parameters, Request, Uuid, Value, codes};

use crate::org::Organization;
use crate::pipeline::authorize::check_record;
use crate::pipeline::{core, identity};
use crate::security::{self, Access, UserPrivileges};
use crate::store::{IndexKey, Store};

/// The request's record, user and template.
pub struct RecordTeam {
    pub record: EntityReference,
    pub user: Uuid,
    pub template: Uuid,
}

impl RecordTeam {
    /// `Record`, `SystemUserId` and `TeamTemplateId`, each required.
    pub fn of(request: &Request) -> Result<RecordTeam, Fault> {
        let missing =
            |name: &str| Fault::new(codes::INVALID_ARGUMENT, format!("the {} request needs `{name}`", request.message));
        let record = match request.parameter("Record") {
            Some(ParameterValue::Value(Value::Lookup(r))) => r.clone(),
            _ => return Err(missing("Record")),
        };
        Ok(RecordTeam {
            record,
            user: guid(request, "SystemUserId").ok_or_else(|| missing("SystemUserId"))?,
            template: guid(request, "TeamTemplateId").ok_or_else(|| missing("TeamTemplateId"))?,
        })
    }
}

/// A GUID parameter, given as a GUID or as a reference's id.
fn guid(request: &Request, name: &str) -> Option<Uuid> {
    match request.parameter(name)? {
        ParameterValue::Value(Value::Guid(id)) => Some(*id),
        ParameterValue::Value(Value::Lookup(r)) => Some(r.id),
        _ => None,
    }
}

/// The template's record, checked against the record's table.
pub fn template<'s>(org: &Organization, store: &'s Store, request: &RecordTeam) -> Result<&'s Entity, Fault> {
    let table = core::table(org, &request.record.logical_name)?;
    let template =
        store.get("teamtemplate", request.template).ok_or_else(|| core::not_found("teamtemplate", request.template))?;
    match template.get("objecttypecode") {
        Some(Value::Integer(code)) if *code == table.object_type_code => Ok(template),
        _ => Err(Fault::new(
            codes::INVALID_ARGUMENT,
            format!(
                "The team template {} is not for the {} table (object type code {})",
                request.template, table.logical_name, table.object_type_code
            ),
        )),
    }
}

/// The rights a template's teams get on their record.
pub fn rights(template: &Entity) -> u32 {
    match template.get("defaultaccessrightsmask") {
        Some(Value::Integer(mask)) => u32::try_from(*mask).unwrap_or(0),
        _ => 0,
    }
}

/// The access team of `record` made from `template`, if it exists yet.
fn find_team(store: &Store, record: Uuid, template: Uuid) -> Option<Uuid> {
    store
        .rows("team")
        .find(|t| {
            matches!(t.get("regardingobjectid"), Some(Value::Lookup(r)) if r.id == record)
                && matches!(t.get("teamtemplateid"), Some(Value::Lookup(r)) if r.id == template)
        })
        .and_then(|t| t.id)
}

fn membership(store: &Store, team: Uuid, user: Uuid) -> Option<Uuid> {
    store
        .find("teammembership", "systemuserid", &IndexKey::Id(user))
        .into_iter()
        .flatten()
        .find(|m| m.get("teamid") == Some(&Value::Guid(team)))
        .and_then(|m| m.id)
}

/// AddUserToRecordTeam: the record's team for the template (created and shared the record on first use), with
/// the user a member. Answers `AccessTeamId`.
pub fn add_user(
    org: &Organization,
    store: &mut Store,
    caller: Uuid,
    request: &Request,
    now: DateTime<Utc>,
) -> Result<Parameters, Fault> {
    let ask = RecordTeam::of(request)?;
    identity::check_user(org, ask.user)?;
    let mask = rights(template(org, store, &ask)?);
    let owner_unit = match store.get(&ask.record.logical_name, ask.record.id) {
        Some(record) => match record.get("owningbusinessunit") {
            Some(Value::Lookup(bu)) => bu.id,
            _ => org.root_business_unit,
        },
        None => return Err(core::not_found(&ask.record.logical_name, ask.record.id)),
    };
    let team = match find_team(store, ask.record.id, ask.template) {
        Some(team) => team,
        None => {
            let id = Uuid::new_v4();
            let mut team = Entity::with_id("team", id);
            team.set("name", format!("{}+{}", ask.record.id, ask.template))
                .set("teamtype", Value::Choice(1))
                .set("businessunitid", EntityReference::new("businessunit", owner_unit))
                .set("regardingobjectid", ask.record.clone())
                .set("teamtemplateid", EntityReference::new("teamtemplate", ask.template));
            core::create(org, store, caller, None, team, now)?;
            core::share(org, store, &ask.record, &EntityReference::new("team", id), mask, false)?;
            id
        }
    };
    if membership(store, team, ask.user).is_none() {
        let id = Uuid::new_v4();
        let mut member = Entity::with_id("teammembership", id);
        member
            .set("teammembershipid", Value::Guid(id))
            .set("teamid", Value::Guid(team))
            .set("systemuserid", Value::Guid(ask.user));
        store.put(member);
        // SEC-10: the user is in one more team.
        store.security_changed();
    }
    Ok(Parameters::from([("AccessTeamId".to_owned(), ParameterValue::Value(Value::Guid(team)))]))
}

/// RemoveUserFromRecordTeam: the user leaves the record's team for the template; the team and its share
/// stay. Answers `AccessTeamId`.
pub fn remove_user(org: &Organization, store: &mut Store, request: &Request) -> Result<Parameters, Fault> {
    let ask = RecordTeam::of(request)?;
    template(org, store, &ask)?;
    if !store.contains(&ask.record.logical_name, ask.record.id) {
        return Err(core::not_found(&ask.record.logical_name, ask.record.id));
    }
    let team = find_team(store, ask.record.id, ask.template).ok_or_else(|| {
        Fault::new(
            codes::OBJECT_DOES_NOT_EXIST,
            format!("The record {} has no access team made from the team template {}", ask.record.id, ask.template),
        )
    })?;
    if let Some(row) = membership(store, team, ask.user) {
        store.remove("teammembership", row);
        store.security_changed();
    }
    Ok(Parameters::from([("AccessTeamId".to_owned(), ParameterValue::Value(Value::Guid(team)))]))
}

/// The members of a team as the store holds them (SEC-10), through the index on `teamid`.
pub fn members(store: &Store, team: Uuid) -> impl Iterator<Item = Uuid> + '_ {
    let rows = store.find("teammembership", "teamid", &IndexKey::Id(team)).into_iter().flatten();
    rows.filter_map(|m| match m.get("systemuserid") {
        Some(Value::Guid(u)) => Some(*u),
        _ => None,
    })
}

/// The checks of the access team messages, as the platform states them: the Share privilege on the record's
/// table and Share access to the record; every access right the template gives, on the record; reading users
/// and team templates.
pub fn authorize(org: &Organization, who: &UserPrivileges, store: &Store, request: &Request) -> Result<(), Fault> {
    let ask = RecordTeam::of(request)?;
    let table = core::table(org, &ask.record.logical_name)?;
    security::check_privilege(org, who, Access::Share, table).into_result()?;
    check_record(org, who, store, Access::Share, &ask.record)?;
    let mask = rights(template(org, store, &ask)?);
    for access in ALL_ACCESS {
        if mask & access.flag() != 0 {
            check_record(org, who, store, access, &ask.record)?;
        }
    }
    for name in ["systemuser", "teamtemplate"] {
        security::check_privilege(org, who, Access::Read, core::table(org, name)?).into_result()?;
    }
    Ok(())
}

/// The rights a share can give, in the platform's order.
const ALL_ACCESS: [Access; 7] =
    [Access::Read, Access::Write, Access::Append, Access::AppendTo, Access::Delete, Access::Assign, Access::Share];
