//! Registrations: any steps are either refused with `FileErrors` or resolved into steps that keep PIPE-2's
//! rules (a real stage, a known plug-in, asynchronous only at stage 40).

#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde_json::Value as Json;
use xrm_sandbox::org::Organization;
use xrm_sandbox::pipeline::Registrations;

/// The conformance organization: users, a disabled user, custom APIs, custom tables.
static ORG: LazyLock<Organization> = LazyLock::new(|| {
    let json = serde_json::from_str(include_str!("../../tests/conformance/org.json")).expect("the bundled org is JSON");
    Organization::from_json(Path::new("org.json"), json).expect("the bundled org loads")
});

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<Json>(data) else { return };
    // A registrations file (`{"plugins": …, "steps": […]}`) or the steps alone.
    let steps = match json {
        Json::Object(mut o) if o.contains_key("steps") => o.remove("steps").unwrap_or_default(),
        other => other,
    };
    let plugins = ["probe".to_owned(), "followup".to_owned()];
    let file = Path::new("registrations.json");
    let registrations = match Registrations::load(file, "steps", steps, &ORG, &plugins) {
        Ok(r) => r,
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in &errors {
                assert_eq!(e.file, file);
                assert!(e.path.starts_with("steps"), "error path `{}` outside the steps", e.path);
            }
            let _ = errors.to_string();
            return;
        }
    };
    for step in registrations.all() {
        assert!(plugins.contains(&step.plugin));
        assert!(matches!(step.stage, 10 | 20 | 30 | 40), "stage {}", step.stage);
        assert!(step.mode == 0 || (step.mode == 1 && step.stage == 40), "mode {} at stage {}", step.mode, step.stage);
        assert!(step.stage != 30 || ORG.custom_apis.contains_key(&step.message));
        for image in &step.images {
            assert!(image.pre || image.post);
            assert!(!image.post || step.stage == 40);
        }
        // PIPE-3: the steps of one stage come back by ascending rank.
        let matching = registrations.matching(
            &step.message,
            step.primary_entity.as_deref().unwrap_or("account"),
            step.stage,
            step.mode,
        );
        assert!(matching.windows(2).all(|w| w[0].rank <= w[1].rank));
    }
});
