//! The security tables as rows (SEC-10): who holds which role, who is in which team, what each role grants and
//! which privileges exist, seeded from the organization so that queries read them like any table and the
//! security messages change them inside a case.

use xrm_model::{Entity, Uuid, Value, access_rights};

use super::file::PLAIN_PRIVILEGES;
use super::{Depth, Organization};

/// The access right of each table privilege's verb, as `privilege.accessright` holds it.
const VERBS: [(&str, u32); 8] = [
    ("Create", access_rights::CREATE),
    ("Read", access_rights::READ),
    ("Write", access_rights::WRITE),
    ("Delete", access_rights::DELETE),
    ("AppendTo", access_rights::APPEND_TO),
    ("Append", access_rights::APPEND),
    ("Assign", access_rights::ASSIGN),
    ("Share", access_rights::SHARE),
];

/// The platform's `privilegedepthmask` of a depth: 1 Basic, 2 Local, 4 Deep, 8 Global.
fn depth_mask(depth: Depth) -> i32 {
    match depth {
        Depth::Basic => 1,
        Depth::Local => 2,
        Depth::Deep => 4,
        Depth::Global => 8,
    }
}

/// The rows of `systemuserroles`, `teammembership`, `teamroles`, `roleprivileges` and `privilege`. Each id is
/// derived from what the row links, so a suite's results are the same from run to run.
pub(super) fn rows(org: &Organization) -> Vec<Entity> {
    let mut rows = Vec::new();
    let mut link = |table: &str, key: &str, pairs: [(&str, Uuid); 2]| {
        let id = Uuid::new_v5(&pairs[0].1, pairs[1].1.as_bytes());
        let mut e = Entity::with_id(table, id);
        e.set(key, Value::Guid(id));
        for (column, value) in pairs {
            e.set(column, Value::Guid(value));
        }
        rows.push(e);
    };
    for user in org.users.values() {
        for role in &user.roles {
            link("systemuserroles", "systemuserroleid", [("systemuserid", user.id), ("roleid", *role)]);
        }
    }
    for team in org.teams.values() {
        for member in &team.members {
            link("teammembership", "teammembershipid", [("teamid", team.id), ("systemuserid", *member)]);
        }
        for role in &team.roles {
            link("teamroles", "teamroleid", [("teamid", team.id), ("roleid", *role)]);
        }
    }
    for role in org.roles.values() {
        for (name, depth) in &role.privileges {
            let privilege = org.privilege_id(name);
            let id = Uuid::new_v5(&role.id, name.as_bytes());
            let mut e = Entity::with_id("roleprivileges", id);
            e.set("roleprivilegeid", Value::Guid(id))
                .set("roleid", Value::Guid(role.id))
                .set("privilegeid", Value::Guid(privilege))
                .set("privilegedepthmask", Value::Integer(depth_mask(*depth)));
            rows.push(e);
        }
    }
    for (name, right) in privileges(org) {
        let id = org.privilege_id(&name);
        let mut e = Entity::with_id("privilege", id);
        e.set("privilegeid", Value::Guid(id)).set("name", name).set("accessright", Value::Integer(right as i32));
        rows.push(e);
    }
    rows
}

/// Every privilege of the organization with its access right: each table's eight, then the plain ones (0).
fn privileges(org: &Organization) -> Vec<(String, u32)> {
    let mut names: Vec<(String, u32)> = org
        .tables
        .values()
        .filter(|t| t.read_with.is_empty())
        .flat_map(|t| VERBS.iter().map(move |(verb, right)| (format!("prv{verb}{}", t.privilege_name), *right)))
        .chain(PLAIN_PRIVILEGES.iter().map(|p| ((*p).to_owned(), 0)))
        .collect();
    names.sort();
    names.dedup_by(|a, b| a.0 == b.0);
    names
}
