//! Organization files: any bytes are either refused with `FileErrors` or loaded into an organization that
//! keeps ORG-1's promises (one tree of business units, every reference resolved).

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use xrm_sandbox::input;
use xrm_sandbox::org::Organization;
use xrm_sandbox::security::UserPrivileges;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("org.json");
    // The file-level parser first: bad JSON is an error naming the file, never a panic.
    let json: serde_json::Value = match input::parse_json(path, text) {
        Ok(json) => json,
        Err(e) => {
            assert_eq!(e.file, path);
            return;
        }
    };
    let org = match Organization::from_json(path, json) {
        Ok(org) => org,
        Err(errors) => {
            assert!(!errors.is_empty());
            assert!(errors.iter().all(|e| e.file == path));
            let _ = errors.to_string();
            return;
        }
    };
    // ORG-1: every business unit lies in the one tree under the root.
    assert!(org.business_units.contains_key(&org.root_business_unit));
    for bu in org.business_units.values() {
        assert!(org.is_within(bu.id, org.root_business_unit), "business unit {} outside the tree", bu.id);
    }
    for user in org.users.values() {
        assert!(org.business_units.contains_key(&user.business_unit), "user {} in no business unit", user.id);
        assert!(user.roles.iter().all(|r| org.roles.contains_key(r)), "user {} has an unknown role", user.id);
        // Resolving privileges is total for every loaded user.
        let p = UserPrivileges::resolve(&org, user.id);
        assert_eq!(p.business_unit, user.business_unit);
    }
    for team in org.teams.values() {
        assert!(org.business_units.contains_key(&team.business_unit), "team {} in no business unit", team.id);
        assert!(team.members.iter().all(|m| org.users.contains_key(m)), "team {} has an unknown member", team.id);
        assert!(team.roles.iter().all(|r| org.roles.contains_key(r)), "team {} has an unknown role", team.id);
    }
});
