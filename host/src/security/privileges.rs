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
    pub user: Uuid,
    pub business_unit: Uuid,
    /// Every team the user is a member of (owner and access teams: both can own or be shared records).
    pub teams: HashSet<Uuid>,
    pub role_count: usize,
    grants: HashMap<String, Vec<Grant>>,
}

impl UserPrivileges {
    /// Resolves the privileges of `user` in `org`; an unknown user holds nothing.
    pub fn resolve(org: &Organization, user: Uuid) -> Self {
        let Some(u) = org.user(user) else {
            return UserPrivileges { user, ..UserPrivileges::default() };
        };
        let mut p = UserPrivileges { user, business_unit: u.business_unit, ..UserPrivileges::default() };
        for role in &u.roles {
            p.add_role(org, *role, u.business_unit, true);
        }
        for team in org.teams.values().filter(|t| t.members.contains(&user)) {
            p.teams.insert(team.id);
            // ORG-4: access teams hold no roles.
            if team.team_type == TeamType::Owner {
                for role in &team.roles {
                    p.add_role(org, *role, team.business_unit, false);
                }
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
