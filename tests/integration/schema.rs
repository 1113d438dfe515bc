//! `xrm-sandbox schema`: the schemas it writes accept every file the project ships (the example, the
//! conformance suites, what `init` writes) and refuse what the loaders refuse.

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use jsonschema::Validator;
use serde_json::{Value as Json, json};

fn xrm_sandbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xrm-sandbox")).args(args).output().expect("the binary runs")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xrm-sandbox-schema-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn read(path: &Path) -> Json {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The three validators, from the files the real binary writes.
struct Schemas {
    org: Validator,
    registrations: Validator,
    suite: Validator,
}

impl Schemas {
    /// `name` keeps each test's folder its own: tests run in parallel.
    fn written(name: &str) -> Schemas {
        let dir = scratch(&format!("{name}-out"));
        let out = xrm_sandbox(&["schema", "--out", &dir.display().to_string()]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        let validator = |file: &str| {
            assert!(printed.contains(&dir.join(file).display().to_string()), "prints the paths written: {printed}");
            jsonschema::validator_for(&read(&dir.join(file))).unwrap_or_else(|e| panic!("{file} is a schema: {e}"))
        };
        Schemas {
            org: validator("org.schema.json"),
            registrations: validator("registrations.schema.json"),
            suite: validator("suite.schema.json"),
        }
    }

    /// The schema for a file's kind: a suite has `cases`, an organization `businessunits`, registrations
    /// `steps` or `plugins` without `cases`.
    fn for_file(&self, json: &Json) -> Option<(&'static str, &Validator)> {
        let has = |key: &str| json.get(key).is_some();
        if has("cases") {
            Some(("suite", &self.suite))
        } else if has("businessunits") {
            Some(("org", &self.org))
        } else if has("steps") || has("plugins") {
            Some(("registrations", &self.registrations))
        } else {
            None
        }
    }
}

fn errors(validator: &Validator, json: &Json) -> Vec<String> {
    validator.iter_errors(json).map(|e| format!("at `{}`: {e}", e.instance_path())).collect()
}

fn check_file(schemas: &Schemas, path: &Path) {
    let json = read(path);
    let (kind, validator) = schemas
        .for_file(&json)
        .unwrap_or_else(|| panic!("{}: not a suite, organization or registrations", path.display()));
    let errors = errors(validator, &json);
    assert!(errors.is_empty(), "{} ({kind}) does not match its schema:\n{}", path.display(), errors.join("\n"));
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no JSON file in {}", dir.display());
    files
}

#[test]
fn the_bundled_example_and_conformance_files_match_their_schemas() {
    let schemas = Schemas::written("bundled");
    for dir in ["examples/contoso", "examples/payments", "tests/conformance"] {
        for file in json_files(&root().join(dir)) {
            check_file(&schemas, &file);
        }
    }
}

#[test]
fn the_guides_organization_and_suite_match_their_schemas() {
    let schemas = Schemas::written("guide");
    let guide = std::fs::read_to_string(root().join("docs/writing-a-plugin.md")).unwrap();
    let section = &guide[guide.find("## 7.").expect("section 7")..];
    let blocks: Vec<&str> = section.split("```json\n").skip(1).filter_map(|b| b.split("```").next()).collect();
    assert!(blocks.len() >= 2, "the guide shows an organization and a suite");
    for block in blocks {
        let json: Json = serde_json::from_str(block).unwrap();
        let (kind, validator) = schemas.for_file(&json).unwrap();
        assert!(errors(validator, &json).is_empty(), "the guide's {kind}: {:?}", errors(validator, &json));
    }
}

#[test]
fn the_files_init_writes_match_their_schemas_and_point_at_them() {
    let schemas = Schemas::written("init");
    let dir = scratch("init").join("welcome-call");
    let out = xrm_sandbox(&["init", &dir.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for file in ["org.json", "registrations.json", "suite.json"] {
        let path = dir.join(file);
        check_file(&schemas, &path);
        let pointer = read(&path)["$schema"].as_str().unwrap().to_owned();
        assert!(dir.join(&pointer).is_file(), "{file}: `$schema` names {pointer}, which init wrote");
    }
}

/// A suite with one case, its organization and steps inline.
fn suite(org: Json, steps: Json, case: Json) -> Json {
    json!({ "name": "refused", "org": org, "plugins": { "probe": "probe.wasm" }, "steps": steps, "cases": [case] })
}

fn org() -> Json {
    json!({ "name": "o", "businessunits": [{ "@alias": "root", "name": "Root" }],
            "roles": [{ "@alias": "r", "name": "R", "privileges": { "prvReadAccount": "Global" } }],
            "users": [{ "@alias": "alice", "businessunit": "@root", "roles": ["@r"] }] })
}

fn step() -> Json {
    json!({ "plugin": "probe", "message": "Create", "primaryentity": "account", "stage": 40 })
}

fn case() -> Json {
    json!({ "name": "c", "actions": [{ "assert": { "records": [{ "@logicalname": "account", "count": 0 }] } }] })
}

/// Both the schema and the loader (the binary, exit 2 naming `expected`) refuse `suite`.
fn refused_by_both(schemas: &Schemas, name: &str, suite: &Json, expected: &str) {
    assert!(!errors(&schemas.suite, suite).is_empty(), "{name}: the schema accepts it");
    let dir = scratch(name);
    let file = dir.join("suite.json");
    std::fs::write(&file, serde_json::to_string_pretty(suite).unwrap()).unwrap();
    let out = xrm_sandbox(&["test", &file.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{name}: the loader accepts it: {stderr}");
    assert!(stderr.contains(expected), "{name}: expected {expected:?} in {stderr}");
}

#[test]
fn the_schemas_refuse_what_the_loaders_refuse() {
    let schemas = Schemas::written("refused");
    // The well-formed suite passes both, so each refusal below is down to its one change.
    let good = suite(org(), json!([step()]), case());
    assert!(errors(&schemas.suite, &good).is_empty(), "{:?}", errors(&schemas.suite, &good));

    let mut unknown_key = case();
    unknown_key["colour"] = json!("red");
    refused_by_both(&schemas, "unknown-key", &suite(org(), json!([step()]), unknown_key), "cases[0]");

    let mut no_stage = step();
    no_stage.as_object_mut().unwrap().remove("stage");
    refused_by_both(&schemas, "no-stage", &suite(org(), json!([no_stage]), case()), "stage");

    let mut bad_depth = org();
    bad_depth["roles"][0]["privileges"]["prvReadAccount"] = json!("Everything");
    assert!(!errors(&schemas.org, &bad_depth).is_empty(), "the organization schema accepts the depth");
    refused_by_both(&schemas, "bad-depth", &suite(bad_depth, json!([step()]), case()), "Everything");

    // BOX-6: a misspelt stub key, at suite level and in a case.
    let mut stub_typo = suite(org(), json!([step()]), case());
    stub_typo["http"] = json!([{ "url": "https://pay.contoso.com/v1/charges", "delayMS": 20 }]);
    refused_by_both(&schemas, "stub-typo", &stub_typo, "delayMS");
    let mut case_stub = case();
    case_stub["http"] = json!([{ "method": "POST" }]);
    refused_by_both(&schemas, "stub-without-url", &suite(org(), json!([step()]), case_stub), "url");
}

#[test]
fn a_registrations_file_is_read_as_strictly_as_its_schema() {
    let schemas = Schemas::written("registrations");
    let dir = scratch("registrations");
    let registrations = json!({ "$schema": "./registrations.schema.json", "plugins": { "probe": "probe.wasm" },
                                "step": [step()] });
    assert!(!errors(&schemas.registrations, &registrations).is_empty(), "the schema accepts `step`");
    std::fs::write(dir.join("registrations.json"), registrations.to_string()).unwrap();
    let suite = json!({ "name": "s", "org": org(), "plugins": "registrations.json", "steps": "registrations.json",
                        "cases": [case()] });
    assert!(errors(&schemas.suite, &suite).is_empty(), "{:?}", errors(&schemas.suite, &suite));
    std::fs::write(dir.join("suite.json"), suite.to_string()).unwrap();
    let out = xrm_sandbox(&["test", &dir.join("suite.json").display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("registrations.json") && stderr.contains("step"), "{stderr}");
}

#[test]
fn an_unwritable_folder_is_one_clear_error() {
    let dir = scratch("unwritable");
    let blocker = dir.join("file");
    std::fs::write(&blocker, "not a folder").unwrap();
    let out = xrm_sandbox(&["schema", "--out", &blocker.join("schemas").display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: ") && stderr.contains("schemas") && stderr.lines().count() == 1, "{stderr}");
}

/// The organization file's table metadata: the schema and the loader accept the reference's example and refuse
/// the same mistakes.
#[test]
fn table_metadata_is_read_as_strictly_as_its_schema() {
    let schemas = Schemas::written("tables");
    // The example of the reference, so that it cannot drift from what is read.
    let formats = std::fs::read_to_string(root().join("docs/reference/formats.md")).unwrap();
    let section = &formats[formats.find("### Table metadata").expect("the section")..];
    let block = section.split("```json\n").nth(1).and_then(|b| b.split("```").next()).unwrap();
    let table: Json = serde_json::from_str(block).unwrap();
    let with_table = |table: Json| {
        let mut org = org();
        org["tables"] = json!([table]);
        json!({ "name": "tables", "org": org, "cases": [case()] })
    };
    let good = with_table(table.clone());
    assert!(errors(&schemas.suite, &good).is_empty(), "{:?}", errors(&schemas.suite, &good));
    let dir = scratch("tables-good");
    std::fs::write(dir.join("suite.json"), good.to_string()).unwrap();
    let out = xrm_sandbox(&["test", &dir.join("suite.json").display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

    let change = |pointer: &str, value: Json| {
        let mut t = table.clone();
        *t.pointer_mut(pointer).unwrap() = value;
        with_table(t)
    };
    let status_label = change("/columns/statuscode/options/1", json!("Active"));
    refused_by_both(&schemas, "status-label", &status_label, "columns.statuscode.options.1");
    let level = change("/columns/new_kind/requiredlevel", json!("Always"));
    refused_by_both(&schemas, "required-level", &level, "columns.new_kind.requiredlevel");
    let kind = change("/columns/new_kind/type", json!("Pickle"));
    refused_by_both(&schemas, "column-type", &kind, "columns.new_kind.type");
    let mut words = table.clone();
    words["columns"]["new_kind"]["options"] = json!({ "one": "Standard" });
    refused_by_both(&schemas, "option-value", &with_table(words), "columns.new_kind.options.one");
    let no_columns = change("/keys/0/columns", json!([]));
    refused_by_both(&schemas, "key-columns", &no_columns, "keys[0].columns");
}
