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
    // The guide's suite lives in the plug-in's project, whose crate is `.`: here, the follow-up sample.
    assert!(blocks[1].contains(r#"{ "crate": "." }"#), "the guide's suite names its project's crate");
    let suite_json = blocks[1].replace(r#"{ "crate": "." }"#, &format!(r#"{{ "crate": "{}" }}"#, followup.display()));
    std::fs::write(dir.join("suite.json"), suite_json).expect("suite");
    let suite = Suite::load(&dir.join("suite.json")).unwrap_or_else(|e| panic!("{e}"));
    assert!(!suite.cases.is_empty());
    for case in &suite.cases {
        let result = suite::run_case(&suite, case);
        assert!(result.passed, "{}: {:?}\n{}", case.name, result.failures, result.tree);
    }
}

/// Whether the generated reference pages are rewritten instead of compared (after a change to the code).
fn updating() -> bool {
    std::env::var_os("XRM_SANDBOX_UPDATE_DOCS").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Compares a generated page with the file in the repository, or rewrites the file when updating.
fn matches_the_repository(page: &str, generated: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/reference").join(page);
    if updating() {
        std::fs::write(&path, generated).expect("write the page");
        return;
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    if written != generated {
        let line = written.lines().zip(generated.lines()).position(|(a, b)| a != b);
        let line = line.unwrap_or(written.lines().count().min(generated.lines().count())) + 1;
        panic!(
            "docs/reference/{page} no longer matches the code (first difference near line {line}); rewrite it with \
             `XRM_SANDBOX_UPDATE_DOCS=1 cargo test --test integration docs::` and commit the result"
        );
    }
}

#[test]
fn the_tables_reference_is_generated_from_the_code() {
    let generated = xrm_sandbox::reference::tables_markdown().unwrap_or_else(|e| panic!("{e}"));
    assert!(generated.contains("\n## account\n") && generated.contains("| `revenue` | Money |"), "{generated}");
    matches_the_repository("tables.md", &generated);
}

/// The rule ids of rules.md, in its order: each rule's bullet starts `- **ID**`.
fn rule_ids(rules: &str) -> Vec<String> {
    rules
        .lines()
        .filter_map(|l| l.strip_prefix("- **"))
        .filter_map(|l| l.split_once("**").map(|(id, _)| id.to_owned()))
        .filter(|id| is_rule_id(id))
        .collect()
}

fn is_rule_id(word: &str) -> bool {
    let Some((area, number)) = word.split_once('-') else { return false };
    area.len() >= 2
        && area.chars().all(|c| c.is_ascii_uppercase())
        && !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit())
}

/// The conformance cases of every rule, by the rule ids their names carry.
fn cases_markdown(rules: &[String]) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files: Vec<_> = std::fs::read_dir(root.join("tests/conformance"))
        .expect("conformance folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut by_rule: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for file in files {
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("JSON");
        let name = file.file_name().unwrap_or_default().to_string_lossy().into_owned();
        for case in json["cases"].as_array().into_iter().flatten() {
            let case = case["name"].as_str().unwrap_or_default();
            let words = case.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'));
            let mut ids: Vec<&str> = words.filter(|w| is_rule_id(w)).collect();
            ids.dedup();
            for id in ids {
                let line = format!("- [`{name}`](../../tests/conformance/{name}): {}", case.replace('|', "\\|"));
                by_rule.entry(id.to_owned()).or_default().push(line);
            }
        }
    }
    let mut out = String::from(
        "# The cases that prove each rule\n\n\
         <!-- Generated from the case names of tests/conformance/ by tests/integration/docs.rs; do not edit. A test \
         fails when it drifts; `XRM_SANDBOX_UPDATE_DOCS=1 cargo test --test integration docs::` rewrites it. -->\n\n\
         Every rule of [rules.md](rules.md), with the conformance cases whose names carry its id: each runs through \
         the runner users run (`xrm-sandbox test tests/conformance --filter PIPE-3`, or `cargo test --test \
         conformance PIPE-3`) and would fail without the rule. The identity rules are also proved row by row by the \
         generated identity matrix (`tests/integration/identity_matrix.rs`).\n",
    );
    for id in rules {
        out.push_str(&format!("\n## {id}\n\n"));
        match by_rule.get(id) {
            Some(cases) => out.extend(cases.iter().map(|c| format!("{c}\n"))),
            None => out.push_str("No conformance case yet (see the rule for what proves it).\n"),
        }
    }
    out
}

#[test]
fn every_rule_links_to_the_cases_that_prove_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let rules = std::fs::read_to_string(root.join("docs/reference/rules.md")).expect("rules.md");
    let ids = rule_ids(&rules);
    assert!(ids.len() > 40, "{ids:?}");
    for id in &ids {
        let link = format!("- **{id}** ([cases](cases.md#{}))", id.to_lowercase());
        assert!(rules.contains(&link), "rules.md: {id} links to its cases as `{link}`");
    }
    matches_the_repository("cases.md", &cases_markdown(&ids));
}

#[test]
fn no_text_of_the_project_points_outside_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut stack = vec![root.clone()];
    let mut offenders = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("folder").filter_map(Result::ok) {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "target" {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if ["md", "rs", "toml", "json", "wit", "yml"].iter().any(|e| name.ends_with(&format!(".{e}"))) {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                // Written in pieces, so this file does not name what it looks for.
                if text.contains(&format!("../{}/", "shared")) || text.contains(&format!("{}/spec", "shared")) {
                    offenders.push(path.display().to_string());
                }
            }
        }
    }
    assert!(offenders.is_empty(), "these point outside the repository: {offenders:?}");
}
