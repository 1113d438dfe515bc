//! Whose privileges a check uses (SEC-2, SEC-10). Each user's privileges are resolved once per suite, from the
//! organization: the fast path, taken while a case's security tables are as the organization declared them (a
//! compare of the store's security version with 0). Once a case changes them (team members, roles, a user's
//! business unit), its checks resolve from its own store instead, kept for that version of the store until
//! the next change or a rollback gives another.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex, PoisonError};

use xrm_model::{Uuid, Value};

use super::{CaseState, Pipeline, core};
use crate::org::Organization;
use crate::security::{Membership, TeamRoles, UserPrivileges};
use crate::store::{IndexKey, Store};

/// A principal's privileges: the suite's resolution, or one made for the case's security tables.
pub enum Who<'p> {
    Suite(&'p UserPrivileges),
    Case(Arc<UserPrivileges>),
}

impl Deref for Who<'_> {
    type Target = UserPrivileges;

    fn deref(&self) -> &UserPrivileges {
        match self {
            Who::Suite(p) => p,
            Who::Case(p) => p,
        }
    }
}

/// The privileges resolved for one version of a case's security tables.
#[derive(Default)]
pub struct SecurityCache {
    version: u64,
    users: HashMap<Uuid, Arc<UserPrivileges>>,
}

impl Pipeline {
    /// `user`'s privileges as the case's store holds the security tables; `None` for a user the organization
    /// does not have (SYSTEM included: callers test for it first).
    pub(in crate::pipeline) fn who(&self, state: &CaseState, user: Uuid) -> Option<Who<'_>> {
        self.who_in(state.store.data(), &state.security, user)
    }

    /// [`Pipeline::who`] for `store`, keeping what it resolves in `cache`.
    pub fn who_in(&self, store: &Store, cache: &Mutex<SecurityCache>, user: Uuid) -> Option<Who<'_>> {
        let version = store.security_version();
        if version == 0 {
            return self.privileges.get(&user).map(Who::Suite);
        }
        let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.version != version {
            cache.users.clear();
            cache.version = version;
        }
        if let Some(p) = cache.users.get(&user) {
            return Some(Who::Case(p.clone()));
        }
        let membership = user_membership(&self.org, store, user)?;
        let privileges = Arc::new(UserPrivileges::of_membership(&self.org, user, &membership));
        cache.users.insert(user, privileges.clone());
        Some(Who::Case(privileges))
    }
}

/// A user's business unit, roles and teams as the store's security tables hold them; `None` for a user the
/// organization does not have.
pub fn user_membership(org: &Organization, store: &Store, user: Uuid) -> Option<Membership> {
    org.user(user)?;
    let teams = linked(store, "teammembership", "systemuserid", user, "teamid");
    Some(Membership {
        business_unit: core::business_unit_of(org, store, user),
        roles: linked(store, "systemuserroles", "systemuserid", user, "roleid"),
        teams: teams.into_iter().filter_map(|team| team_roles(org, store, team)).collect(),
    })
}

/// A team's business unit, kind and roles as the store holds them; `None` for a team it does not have.
pub fn team_roles(org: &Organization, store: &Store, team: Uuid) -> Option<TeamRoles> {
    let row = store.get("team", team)?;
    let business_unit = match row.get("businessunitid") {
        Some(Value::Lookup(bu)) => bu.id,
        _ => org.root_business_unit,
    };
    Some(TeamRoles {
        id: team,
        business_unit,
        // `teamtype` 1 is an access team (ORG-4); owner teams (0) and group teams hold roles.
        owner: !matches!(row.get("teamtype"), Some(Value::Choice(1) | Value::Integer(1))),
        roles: linked(store, "teamroles", "teamid", team, "roleid"),
    })
}

/// The `wanted` GUIDs of the rows of an intersect `table` whose `column` is `id`, through the index.
fn linked(store: &Store, table: &str, column: &str, id: Uuid, wanted: &str) -> Vec<Uuid> {
    let rows = store.find(table, column, &IndexKey::Id(id)).into_iter().flatten();
    rows.filter_map(|row| match row.get(wanted) {
        Some(Value::Guid(g)) => Some(*g),
        _ => None,
    })
    .collect()
}
