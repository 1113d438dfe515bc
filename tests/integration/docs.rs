//! The guide's example must keep working: the organization and suite of `docs/writing-a-plugin.md` §7, run
//! against the follow-up sample (the plug-in the guide builds).

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use xrm_sandbox::suite::{self, Suite};

/// The ```json blocks of the guide's section 7, in order.
fn json_blocks(guide: &str) -> Vec<String> {
    let section = &guide[guide.find("## 7.").expect("section 7")..];
    section.split("```json\n").skip(1).map(|block| block.split("```").next().unwrap_or_default().to_owned()).collect()
}

#[test]
fn the_guides_suite_passes_against_the_follow_up_sample() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let guide = std::fs::read_to_string(root.join("docs/writing-a-plugin.md")).expect("guide");
    let blocks = json_blocks(&guide);
    assert!(blocks.len() >= 2, "the guide shows an organization and a suite");
    let dir = std::env::temp_dir().join(format!("xrm-sandbox-guide-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let followup = root.join("plugins/followup").canonicalize().expect("followup crate");
    std::fs::write(dir.join("org.json"), &blocks[0]).expect("org");
    let suite_json = blocks[1].replace(r#"{ "crate": ".." }"#, &format!(r#"{{ "crate": "{}" }}"#, followup.display()));
    std::fs::write(dir.join("suite.json"), suite_json).expect("suite");
    let suite = Suite::load(&dir.join("suite.json")).unwrap_or_else(|e| panic!("{e}"));
    assert!(!suite.cases.is_empty());
    for case in &suite.cases {
        let result = suite::run_case(&suite, case);
        assert!(result.passed, "{}: {:?}\n{}", case.name, result.failures, result.tree);
    }
}
