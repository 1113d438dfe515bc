//! `xrm-sandbox import` as users run it: both export formats give the same registration file, which the real
//! loader accepts and runs; steps that cannot be mapped are listed (exit 1); a broken export or mapping is
//! refused with the file and the place (exit 2) and nothing is written.

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value as Json;

fn xrm_sandbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xrm-sandbox")).args(args).output().expect("the binary runs")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn data(file: &str) -> String {
    root().join("tests/import").join(file).display().to_string()
}

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xrm-sandbox-import-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn read_json(path: &Path) -> Json {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("JSON")
}

/// Imports `export` with the test mapping into `dir/registrations.json`.
fn import(dir: &Path, export: &str) -> (Output, PathBuf) {
    let out = dir.join("registrations.json");
    let output =
        xrm_sandbox(&["import", export, "--mapping", &data("mapping.json"), "--out", &out.display().to_string()]);
    (output, out)
}

/// The steps the test exports leave out, in export order: one of each reason the brief names.
const LEFT_OUT: [(&str, &str); 3] = [
    ("7c3e9a48-2b5f-4d1c-9e6a-8f3b1c5d7e88", "unmapped plug-in type `Fabrikam.Erp.Connector.ExportAccount`"),
    ("1e6b3d59-4a8c-4f2e-b7d9-9a4c2e6f8b99", "unmapped impersonating user"),
    ("5a2c8e6a-7d3b-4c1f-a9e2-0b7d4f1a3caa", "not a plug-in step"),
];

/// Exit 1, the file written with the mapped steps, one stderr line per step left out.
fn imports_to_the_expected_registrations(name: &str, export: &str) {
    let dir = scratch(name);
    let (output, out) = import(&dir, &data(export));
    assert_eq!(output.status.code(), Some(1), "{}{}", stdout(&output), stderr(&output));
    assert_eq!(stdout(&output).trim(), format!("imported 7 of 10 steps into {}", out.display()));
    let written = read_json(&out);
    let expected = read_json(Path::new(&data("expected-registrations.json")));
    assert_eq!(written["steps"], expected["steps"], "{}", serde_json::to_string_pretty(&written).unwrap());
    // The mapping names the crate relative to itself; the file names it relative to where it was written.
    let component = written["plugins"]["probe"]["crate"].as_str().expect("a crate");
    assert_eq!(dir.join(component).canonicalize().unwrap(), root().join("plugins/probe").canonicalize().unwrap());
    let err = stderr(&output);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("left out: ")).collect();
    assert_eq!(lines.len(), LEFT_OUT.len(), "{err}");
    for (line, (id, reason)) in lines.iter().zip(LEFT_OUT) {
        assert!(line.contains(id) && line.contains(reason), "expected {id} and {reason:?} in {line}");
    }
}

#[test]
fn a_web_api_export_imports_to_the_expected_registrations() {
    imports_to_the_expected_registrations("webapi", "webapi-steps.json");
}

#[test]
fn a_solutions_customizations_xml_imports_to_the_same_registrations() {
    imports_to_the_expected_registrations("solution", "customizations.xml");
}

#[test]
fn the_unmapped_user_is_named_by_everything_the_export_knows_of_them() {
    let dir = scratch("user");
    let (output, _) = import(&dir, &data("webapi-steps.json"));
    let err = stderr(&output);
    let line = err.lines().find(|l| l.contains("1e6b3d59")).expect("the step is listed");
    for key in ["0c9e7d62-3a1b-4f8e-b5c4-9d2a6e1f7b80", "pat.morgan@contoso.onmicrosoft.com", "Pat Morgan"] {
        assert!(line.contains(key), "{key} in {line}");
    }
}

/// A suite on a copy of the conformance organization whose plug-ins and steps are the imported file.
const ROUND_TRIP: &str = r#"{
  "name": "imported registrations",
  "org": "org.json",
  "plugins": "registrations.json",
  "steps": "registrations.json",
  "cases": [
    { "name": "the imported Create steps run, the asynchronous one as the mapped user",
      "actions": [
        { "as": "@alice", "request": { "message": "Create", "target": { "@logicalname": "account", "name": "Contoso" } } },
        { "runasync": true },
        { "assert": { "traces": [
            { "step": "Contoso.Plugins.FollowUp: Create of account", "contains": "follow-up UserId=@alice InitiatingUserId=@alice" },
            { "step": "Contoso.Plugins.FollowUp: Create of account (as Integration Service, async)",
              "contains": "async follow-up UserId=@bob InitiatingUserId=@alice" } ] } } ] },
    { "name": "the imported Update steps get their filtering attributes and images",
      "actions": [
        { "as": "@alice", "request": { "message": "Create", "target": { "@logicalname": "account", "name": "Contoso" } }, "save": "a" },
        { "as": "@alice", "request": { "message": "Update", "target": { "@logicalname": "account", "@id": "@a", "name": "Contoso Ltd" } } },
        { "assert": { "traces": [
            { "step": "Contoso.Plugins.CreditCheck: Update of account", "contains": "credit check: name was Contoso, now Contoso Ltd" },
            { "step": "Contoso.Plugins.AccountAudit: Update of account", "contains": "audit UserId=@bob: Contoso -> Contoso Ltd" } ] } } ] },
    { "name": "the disabled step stays disabled",
      "actions": [
        { "as": "@alice", "request": { "message": "Create", "target": { "@logicalname": "account", "name": "Contoso" } }, "save": "a" },
        { "as": "@alice", "request": { "message": "Delete", "target": { "@ref": "account", "id": "@a" } } },
        { "assert": { "traces": [ { "step": "Contoso.Plugins.LegacySync: Delete of account (retired)", "absent": true } ] } } ] },
    { "name": "the PreValidation step on contact runs",
      "actions": [
        { "as": "@alice", "request": { "message": "Create", "target": { "@logicalname": "contact", "lastname": "Smith" } } },
        { "assert": { "traces": [
            { "step": "Contoso.Plugins.ContactValidation: Create of contact", "contains": "validating contact Smith" } ] } } ] }
  ]
}"#;

/// Round trip: the written file is loaded by the real loader and its steps run as registered.
fn round_trip(name: &str, export: &str) {
    let dir = scratch(name);
    std::fs::copy(root().join("tests/conformance/org.json"), dir.join("org.json")).expect("copy org");
    let (output, _) = import(&dir, &data(export));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    std::fs::write(dir.join("suite.json"), ROUND_TRIP).expect("suite");
    let run = xrm_sandbox(&["test", &dir.join("suite.json").display().to_string()]);
    assert_eq!(run.status.code(), Some(0), "{}{}", stdout(&run), stderr(&run));
    assert!(stdout(&run).lines().last().unwrap_or_default().starts_with("4 passed, 0 failed"), "{}", stdout(&run));
}

#[test]
fn the_imported_web_api_steps_load_and_run() {
    round_trip("roundtrip-webapi", "webapi-steps.json");
}

#[test]
fn the_imported_solution_steps_load_and_run() {
    round_trip("roundtrip-solution", "customizations.xml");
}

#[test]
fn every_step_mapped_exits_0() {
    let dir = scratch("all-mapped");
    let export = r#"{ "value": [ { "sdkmessageprocessingstepid": "3a9f1c52-7e4b-4d2a-8f61-0b5c9e2d7a11",
        "name": "Follow-up", "stage": 40, "mode": 0, "rank": 1, "filteringattributes": null, "configuration": null,
        "statecode": 0, "sdkmessageid": { "name": "Create" }, "sdkmessagefilterid": { "primaryobjecttypecode": "account" },
        "plugintypeid": { "typename": "Contoso.Plugins.FollowUp" }, "impersonatinguserid": null,
        "sdkmessageprocessingstepid_sdkmessageprocessingstepimage": [] } ] }"#;
    std::fs::write(dir.join("export.json"), export).unwrap();
    let (output, out) = import(&dir, &dir.join("export.json").display().to_string());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(!stderr(&output).contains("left out"), "{}", stderr(&output));
    assert_eq!(read_json(&out)["steps"][0]["plugin"], "probe");
}

#[test]
fn an_unknown_message_id_is_listed() {
    let dir = scratch("message-id");
    let xml = std::fs::read_to_string(data("customizations.xml")).unwrap();
    // The Custom API's message id, with no mapping for it.
    let xml = xml.replace("e3a91f4b-2c7d-4e8a-9f15-8b6c0d2e4a88", "e3a91f4b-2c7d-4e8a-9f15-000000000000");
    std::fs::write(dir.join("customizations.xml"), xml).unwrap();
    let (output, _) = import(&dir, &dir.join("customizations.xml").display().to_string());
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    let line = err.lines().find(|l| l.contains("4b8d2f37-6c1e-4a9b-b3d5-7e2f0a4c6b77")).expect("the step is listed");
    assert!(line.contains("unknown message id e3a91f4b-2c7d-4e8a-9f15-000000000000"), "{line}");
}

/// Exit 2, one message naming `named` and `place`, and the previous output left as it was.
fn refused(name: &str, export: (&str, &str), mapping: Option<&str>, named: &str, place: &str) {
    let dir = scratch(name);
    std::fs::write(dir.join(export.0), export.1).unwrap();
    let mapping_file = match mapping {
        Some(text) => {
            std::fs::write(dir.join("mapping.json"), text).unwrap();
            dir.join("mapping.json").display().to_string()
        }
        None => data("mapping.json"),
    };
    let out = dir.join("registrations.json");
    std::fs::write(&out, "previous").unwrap();
    let export_file = dir.join(export.0).display().to_string();
    let output =
        xrm_sandbox(&["import", &export_file, "--mapping", &mapping_file, "--out", &out.display().to_string()]);
    assert_eq!(output.status.code(), Some(2), "{name}: {}{}", stdout(&output), stderr(&output));
    let err = stderr(&output);
    assert!(err.starts_with("error: ") && err.lines().count() == 1, "{name}: one message: {err}");
    let named = if named == "mapping" { mapping_file } else { export_file };
    assert!(err.contains(&named), "{name}: the message names {named}: {err}");
    assert!(err.contains(place), "{name}: expected {place:?} in {err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous", "{name}: nothing written");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{name}: no temporary file left");
}

#[test]
fn a_malformed_web_api_export_is_refused_and_nothing_is_written() {
    let text = std::fs::read_to_string(data("webapi-steps.json")).unwrap();
    let broken = text.replacen(r#""stage": 40, "mode": 0"#, r#""stage": 40 "mode": 0"#, 1);
    refused("json-syntax", ("steps.json", &broken), None, "export", "invalid JSON");
    let unexpanded =
        text.replace(r#""plugintypeid": null,"#, r#""_plugintypeid_value": "3e8f1a2b-9c4d-4e5f-8a6b-7c0d1e2f3a4b","#);
    let unexpanded = unexpanded.replacen(r#""plugintypeid": {"#, r#""plugintypeid_x": {"#, 1);
    refused("unexpanded", ("steps.json", &unexpanded), None, "export", "value[0].plugintypeid");
    refused("not-a-list", ("steps.json", r#"{ "value": 3 }"#), None, "export", "`value`");
}

#[test]
fn a_malformed_customizations_xml_is_refused_with_its_line() {
    let text = std::fs::read_to_string(data("customizations.xml")).unwrap();
    let broken = text.replacen("</Stage>", "</Stge>", 1);
    refused("xml-syntax", ("customizations.xml", &broken), None, "export", "at `line 55`");
    let bad_stage = text.replacen("<Stage>40</Stage>", "<Stage>PostOperation</Stage>", 1);
    refused("xml-stage", ("customizations.xml", &bad_stage), None, "export", "line 55: <Stage>");
}

#[test]
fn a_malformed_mapping_is_refused_naming_the_mapping() {
    let export = std::fs::read_to_string(data("webapi-steps.json")).unwrap();
    let export = ("steps.json", export.as_str());
    refused("mapping-syntax", export, Some(r#"{ "plugins": { "#), "mapping", "invalid JSON");
    refused(
        "mapping-user",
        export,
        Some(r#"{ "users": { "Integration Service": "bob" } }"#),
        "mapping",
        "users.Integration Service",
    );
    refused(
        "mapping-component",
        export,
        Some(r#"{ "plugins": { "Contoso.Plugins.FollowUp": { "plugin": "probe", "component": { "path": "x" } } } }"#),
        "mapping",
        "plugins.Contoso.Plugins.FollowUp.component",
    );
}

#[test]
fn an_unreadable_export_is_refused() {
    let dir = scratch("missing");
    let (output, out) = import(&dir, &dir.join("nowhere.json").display().to_string());
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("nowhere.json: cannot read the file"), "{}", stderr(&output));
    assert!(!out.exists());
}

/// Issue 12: a customizations.xml nesting a million elements (inside a step, or anywhere else) is one clear
/// error naming the file, never a stack overflow.
#[test]
fn a_customizations_xml_nested_a_million_deep_is_refused_naming_the_file() {
    let deep = |prefix: &str, suffix: &str| {
        let levels = 1_000_000;
        let mut text = String::with_capacity(levels * 8 + 200);
        text.push_str(prefix);
        text.push_str(&"<a>".repeat(levels));
        text.push_str(&"</a>".repeat(levels));
        text.push_str(suffix);
        text
    };
    let in_a_step = deep(
        "<ImportExportXml><SdkMessageProcessingSteps><SdkMessageProcessingStep Name=\"x\">",
        "</SdkMessageProcessingStep></SdkMessageProcessingSteps></ImportExportXml>",
    );
    let outside = deep("<ImportExportXml><Entities>", "</Entities></ImportExportXml>");
    for (name, text) in [("deep-step", in_a_step), ("deep-outside", outside)] {
        refused(name, ("customizations.xml", &text), None, "export", "nests deeper than 256 elements");
    }
}
