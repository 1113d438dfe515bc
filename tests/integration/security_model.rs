//! The security checks (SEC-2, SEC-3, SEC-4, SEC-7) against a reference model.
//!
//! proptest makes random organizations (a tree of business units, users in them, roles granting random table
//! privileges at random depths, owner and access teams with roles and members, records owned by users, owner
//! teams or no one in particular, and shares), writes each as an organization file (`formats.md`) and loads it
//! with `Organization::from_json`, as users do. Then for every user, record and access right, the fast
//! implementation (`security::check`, `check_privilege`, `can_read`, `UserPrivileges`) must give the answer of
//! the model below, which restates the rules as plainly as they are written in `semantics.md` and reads only the
//! generated description, never the loaded organization.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use serde_json::{Value as Json, json};
use xrm_model::{Uuid, codes};
use xrm_sandbox::org::{Depth, Organization};
use xrm_sandbox::security::{self, Access, Decision, RecordAccess, UserPrivileges};

// ----- The generated description of an organization -----

const ACCESSES: [Access; 8] = [
    Access::Create,
    Access::Read,
    Access::Write,
    Access::Delete,
    Access::Append,
    Access::AppendTo,
    Access::Assign,
    Access::Share,
];

/// The tables records live in: one user-owned (built in), one organization-owned (declared in the file).
const TABLES: [(&str, &str); 2] = [("account", "Account"), ("new_setting", "new_Setting")];
const USER_OWNED: usize = 0;
const ORG_OWNED: usize = 1;

#[derive(Debug, Clone)]
struct Spec {
    /// `parents[i]` is the parent of business unit `i + 1`, always an earlier one: unit 0 is the root.
    parents: Vec<usize>,
    /// Each role: privilege (table index, access index) → depth.
    roles: Vec<BTreeMap<(usize, usize), Depth>>,
    users: Vec<UserSpec>,
    teams: Vec<TeamSpec>,
    records: Vec<RecordSpec>,
}

#[derive(Debug, Clone)]
struct UserSpec {
    bu: usize,
    roles: Vec<usize>,
}

#[derive(Debug, Clone)]
struct TeamSpec {
    bu: usize,
    owner: bool,
    roles: Vec<usize>,
    members: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Owner {
    /// No `ownerid` in the file: SYSTEM owns it, in the root business unit.
    System,
    User(usize),
    Team(usize),
}

#[derive(Debug, Clone)]
struct RecordSpec {
    table: usize,
    owner: Owner,
    /// Shares (SEC-7): a user or team, and the `AccessRights` mask.
    shares: Vec<(Principal, u32)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Principal {
    User(usize),
    Team(usize),
}

fn depth() -> impl Strategy<Value = Depth> {
    prop_oneof![Just(Depth::Basic), Just(Depth::Local), Just(Depth::Deep), Just(Depth::Global)]
}

/// Indices are drawn large and reduced modulo the real counts, so that every part can be drawn independently
/// (and shrinks independently) while always naming something that exists.
fn spec() -> impl Strategy<Value = Spec> {
    let parents = prop::collection::vec(any::<prop::sample::Index>(), 0..6);
    let role = prop::collection::btree_map((0..TABLES.len(), 0..ACCESSES.len()), depth(), 0..8);
    let roles = prop::collection::vec(role, 1..5);
    let ids = || prop::collection::vec(any::<prop::sample::Index>(), 0..3);
    let user = (any::<prop::sample::Index>(), ids());
    let users = prop::collection::vec(user, 1..6);
    let team =
        (any::<prop::sample::Index>(), any::<bool>(), ids(), prop::collection::vec(any::<prop::sample::Index>(), 0..4));
    let teams = prop::collection::vec(team, 0..4);
    let share = (any::<bool>(), any::<prop::sample::Index>(), 1u32..=u8::MAX as u32);
    let record = (
        prop_oneof![3 => Just(USER_OWNED), 1 => Just(ORG_OWNED)],
        0u8..3,
        any::<prop::sample::Index>(),
        prop::collection::vec(share, 0..3),
    );
    let records = prop::collection::vec(record, 1..9);
    (parents, roles, users, teams, records).prop_map(|(parents, roles, users, teams, records)| {
        let parents: Vec<usize> = parents.iter().enumerate().map(|(i, p)| p.index(i + 1)).collect();
        let bus = parents.len() + 1;
        let pick = |list: &[prop::sample::Index], n: usize| {
            let mut picked: Vec<usize> = list.iter().map(|i| i.index(n)).collect();
            picked.sort_unstable();
            picked.dedup();
            picked
        };
        let users: Vec<UserSpec> =
            users.iter().map(|(bu, r)| UserSpec { bu: bu.index(bus), roles: pick(r, roles.len()) }).collect();
        let teams: Vec<TeamSpec> = teams
            .iter()
            .map(|(bu, owner, r, m)| TeamSpec {
                bu: bu.index(bus),
                owner: *owner,
                // ORG-4: an access team holds no roles.
                roles: if *owner { pick(r, roles.len()) } else { Vec::new() },
                members: pick(m, users.len()),
            })
            .collect();
        let owner_teams: Vec<usize> = (0..teams.len()).filter(|t| teams[*t].owner).collect();
        let records = records
            .into_iter()
            .map(|(table, kind, who, shares)| {
                let owner = match (table, kind) {
                    // SEC-4: organization-owned records have no owner.
                    (ORG_OWNED, _) | (_, 0) => Owner::System,
                    (_, 2) if !owner_teams.is_empty() => Owner::Team(owner_teams[who.index(owner_teams.len())]),
                    _ => Owner::User(who.index(users.len())),
                };
                let shares = shares
                    .into_iter()
                    .map(|(team, who, mask)| {
                        let principal = match team {
                            true if !teams.is_empty() => Principal::Team(who.index(teams.len())),
                            _ => Principal::User(who.index(users.len())),
                        };
                        // The 8 low bits stand for the 8 access rights, in ACCESSES' order.
                        let mask = ACCESSES.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0);
                        (principal, mask.fold(0, |m, (_, a)| m | a.flag()))
                    })
                    .collect();
                RecordSpec { table, owner, shares }
            })
            .collect();
        Spec { parents, roles, users, teams, records }
    })
}

fn depth_name(d: Depth) -> &'static str {
    match d {
        Depth::Basic => "Basic",
        Depth::Local => "Local",
        Depth::Deep => "Deep",
        Depth::Global => "Global",
    }
}

fn privilege_name(table: usize, access: usize) -> String {
    format!("prv{}{}", ACCESSES[access].name(), TABLES[table].1)
}

/// The organization file (`formats.md`, "Organization") the spec describes.
fn org_file(spec: &Spec) -> Json {
    let mut businessunits = vec![json!({ "@alias": "bu0", "name": "Root" })];
    for (i, p) in spec.parents.iter().enumerate() {
        businessunits.push(
            json!({ "@alias": format!("bu{}", i + 1), "name": format!("Unit {}", i + 1), "parent": format!("@bu{p}") }),
        );
    }
    let roles: Vec<Json> = spec
        .roles
        .iter()
        .enumerate()
        .map(|(i, privileges)| {
            let privileges: serde_json::Map<String, Json> =
                privileges.iter().map(|((t, a), d)| (privilege_name(*t, *a), json!(depth_name(*d)))).collect();
            json!({ "@alias": format!("r{i}"), "name": format!("Role {i}"), "privileges": privileges })
        })
        .collect();
    let users: Vec<Json> = spec
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let roles: Vec<String> = u.roles.iter().map(|r| format!("@r{r}")).collect();
            json!({ "@alias": format!("u{i}"), "businessunit": format!("@bu{}", u.bu), "roles": roles })
        })
        .collect();
    let teams: Vec<Json> = spec
        .teams
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let roles: Vec<String> = t.roles.iter().map(|r| format!("@r{r}")).collect();
            let members: Vec<String> = t.members.iter().map(|m| format!("@u{m}")).collect();
            json!({ "@alias": format!("t{i}"), "name": format!("Team {i}"), "businessunit": format!("@bu{}", t.bu),
                    "teamtype": if t.owner { "Owner" } else { "Access" }, "roles": roles, "members": members })
        })
        .collect();
    let records: Vec<Json> = spec
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut record = json!({ "@logicalname": TABLES[r.table].0, "@alias": format!("rec{i}") });
            let owner = match r.owner {
                Owner::System => None,
                Owner::User(u) => Some(json!({ "@ref": "systemuser", "id": format!("@u{u}") })),
                Owner::Team(t) => Some(json!({ "@ref": "team", "id": format!("@t{t}") })),
            };
            if let Some(owner) = owner {
                record["ownerid"] = owner;
            }
            record
        })
        .collect();
    json!({
        "name": "model",
        "businessunits": businessunits,
        "roles": roles,
        "users": users,
        "teams": teams,
        "tables": [ { "logicalname": "new_setting", "schemaname": "new_Setting", "objecttypecode": 10001,
                      "ownership": "OrganizationOwned", "columns": { "new_value": "String" } } ],
        "records": records,
    })
}

// ----- The reference model: SEC-2, SEC-3, SEC-4 and SEC-7 as written -----

/// One way a user holds a privilege: its depth, and the business unit depth is measured from.
#[derive(Debug, Clone, Copy)]
struct ModelGrant {
    depth: Depth,
    reference_bu: usize,
    direct: bool,
}

/// What the model says an operation gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Allow,
    /// The privilege check failed (0x80040220).
    NoPrivilege,
    /// The privilege is held, but reaches not this record (0x80048306).
    NoAccess,
}

struct Model<'s> {
    spec: &'s Spec,
}

impl Model<'_> {
    /// Whether business unit `bu` is `top` or lies below it, walking up the parents.
    fn within(&self, mut bu: usize, top: usize) -> bool {
        loop {
            if bu == top {
                return true;
            }
            if bu == 0 {
                return false;
            }
            bu = self.spec.parents[bu - 1];
        }
    }

    /// The teams (owner or access) the user is a member of.
    fn teams_of(&self, user: usize) -> Vec<usize> {
        (0..self.spec.teams.len()).filter(|t| self.spec.teams[*t].members.contains(&user)).collect()
    }

    /// SEC-2: the roles assigned to the user, measured from the user's business unit, and the roles of the
    /// owner teams the user is a member of, measured from the team's (SEC-3). Access teams give no roles.
    fn grants(&self, user: usize, table: usize, access: usize) -> Vec<ModelGrant> {
        let u = &self.spec.users[user];
        let mut grants = Vec::new();
        for r in &u.roles {
            if let Some(d) = self.spec.roles[*r].get(&(table, access)) {
                grants.push(ModelGrant { depth: *d, reference_bu: u.bu, direct: true });
            }
        }
        for t in self.teams_of(user) {
            let team = &self.spec.teams[t];
            if !team.owner {
                continue;
            }
            for r in &team.roles {
                if let Some(d) = self.spec.roles[*r].get(&(table, access)) {
                    grants.push(ModelGrant { depth: *d, reference_bu: team.bu, direct: false });
                }
            }
        }
        grants
    }

    /// The record's business unit: its owner's (SYSTEM's is the root).
    fn record_bu(&self, record: &RecordSpec) -> usize {
        match record.owner {
            Owner::System => 0,
            Owner::User(u) => self.spec.users[u].bu,
            Owner::Team(t) => self.spec.teams[t].bu,
        }
    }

    /// Basic reach: the user owns the record, or a team the user belongs to does.
    fn owns(&self, user: usize, record: &RecordSpec) -> bool {
        match record.owner {
            Owner::System => false,
            Owner::User(u) => u == user,
            Owner::Team(t) => self.spec.teams[t].members.contains(&user),
        }
    }

    /// SEC-7: shared with the user, or with a team the user belongs to, with this right.
    fn shared(&self, user: usize, record: &RecordSpec, access: usize) -> bool {
        record.shares.iter().any(|(principal, mask)| {
            let to_user = match principal {
                Principal::User(u) => *u == user,
                Principal::Team(t) => self.spec.teams[*t].members.contains(&user),
            };
            to_user && mask & ACCESSES[access].flag() != 0
        })
    }

    /// SEC-3: the privilege check, then the access check; SEC-4 for organization-owned tables.
    fn outcome(&self, user: usize, record: &RecordSpec, access: usize) -> Outcome {
        let grants = self.grants(user, record.table, access);
        if grants.is_empty() {
            return Outcome::NoPrivilege;
        }
        // SEC-4: organization-owned tables are checked at Global only: holding the privilege is enough.
        if record.table == ORG_OWNED {
            return Outcome::Allow;
        }
        let bu = self.record_bu(record);
        let reached = grants.iter().any(|g| match g.depth {
            Depth::Basic => self.owns(user, record),
            Depth::Local => self.owns(user, record) || bu == g.reference_bu,
            Depth::Deep => self.owns(user, record) || self.within(bu, g.reference_bu),
            Depth::Global => true,
        });
        match reached || self.shared(user, record, access) {
            true => Outcome::Allow,
            false => Outcome::NoAccess,
        }
    }
}

// ----- Running both -----

struct Loaded {
    org: Organization,
    users: Vec<Uuid>,
    teams: Vec<Uuid>,
    records: Vec<Uuid>,
}

fn load(spec: &Spec) -> Loaded {
    let org = match Organization::from_json(Path::new("model.json"), org_file(spec)) {
        Ok(org) => org,
        Err(e) => panic!("the generated organization does not load: {e}\n{:#}", org_file(spec)),
    };
    let id = |alias: String| org.alias(&alias).unwrap_or_else(|| panic!("no alias @{alias}"));
    let users = (0..spec.users.len()).map(|i| id(format!("u{i}"))).collect();
    let teams = (0..spec.teams.len()).map(|i| id(format!("t{i}"))).collect();
    let records = (0..spec.records.len()).map(|i| id(format!("rec{i}"))).collect();
    Loaded { org, users, teams, records }
}

fn outcome_of(decision: &Decision) -> Outcome {
    match decision {
        Decision::Allow => Outcome::Allow,
        Decision::Deny(f) if f.code == codes::PRIVILEGE_DENIED => Outcome::NoPrivilege,
        Decision::Deny(f) if f.code == codes::ACCESS_DENIED => Outcome::NoAccess,
        Decision::Deny(f) => panic!("a denial with an unexpected code: {f:?}"),
    }
}

/// Every user × record × access right: `check` (and `can_read`, `check_privilege`) against the model.
fn compare(spec: &Spec) -> Result<(), TestCaseError> {
    let loaded = load(spec);
    let org = &loaded.org;
    let model = Model { spec };
    for (u, user) in loaded.users.iter().enumerate() {
        let privileges = UserPrivileges::resolve(org, *user);
        for (r, record) in spec.records.iter().enumerate() {
            let table = org.table(TABLES[record.table].0).expect("a generated table");
            let stored = org.data.get(table.logical_name.as_str(), loaded.records[r]).expect("a loaded record");
            let shares = record
                .shares
                .iter()
                .map(|(p, mask)| match p {
                    Principal::User(i) => (loaded.users[*i], *mask),
                    Principal::Team(i) => (loaded.teams[*i], *mask),
                })
                .collect();
            let access_of = RecordAccess::of(table, stored, shares);
            for (a, access) in ACCESSES.iter().enumerate() {
                let want = model.outcome(u, record, a);
                let got = outcome_of(&security::check(org, &privileges, *access, &access_of));
                prop_assert_eq!(
                    got,
                    want,
                    "user u{} {:?} on record rec{} ({:?}), grants {:?}",
                    u,
                    access,
                    r,
                    record,
                    model.grants(u, record.table, a)
                );
                let held = security::check_privilege(org, &privileges, *access, table) == Decision::Allow;
                prop_assert_eq!(held, want != Outcome::NoPrivilege, "check_privilege of u{} {:?}", u, access);
                if *access == Access::Read {
                    let readable = security::can_read(org, &privileges, &access_of);
                    prop_assert_eq!(readable, want == Outcome::Allow, "can_read of u{} on rec{}", u, r);
                }
            }
        }
    }
    Ok(())
}

fn config() -> Config {
    Config { cases: 256, failure_persistence: None, ..Config::default() }
}

proptest! {
    #![proptest_config(config())]

    /// SEC-3 (with SEC-7's shares): the privilege check and the access check of every user on every record,
    /// for every access right, give the model's outcome and error code.
    #[test]
    fn sec_3_privilege_and_access_checks_agree_with_the_model(spec in spec()) {
        compare(&spec)?;
    }

    /// SEC-2: a user holds a privilege exactly when a direct role or an owner team's role grants it, at the
    /// deepest depth any of them grants; IMP-6 counts only the direct roles.
    #[test]
    fn sec_2_privileges_are_the_union_of_direct_and_owner_team_roles(spec in spec()) {
        let loaded = load(&spec);
        let model = Model { spec: &spec };
        for (u, user) in loaded.users.iter().enumerate() {
            let privileges = UserPrivileges::resolve(&loaded.org, *user);
            for t in 0..TABLES.len() {
                for a in 0..ACCESSES.len() {
                    let name = privilege_name(t, a);
                    let grants = model.grants(u, t, a);
                    prop_assert_eq!(privileges.holds(&name), !grants.is_empty(), "u{} holds {}", u, &name);
                    prop_assert_eq!(privileges.depth(&name), grants.iter().map(|g| g.depth).max(), "u{} depth of {}", u, &name);
                    prop_assert_eq!(privileges.holds_directly(&name), grants.iter().any(|g| g.direct), "u{} direct {}", u, &name);
                }
            }
        }
    }

    /// SEC-4: on an organization-owned table, holding the privilege at any depth, even Basic, reaches every
    /// record; not holding it is a privilege error.
    #[test]
    fn sec_4_organization_owned_tables_are_checked_at_global_only(mut spec in spec()) {
        for record in &mut spec.records {
            record.table = ORG_OWNED;
            record.owner = Owner::System;
        }
        compare(&spec)?;
    }

    /// SEC-3 with the records all owned by users and teams deep in the tree, and no shares: depth alone
    /// decides, which is where Local, Deep and the team's reference business unit differ.
    #[test]
    fn sec_3_depth_alone_decides_without_shares(mut spec in spec()) {
        for record in &mut spec.records {
            record.table = USER_OWNED;
            record.shares.clear();
        }
        compare(&spec)?;
    }
}
