//! Suite files: any suite is either refused with `FileErrors` or loaded. The organization is inline (a
//! bundled one, or the input's own inline object) and the suite registers no plug-ins, so the target never
//! reads a file or starts a build: `plugins` and `steps` are replaced by empty ones (the `registrations`
//! target reads steps).

#![no_main]

use std::collections::HashSet;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value as Json};
use xrm_sandbox::suite::Suite;

/// The organization files the bundled suites name, by the name they use.
const ORGS: &[(&str, &str)] = &[
    ("org.json", include_str!("../../tests/conformance/org.json")),
    ("queries-org.json", include_str!("../../tests/conformance/queries-org.json")),
    ("security-org.json", include_str!("../../tests/conformance/security-org.json")),
];

fn inline_org(name: Option<&str>) -> Json {
    let text = ORGS.iter().find(|(n, _)| Some(*n) == name).map_or(ORGS[0].1, |(_, t)| t);
    serde_json::from_str(text).expect("the bundled orgs are JSON")
}

fuzz_target!(|data: &[u8]| {
    let Ok(Json::Object(mut suite)) = serde_json::from_slice::<Json>(data) else { return };
    let org = match suite.remove("org") {
        Some(inline @ Json::Object(_)) => inline,
        Some(Json::String(name)) => inline_org(Some(&name)),
        _ => inline_org(None),
    };
    suite.insert("org".into(), org);
    suite.insert("plugins".into(), Json::Object(Map::new()));
    suite.insert("steps".into(), Json::Array(Vec::new()));
    let path = Path::new("/nonexistent/suite.json");
    match Suite::from_json(path, Json::Object(suite)) {
        Ok(suite) => {
            let mut names = HashSet::new();
            assert!(suite.cases.iter().all(|c| names.insert(c.name.clone())), "two cases share a name");
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            assert!(errors.iter().all(|e| e.file == path));
            let _ = errors.to_string();
        }
    }
});
