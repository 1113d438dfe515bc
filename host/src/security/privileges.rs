//! A user's privileges, resolved once (SEC-2): the roles assigned directly and those of the owner teams the
//! user belongs to, each grant remembering the business unit its depth is measured from.

use std::collections::{HashMap, HashSet};

use xrm_model::Uuid;

use crate::org::{Depth, Organization, TeamType};

/// One way a privilege is held: at a depth, measured from a business unit (the user's for a role held
/// directly, the team's for a role held through a team: SEC-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub depth: Depth,
    pub business_unit: Uuid,
    /// Held through a role assigned to the user directly (IMP-6 counts only these for Delegate).
    pub direct: bool,
}

#[derive(Debug, Clone, Default)]
pub struct UserPrivileges {
    /// The user, or the team when these are a team's privileges ([`UserPrivileges::of_team`]).
    pub user: Uuid,
    pub business_unit: Uuid,
    /// Every team the user is a member of (owner and access teams: both can own or be shared records); for a
    /// team, the team itself.
    pub teams: HashSet<Uuid>,
    pub role_count: usize,
    /// These are a team's privileges: errors name a team (`type=9`).
    pub is_team: bool,
    grants: HashMap<String, Vec<Grant>>,
}

/// Where a user's privileges come from (SEC-2): the user's business unit and roles, and the teams the user is a
/// member of. Read from the organization as declared, or from a case's security tables once they changed
/// (SEC-10): one resolution for both.
#[derive(Debug, Clone, Default)]
pub struct Membership {
    pub business_unit: Uuid,
    pub roles: Vec<Uuid>,
    pub teams: Vec<TeamRoles>,
}

/// A team a user belongs to, as a user's privileges see it.
#[derive(Debug, Clone)]
pub struct TeamRoles {
    pub id: Uuid,
    pub business_unit: Uuid,
    /// Access teams hold no roles (ORG-4): their roles, if any were given, are not counted.
    pub owner: bool,
    pub roles: Vec<Uuid>,
}

impl Membership {
    /// The membership of `user` as the organization declares it; `None` for an unknown user.
    pub fn declared(org: &Organization, user: Uuid) -> Option<Membership> {
        let u = org.user(user)?;
        let teams = org.teams.values().filter(|t| t.members.contains(&user));
        let teams = teams.map(|t| TeamRoles {
            id: t.id,
            business_unit: t.business_unit,
            owner: t.team_type == TeamType::Owner,
            roles: t.roles.clone(),
        });
        Some(Membership { business_unit: u.business_unit, roles: u.roles.clone(), teams: teams.collect() })
    }
}

impl UserPrivileges {
    /// Resolves the privileges of `user` in `org`; an unknown user holds nothing.
    pub fn resolve(org: &Organization, user: Uuid) -> Self {
        match Membership::declared(org, user) {
            Some(membership) => Self::of_membership(org, user, &membership),
            None => UserPrivileges { user, ..UserPrivileges::default() },
        }
    }

    /// The privileges of `user` with `membership` (SEC-2): the roles held directly, measured from the user's
    /// business unit, and those of the owner teams, measured from each team's.
    pub fn of_membership(org: &Organization, user: Uuid, membership: &Membership) -> Self {
        let mut p = UserPrivileges { user, business_unit: membership.business_unit, ..UserPrivileges::default() };
        for role in &membership.roles {
            p.add_role(org, *role, membership.business_unit, true);
        }
        for team in &membership.teams {
            p.teams.insert(team.id);
            // ORG-4: access teams hold no roles.
            if team.owner {
                for role in &team.roles {
                    p.add_role(org, *role, team.business_unit, false);
                }
            }
        }
        p
    }

    /// A team's own privileges, as the checks on a team principal read them (SEC-9: the new owner or the sharee
    /// is a team): its roles when it is an owner team, measured from its business unit; it owns what it owns.
    pub fn of_team(org: &Organization, team: &TeamRoles) -> Self {
        let mut p =
            UserPrivileges { user: team.id, business_unit: team.business_unit, is_team: true, ..Self::default() };
        p.teams.insert(team.id);
        if team.owner {
            for role in &team.roles {
                p.add_role(org, *role, team.business_unit, false);
            }
        }
        p
    }

    fn add_role(&mut self, org: &Organization, role: Uuid, business_unit: Uuid, direct: bool) {
        let Some(role) = org.roles.get(&role) else { return };
        self.role_count += 1;
        for (name, depth) in &role.privileges {
            let grant = Grant { depth: *depth, business_unit, direct };
            let grants = self.grants.entry(name.clone()).or_default();
            if !grants.contains(&grant) {
                grants.push(grant);
            }
        }
    }

    /// Drops every grant held only through a team, so the rest reads as the directly assigned roles alone.
    pub fn keep_direct_only(&mut self) {
        for grants in self.grants.values_mut() {
            grants.retain(|g| g.direct);
        }
        self.grants.retain(|_, grants| !grants.is_empty());
    }

    pub fn holds(&self, privilege: &str) -> bool {
        self.grants.contains_key(privilege)
    }

    /// Held through a role assigned directly to the user (not only through a team).
    pub fn holds_directly(&self, privilege: &str) -> bool {
        self.grants(privilege).iter().any(|g| g.direct)
    }

    /// Every privilege held, with each way it is held (RetrieveUserPrivileges).
    pub fn all_grants(&self) -> impl Iterator<Item = (&str, &Grant)> {
        self.grants.iter().flat_map(|(name, grants)| grants.iter().map(move |g| (name.as_str(), g)))
    }

    pub fn grants(&self, privilege: &str) -> &[Grant] {
        self.grants.get(privilege).map_or(&[], Vec::as_slice)
    }

    /// The deepest depth the privilege is held at (SEC-2: the deepest wins), if held.
    pub fn depth(&self, privilege: &str) -> Option<Depth> {
        self.grants(privilege).iter().map(|g| g.depth).max()
    }

    pub fn privilege_count(&self) -> usize {
        self.grants.len()
    }
}
