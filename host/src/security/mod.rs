//! The security model (SEC-1..10, ORG-2, ORG-4): pure functions of the organization, the record and the
//! caller's resolved privileges. No I/O, no store writes, deny by default.
//!
//! Every operation is checked twice (SEC-3): the privilege check (does the user hold `prv<Access><Table>` at
//! any depth?) and the access check (does some grant of it reach this record?). A [`Decision`] that denies
//! carries the platform's error, ready to return.

mod privileges;

use xrm_model::{Entity, Fault, Uuid, Value, codes};

use crate::org::{Depth, Organization, Ownership, Table};
pub use privileges::{Grant, Membership, TeamRoles, UserPrivileges};

/// The access rights of SEC-1, in the order of the platform's `AccessRights` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    Create,
    Read,
    Write,
    Delete,
    Append,
    AppendTo,
    Assign,
    Share,
}

impl Access {
    /// Every right, in the order of the platform's `AccessRights` names.
    pub const ALL: [Access; 8] = [
        Access::Create,
        Access::Read,
        Access::Write,
        Access::Delete,
        Access::Append,
        Access::AppendTo,
        Access::Assign,
        Access::Share,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Access::Create => "Create",
            Access::Read => "Read",
            Access::Write => "Write",
            Access::Delete => "Delete",
            Access::Append => "Append",
            Access::AppendTo => "AppendTo",
            Access::Assign => "Assign",
            Access::Share => "Share",
        }
    }

    /// The `AccessRights` flag a share grants this right with.
    pub fn flag(self) -> u32 {
        use xrm_model::access_rights as r;
        match self {
            Access::Create => r::CREATE,
            Access::Read => r::READ,
            Access::Write => r::WRITE,
            Access::Delete => r::DELETE,
            Access::Append => r::APPEND,
            Access::AppendTo => r::APPEND_TO,
            Access::Assign => r::ASSIGN,
            Access::Share => r::SHARE,
        }
    }

    /// The table privilege's name: `prvCreateAccount` (`prvCreateNote` for annotations: [`Table::privilege_name`]).
    pub fn privilege(self, table: &Table) -> &str {
        table.privilege_of(self as usize)
    }
}

/// A record's ownership and the shares on it, as the access check reads them.
pub struct RecordAccess<'r> {
    pub table: &'r Table,
    pub id: Uuid,
    /// `ownerid`: a user or a team.
    pub owner: Option<(OwnerKind, Uuid)>,
    pub business_unit: Option<Uuid>,
    /// Shares on the record: principal (user or team) and its rights mask (SEC-7).
    pub shares: Vec<(Uuid, u32)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerKind {
    User,
    Team,
}

impl<'r> RecordAccess<'r> {
    /// Reads ownership from a stored record of `table`.
    pub fn of(table: &'r Table, record: &Entity, shares: Vec<(Uuid, u32)>) -> Self {
        let owner = match record.get("ownerid") {
            Some(Value::Lookup(r)) if r.logical_name == "team" => Some((OwnerKind::Team, r.id)),
            Some(Value::Lookup(r)) => Some((OwnerKind::User, r.id)),
            _ => None,
        };
        let business_unit = match record.get("owningbusinessunit").or_else(|| record.get("businessunitid")) {
            Some(Value::Lookup(r)) => Some(r.id),
            _ if table.logical_name == "businessunit" => record.id,
            _ => None,
        };
        RecordAccess { table, id: record.id.unwrap_or_default(), owner, business_unit, shares }
    }
}

/// Whether an operation may go ahead, and why not.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Allow,
    Deny(Fault),
}

impl Decision {
    pub fn into_result(self) -> Result<(), Fault> {
        match self {
            Decision::Allow => Ok(()),
            Decision::Deny(f) => Err(f),
        }
    }
}

/// The privilege check of SEC-3: `privileges` hold `access` on `table` at some depth.
pub fn check_privilege(org: &Organization, privileges: &UserPrivileges, access: Access, table: &Table) -> Decision {
    let name = access.privilege(table);
    match privileges.holds(name) {
        true => Decision::Allow,
        false => missing(org, privileges, access, name, table),
    }
}

/// A table privilege is missing: the error, unless the table is read with other tables' Read privileges (the
/// security tables, SEC-10) and those are held. Only a missing privilege comes here, so the tables read as
/// themselves pay nothing for the others.
fn missing(org: &Organization, privileges: &UserPrivileges, access: Access, name: &str, table: &Table) -> Decision {
    if access != Access::Read || table.read_with.is_empty() {
        return Decision::Deny(privilege_denied(org, privileges, name, table));
    }
    for side in &table.read_with {
        let name = format!("prvRead{side}");
        if !privileges.holds(&name) {
            let side_table = org.tables.values().find(|t| t.privilege_name == *side && t.read_with.is_empty());
            return Decision::Deny(privilege_denied(org, privileges, &name, side_table.unwrap_or(table)));
        }
    }
    Decision::Allow
}

/// A plain privilege (`prvActOnBehalfOfAnotherUser`), held at any depth.
pub fn check_plain_privilege(org: &Organization, privileges: &UserPrivileges, name: &str) -> Decision {
    match privileges.holds(name) {
        true => Decision::Allow,
        false => Decision::Deny(Fault::new(
            codes::PRIVILEGE_DENIED,
            format!(
                "Principal {} (Id={}, type={}, roleCount={}, privilegeCount={}, accessMode=0) is missing {name} privilege (Id={})",
                principal_kind(privileges).0,
                privileges.user,
                principal_kind(privileges).1,
                privileges.role_count,
                privileges.privilege_count(),
                privilege_id(org, name)
            ),
        )),
    }
}

/// Both checks of SEC-3 for `access` on an existing record.
pub fn check(org: &Organization, privileges: &UserPrivileges, access: Access, record: &RecordAccess) -> Decision {
    let name = access.privilege(record.table);
    if !privileges.holds(name) {
        // The security tables are organization-owned: held the privileges they are read with, every row is reached.
        return missing(org, privileges, access, name, record.table);
    }
    match reaches(org, privileges, name, access, record) {
        true => Decision::Allow,
        false => Decision::Deny(access_denied(privileges.user, access, record)),
    }
}

/// Whether the caller may read a record: the test RetrieveMultiple applies to each row (SEC-6).
/// Both checks of SEC-3 as `check`, without building the error a row left out does not need.
pub fn can_read(org: &Organization, privileges: &UserPrivileges, record: &RecordAccess) -> bool {
    let name = Access::Read.privilege(record.table);
    match privileges.holds(name) {
        true => reaches(org, privileges, name, Access::Read, record),
        // SEC-10: a security table's rows, read with the Read privileges of the principals they relate.
        false => {
            !record.table.read_with.is_empty()
                && missing(org, privileges, Access::Read, name, record.table) == Decision::Allow
        }
    }
}

/// The rights `privileges` have on a record (RetrievePrincipalAccess, SEC-10): each right whose privilege is
/// held and reaches the record, or is shared with the principal, as the checks of SEC-3 would grant it.
pub fn access_mask(org: &Organization, privileges: &UserPrivileges, record: &RecordAccess) -> u32 {
    Access::ALL
        .iter()
        .filter(|access| check(org, privileges, **access, record) == Decision::Allow)
        .fold(0, |mask, access| mask | access.flag())
}

/// The access check: does any grant of the privilege reach the record, or a share give the right?
/// `name` is the table privilege of `access`, already known to be held.
fn reaches(org: &Organization, privileges: &UserPrivileges, name: &str, access: Access, record: &RecordAccess) -> bool {
    // SEC-4: an organization-owned table has no owner to measure depth from; any grant reaches every row.
    if record.table.ownership == Ownership::OrganizationOwned {
        return true;
    }
    let grants_reach = privileges.grants(name).iter().any(|g| grant_reaches(org, privileges, g, record));
    grants_reach || shared_with(privileges, access, record)
}

fn grant_reaches(org: &Organization, privileges: &UserPrivileges, grant: &Grant, record: &RecordAccess) -> bool {
    if grant.depth == Depth::Global {
        return true;
    }
    if owned_by(privileges, record) {
        return true;
    }
    let Some(bu) = record.business_unit else { return false };
    match grant.depth {
        Depth::Basic => false,
        Depth::Local => bu == grant.business_unit,
        Depth::Deep => org.is_within(bu, grant.business_unit),
        Depth::Global => true,
    }
}

/// Basic reach: the user owns the record, or a team the user belongs to does.
fn owned_by(privileges: &UserPrivileges, record: &RecordAccess) -> bool {
    match record.owner {
        Some((OwnerKind::User, id)) => id == privileges.user,
        Some((OwnerKind::Team, id)) => privileges.teams.contains(&id),
        None => false,
    }
}

/// SEC-7: a share with the user or one of the user's teams that includes the right. A share gives access
/// only where the privilege is held at some depth (checked before).
fn shared_with(privileges: &UserPrivileges, access: Access, record: &RecordAccess) -> bool {
    record.shares.iter().any(|(principal, mask)| {
        mask & access.flag() != 0 && (*principal == privileges.user || privileges.teams.contains(principal))
    })
}

/// The stable id of a privilege within an organization (the platform's `privilegeid`).
pub fn privilege_id(org: &Organization, name: &str) -> Uuid {
    org.privilege_id(name)
}

fn privilege_denied(org: &Organization, privileges: &UserPrivileges, name: &str, table: &Table) -> Fault {
    Fault::new(
        codes::PRIVILEGE_DENIED,
        format!(
            "Principal {} (Id={}, type={}, roleCount={}, privilegeCount={}, accessMode=0) is missing {name} privilege (Id={}) on OTC={} for entity '{}'",
            principal_kind(privileges).0,
            privileges.user,
            principal_kind(privileges).1,
            privileges.role_count,
            privileges.privilege_count(),
            privilege_id(org, name),
            table.object_type_code,
            table.logical_name
        ),
    )
}

/// How the platform's errors name a principal: a user (`type=8`) or a team (`type=9`).
fn principal_kind(privileges: &UserPrivileges) -> (&'static str, u8) {
    match privileges.is_team {
        true => ("team", 9),
        false => ("user", 8),
    }
}

fn access_denied(user: Uuid, access: Access, record: &RecordAccess) -> Fault {
    Fault::new(
        codes::ACCESS_DENIED,
        format!(
            "Principal user (Id={user}) does not have {}Access right(s) for record with Id = {} of entity {}",
            access.name(),
            record.id,
            record.table.logical_name
        ),
    )
}

#[cfg(test)]
mod tests;
