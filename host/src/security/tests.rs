use std::path::Path;

use serde_json::json;
use xrm_model::{Entity, EntityReference, Uuid, Value, access_rights, codes};

use super::*;
use crate::org::Organization;

/// root ─┬─ sales ── sales-east
///       └─ service
fn org() -> Organization {
    let file = json!({
        "name": "sec",
        "businessunits": [
            { "@alias": "root", "name": "Root" },
            { "@alias": "sales", "name": "Sales", "parent": "@root" },
            { "@alias": "east", "name": "Sales East", "parent": "@sales" },
            { "@alias": "service", "name": "Service", "parent": "@root" }
        ],
        "roles": [
            { "@alias": "r-basic", "name": "Basic", "privileges": { "prvReadAccount": "Basic", "prvWriteAccount": "Basic", "prvReadnew_Setting": "Basic" } },
            { "@alias": "r-local", "name": "Local", "privileges": { "prvReadAccount": "Local" } },
            { "@alias": "r-deep", "name": "Deep", "privileges": { "prvReadAccount": "Deep" } },
            { "@alias": "r-global", "name": "Global", "privileges": { "prvReadAccount": "Global" } },
            { "@alias": "r-security", "name": "Security reader", "privileges": { "prvReadUser": "Global", "prvReadTeam": "Global" } }
        ],
        "users": [
            { "@alias": "basic", "businessunit": "@sales", "roles": ["@r-basic"] },
            { "@alias": "local", "businessunit": "@sales", "roles": ["@r-local"] },
            { "@alias": "deep", "businessunit": "@sales", "roles": ["@r-deep"] },
            { "@alias": "global", "businessunit": "@sales", "roles": ["@r-global"] },
            { "@alias": "none", "businessunit": "@sales" },
            { "@alias": "member", "businessunit": "@service", "roles": ["@r-basic"] }
        ],
        "teams": [ { "@alias": "eastteam", "name": "East", "businessunit": "@east", "roles": ["@r-local"], "members": ["@member"] } ],
        "tables": [ { "logicalname": "new_setting", "schemaname": "new_Setting", "objecttypecode": 10001, "ownership": "OrganizationOwned",
                      "columns": { "new_value": "String" } } ]
    });
    match Organization::from_json(Path::new("sec.json"), file) {
        Ok(org) => org,
        Err(e) => panic!("{e}"),
    }
}

fn id(org: &Organization, alias: &str) -> Uuid {
    org.alias(alias).unwrap()
}

/// An account owned by `owner` (a user) in business unit `bu`.
fn account(org: &Organization, owner: &str, bu: &str) -> Entity {
    let mut e = Entity::with_id("account", Uuid::from_u128(42));
    e.set("ownerid", Value::Lookup(EntityReference::new("systemuser", id(org, owner))))
        .set("owningbusinessunit", Value::Lookup(EntityReference::new("businessunit", id(org, bu))));
    e
}

fn can(org: &Organization, user: &str, access: Access, record: &Entity, shares: Vec<(Uuid, u32)>) -> Decision {
    let p = UserPrivileges::resolve(org, id(org, user));
    let table = org.table(&record.logical_name).unwrap();
    check(org, &p, access, &RecordAccess::of(table, record, shares))
}

fn allowed(d: &Decision) -> bool {
    *d == Decision::Allow
}

#[test]
fn sec_3_each_depth_reaches_own_child_sibling_and_parent_business_units_as_the_platform_does() {
    let org = org();
    // A record owned by someone else in: the user's own BU (sales), a child (east), a sibling (service), the parent (root).
    let cases = [
        ("basic", [false, false, false, false]),
        ("local", [true, false, false, false]),
        ("deep", [true, true, false, false]),
        ("global", [true, true, true, true]),
    ];
    for (user, expected) in cases {
        for (bu, want) in ["sales", "east", "service", "root"].into_iter().zip(expected) {
            let record = account(&org, "global", bu);
            let d = can(&org, user, Access::Read, &record, vec![]);
            assert_eq!(allowed(&d), want, "{user} reading a record in {bu}: {d:?}");
            if !want {
                let Decision::Deny(f) = d else { unreachable!() };
                assert_eq!(f.code, codes::ACCESS_DENIED);
                assert_eq!(
                    f.message,
                    format!(
                        "Principal user (Id={}) does not have ReadAccess right(s) for record with Id = {} of entity account",
                        id(&org, user),
                        Uuid::from_u128(42)
                    )
                );
            }
        }
    }
}

#[test]
fn sec_3_basic_reaches_records_the_user_owns() {
    let org = org();
    assert!(allowed(&can(&org, "basic", Access::Read, &account(&org, "basic", "root"), vec![])));
    assert!(allowed(&can(&org, "basic", Access::Write, &account(&org, "basic", "root"), vec![])));
}

#[test]
fn sec_3_a_missing_privilege_is_0x80040220_in_the_platforms_shape() {
    let org = org();
    let d = can(&org, "none", Access::Read, &account(&org, "none", "sales"), vec![]);
    let Decision::Deny(f) = d else { panic!("allowed without a role") };
    assert_eq!(f.code, codes::PRIVILEGE_DENIED);
    let expected = format!(
        "Principal user (Id={}, type=8, roleCount=0, privilegeCount=0, accessMode=0) is missing prvReadAccount privilege (Id={}) on OTC=1 for entity 'account'",
        id(&org, "none"),
        privilege_id(&org, "prvReadAccount")
    );
    assert_eq!(f.message, expected);
    // The privilege id is stable within the organization.
    assert_eq!(privilege_id(&org, "prvReadAccount"), privilege_id(&org, "prvReadAccount"));
    assert_ne!(privilege_id(&org, "prvReadAccount"), privilege_id(&org, "prvWriteAccount"));
}

#[test]
fn sec_2_privileges_are_the_union_of_direct_and_team_roles_deepest_wins() {
    let org = org();
    let p = UserPrivileges::resolve(&org, id(&org, "member"));
    assert_eq!(p.role_count, 2);
    assert_eq!(p.depth("prvReadAccount"), Some(crate::org::Depth::Local));
    assert_eq!(p.depth("prvWriteAccount"), Some(crate::org::Depth::Basic));
    assert!(p.holds_directly("prvWriteAccount"));
    assert!(p.grants("prvReadAccount").iter().any(|g| !g.direct));
}

#[test]
fn sec_3_a_role_held_through_a_team_measures_depth_from_the_teams_business_unit() {
    let org = org();
    // member sits in service; the team (Local read) sits in east.
    assert!(allowed(&can(&org, "member", Access::Read, &account(&org, "global", "east"), vec![])));
    assert!(!allowed(&can(&org, "member", Access::Read, &account(&org, "global", "service"), vec![])));
}

#[test]
fn sec_3_a_record_owned_by_the_users_team_is_reached_at_basic() {
    let org = org();
    let mut record = account(&org, "global", "root");
    record.set("ownerid", Value::Lookup(EntityReference::new("team", id(&org, "eastteam"))));
    assert!(allowed(&can(&org, "member", Access::Write, &record, vec![])));
}

#[test]
fn sec_7_a_share_gives_the_shared_rights_only() {
    let org = org();
    let record = account(&org, "global", "service");
    let shares = vec![(id(&org, "basic"), access_rights::READ)];
    assert!(allowed(&can(&org, "basic", Access::Read, &record, shares.clone())));
    assert!(!allowed(&can(&org, "basic", Access::Write, &record, shares)));
    // Shared with a team the user belongs to.
    let shares = vec![(id(&org, "eastteam"), access_rights::WRITE)];
    assert!(allowed(&can(&org, "member", Access::Write, &record, shares)));
    // A share does not replace the privilege itself.
    let shares = vec![(id(&org, "none"), access_rights::READ)];
    assert!(!allowed(&can(&org, "none", Access::Read, &record, shares)));
}

#[test]
fn sec_4_organization_owned_tables_are_reached_at_any_depth_held() {
    let org = org();
    // A Basic grant on an organization-owned table reaches a row nobody owns.
    let record = Entity::with_id("new_setting", Uuid::from_u128(7));
    assert!(allowed(&can(&org, "basic", Access::Read, &record, vec![])));
    let Decision::Deny(f) = can(&org, "none", Access::Read, &record, vec![]) else { panic!("allowed without a role") };
    assert_eq!(f.code, codes::PRIVILEGE_DENIED);
}

#[test]
fn org_1_a_business_unit_lies_within_itself_and_its_ancestors_only() {
    let org = org();
    assert!(org.is_within(id(&org, "east"), id(&org, "root")));
    assert!(org.is_within(id(&org, "east"), id(&org, "sales")));
    assert!(org.is_within(id(&org, "east"), id(&org, "east")));
    assert!(!org.is_within(id(&org, "sales"), id(&org, "east")));
    assert!(!org.is_within(id(&org, "service"), id(&org, "sales")));
}

#[test]
fn sec_10_a_membership_read_from_a_case_resolves_as_the_declared_one_and_follows_its_changes() {
    let org = org();
    let member = id(&org, "member");
    let declared = Membership::declared(&org, member).unwrap();
    let resolved = UserPrivileges::of_membership(&org, member, &declared);
    let once = UserPrivileges::resolve(&org, member);
    assert_eq!(resolved.grants("prvReadAccount"), once.grants("prvReadAccount"));
    assert_eq!((resolved.teams.clone(), resolved.role_count), (once.teams.clone(), once.role_count));
    // Out of the team: its Local grant, measured from the team's business unit, is gone.
    let alone = Membership { teams: Vec::new(), ..declared };
    let alone = UserPrivileges::of_membership(&org, member, &alone);
    assert_eq!(alone.depth("prvReadAccount"), Some(crate::org::Depth::Basic));
    assert!(alone.teams.is_empty());
}

#[test]
fn sec_10_the_security_tables_read_with_the_read_privileges_of_the_principals_they_relate() {
    let org = org();
    let table = org.table("teammembership").unwrap();
    let none = UserPrivileges::resolve(&org, id(&org, "none"));
    let Decision::Deny(fault) = check_privilege(&org, &none, Access::Read, table) else { panic!("allowed") };
    assert_eq!(fault.code, codes::PRIVILEGE_DENIED);
    assert!(fault.message.contains("is missing prvReadUser privilege"), "{}", fault.message);
    assert!(fault.message.contains("for entity 'systemuser'"), "{}", fault.message);
    let security =
        Membership { business_unit: id(&org, "sales"), roles: vec![id(&org, "r-security")], teams: Vec::new() };
    let security = UserPrivileges::of_membership(&org, id(&org, "none"), &security);
    assert!(allowed(&check_privilege(&org, &security, Access::Read, table)));
    let mut row = Entity::with_id("teammembership", Uuid::from_u128(7));
    row.set("teamid", Value::Guid(id(&org, "eastteam"))).set("systemuserid", Value::Guid(id(&org, "member")));
    assert!(can_read(&org, &security, &RecordAccess::of(table, &row, Vec::new())));
    assert!(!can_read(&org, &none, &RecordAccess::of(table, &row, Vec::new())));
    // Reading is all they give: nobody holds a right to write them.
    assert!(!allowed(&check_privilege(&org, &security, Access::Write, table)));
}

#[test]
fn sec_9_a_teams_own_privileges_are_its_roles_and_errors_name_the_team() {
    let org = org();
    let team = org.teams.values().next().unwrap();
    let roles = TeamRoles { id: team.id, business_unit: team.business_unit, owner: true, roles: team.roles.clone() };
    let p = UserPrivileges::of_team(&org, &roles);
    assert!(allowed(&check_privilege(&org, &p, Access::Read, org.table("account").unwrap())));
    let Decision::Deny(fault) = check_privilege(&org, &p, Access::Write, org.table("account").unwrap()) else {
        panic!("allowed")
    };
    let expected = format!(
        "Principal team (Id={}, type=9, roleCount=1, privilegeCount=1, accessMode=0) is missing prvWriteAccount",
        team.id
    );
    assert!(fault.message.contains(&expected), "{}", fault.message);
    // An access team holds no roles (ORG-4), whatever it was given.
    let access = UserPrivileges::of_team(&org, &TeamRoles { owner: false, ..roles });
    assert_eq!((access.role_count, access.privilege_count()), (0, 0));
}

#[test]
fn sec_10_the_access_mask_is_each_right_the_checks_would_grant() {
    let org = org();
    let table = org.table("account").unwrap();
    let mask = |user: &str, record: &Entity, shares: Vec<(Uuid, u32)>| {
        let p = UserPrivileges::resolve(&org, id(&org, user));
        access_mask(&org, &p, &RecordAccess::of(table, record, shares))
    };
    assert_eq!(mask("basic", &account(&org, "basic", "sales"), Vec::new()), access_rights::READ | access_rights::WRITE);
    assert_eq!(mask("local", &account(&org, "basic", "sales"), Vec::new()), access_rights::READ);
    assert_eq!(mask("local", &account(&org, "basic", "service"), Vec::new()), 0);
    // A share gives only the rights whose privilege the user holds.
    let share = vec![(id(&org, "basic"), access_rights::READ | access_rights::WRITE | access_rights::DELETE)];
    assert_eq!(mask("basic", &account(&org, "local", "service"), share), access_rights::READ | access_rights::WRITE);
}

#[test]
fn sec_3_each_access_right_names_the_privilege_its_table_spells() {
    let org = org();
    let note = org.table("annotation").unwrap();
    for (i, access) in Access::ALL.iter().enumerate() {
        assert_eq!(*access as usize, i, "Access::ALL is in declaration order");
        assert_eq!(crate::org::tables::ACCESS_VERBS[i], access.name());
        assert_eq!(access.privilege(note), format!("prv{}Note", access.name()));
    }
}
