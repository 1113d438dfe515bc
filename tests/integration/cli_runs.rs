//! `xrm-sandbox test` and `run` as a newcomer and a CI pipeline meet them: folders that hold broken suites,
//! exit codes (a filter that selects nothing included), report paths checked up front, a JUnit file whatever
//! the outcome, the recap of failures, and the tree's columns sent, records written, rollbacks and jobs.

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xrm-sandbox")).args(args).env_remove("CI").output().expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn both(o: &Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

/// A fresh folder with a copy of the conformance organization and `files`.
fn scratch(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xrm-sandbox-cli-runs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(root().join("tests/conformance/org.json"), dir.join("org.json")).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir
}

fn probe() -> String {
    root().join("plugins/probe").canonicalize().unwrap().display().to_string()
}

const PASSING: &str = r#"{ "name": "ok", "org": "org.json", "cases": [ { "name": "alice creates an account",
    "actions": [ { "as": "@alice", "request": { "message": "Create", "target": { "@logicalname": "account", "name": "A" } } } ] } ] }"#;

fn validate_junit(file: &Path) {
    let Some(xmllint) = super::runner_tool("xmllint") else { return };
    let schema = root().join("tests/junit/junit.xsd");
    let out = Command::new(xmllint).arg("--noout").arg("--schema").arg(&schema).arg(file).output().unwrap();
    assert!(out.status.success(), "{} does not validate: {}", file.display(), stderr(&out));
}

#[test]
fn a_folder_with_a_file_that_is_not_json_is_refused_naming_it() {
    let dir = scratch("folder-syntax", &[("ok.json", PASSING), ("broken.json", r#"{ "name": "b", "cases": [ }"#)]);
    let out = run(&["test", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    let err = stderr(&out);
    assert!(err.contains(&dir.join("broken.json").display().to_string()) && err.contains("invalid JSON"), "{err}");
    assert!(!stdout(&out).contains("PASS"), "nothing ran: {}", stdout(&out));
}

#[test]
fn a_folder_with_a_suite_that_says_case_instead_of_cases_is_refused_naming_it() {
    let typo = r#"{ "name": "typo", "org": "org.json", "case": [] }"#;
    let dir = scratch("folder-case", &[("ok.json", PASSING), ("typo.json", typo)]);
    let out = run(&["test", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    let err = stderr(&out);
    assert!(err.contains(&dir.join("typo.json").display().to_string()), "{err}");
    assert!(err.contains("`case`") && err.contains("cases"), "names the key and the one meant: {err}");
}

#[test]
fn a_folder_recognises_the_files_its_suites_name_and_lists_the_others_with_verbose() {
    let registrations = format!(r#"{{ "plugins": {{ "probe": {{ "crate": "{}" }} }}, "steps": [] }}"#, probe());
    let suite =
        PASSING.replace(r#""org": "org.json","#, r#""org": "org.json", "plugins": "regs.json", "steps": "regs.json","#);
    let dir =
        scratch("folder-verbose", &[("suite.json", &suite), ("regs.json", &registrations), ("notes.json", "[1, 2]")]);
    let quiet = run(&["test", dir.to_str().unwrap()]);
    assert_eq!(quiet.status.code(), Some(0), "{}", both(&quiet));
    assert!(!stderr(&quiet).contains("skipped"), "only --verbose lists what was left out: {}", stderr(&quiet));
    let verbose = run(&["test", dir.to_str().unwrap(), "--verbose"]);
    assert_eq!(verbose.status.code(), Some(0), "{}", both(&verbose));
    let err = stderr(&verbose);
    assert!(err.contains(&format!("skipped {}: not a suite", dir.join("notes.json").display())), "{err}");
    assert!(!err.contains("org.json") && !err.contains("regs.json"), "the suite's own files are not skipped: {err}");
}

#[test]
fn a_filter_that_selects_no_case_exits_4_unless_no_tests_says_otherwise() {
    let dir = scratch("no-tests", &[("suite.json", PASSING)]);
    let suite = dir.join("suite.json");
    let suite = suite.to_str().unwrap();
    let out = run(&["test", suite, "--filter", "IMP-99"]);
    assert_eq!(out.status.code(), Some(4), "{}", both(&out));
    assert!(stderr(&out).contains("no case matches the filter `IMP-99`"), "{}", stderr(&out));
    let warn = run(&["test", suite, "--filter", "IMP-99", "--no-tests=warn"]);
    assert_eq!(warn.status.code(), Some(0), "{}", both(&warn));
    assert!(stderr(&warn).contains("warning: no case matches"), "{}", stderr(&warn));
    let pass = run(&["test", suite, "--filter", "IMP-99", "--no-tests", "pass"]);
    assert_eq!(pass.status.code(), Some(0), "{}", both(&pass));
    assert!(stderr(&pass).is_empty(), "{}", stderr(&pass));
    let bad = run(&["test", suite, "--no-tests", "maybe"]);
    assert_eq!(bad.status.code(), Some(2), "{}", both(&bad));
}

#[test]
fn help_gives_the_exit_codes_and_points_at_the_reference() {
    let test = stdout(&run(&["test", "--help"]));
    for code in ["0  every selected case passed", "1  a case failed", "2  bad input", "4  no case selected"] {
        assert!(test.contains(code), "{code}: {test}");
    }
    assert!(test.contains("docs/reference/"), "{test}");
    let top = stdout(&run(&["--help"]));
    assert!(top.contains("docs/reference/") && top.contains("tables.md"), "{top}");
    let run_help = stdout(&run(&["run", "--help"]));
    assert!(run_help.contains("or a suite"), "{run_help}");
}

#[test]
fn report_paths_are_checked_before_anything_runs() {
    let dir = scratch("paths", &[("suite.json", PASSING)]);
    let suite = dir.join("suite.json");
    let missing = dir.join("no-such-folder/results.xml");
    let out = run(&["test", suite.to_str().unwrap(), "--junit", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(stderr(&out).contains("results.xml") && stderr(&out).contains("does not exist"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "nothing ran: {}", stdout(&out));
    let folder = dir.join("report.html");
    std::fs::create_dir_all(&folder).unwrap();
    let out = run(&["test", suite.to_str().unwrap(), "--report", folder.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    assert!(stderr(&out).contains("it is a folder"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "nothing ran: {}", stdout(&out));
}

#[test]
fn a_junit_file_is_written_when_the_input_is_refused() {
    let bad = r#"{ "name": "bad", "org": "org.json", "cases": [ { "name": "c", "actions": [
        { "as": "@alcie", "request": { "message": "Craete", "target": { "@logicalname": "account" } } } ] } ] }"#;
    let dir = scratch("junit-refused", &[("suite.json", bad), ("broken.json", "{")]);
    let junit = dir.join("results.xml");
    let out = run(&["test", dir.to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    let xml = std::fs::read_to_string(&junit).expect("a JUnit file on exit 2");
    assert!(xml.contains(r#"<testsuite name="input" tests="2" failures="2""#), "{xml}");
    assert_eq!(xml.matches(r#"type="InputRefused""#).count(), 2, "one failed test per file: {xml}");
    assert!(xml.contains("@alcie") && xml.contains("Craete") && xml.contains("broken.json"), "{xml}");
    validate_junit(&junit);
}

#[test]
fn failures_are_recapped_after_the_summary_line_and_the_junit_file_is_written_on_exit_1() {
    let failing = r#"{ "name": "mixed", "org": "org.json", "cases": [
        { "name": "passes", "actions": [ { "as": "@alice", "request": { "message": "Create", "target": { "@logicalname": "account", "name": "A" } } } ] },
        { "name": "fails", "actions": [ { "as": "@alice", "request": { "message": "Create", "target": { "@logicalname": "account", "name": "B" } },
            "expect": { "error": { "code": "0x80040220" } } } ] } ] }"#;
    let dir = scratch("recap", &[("suite.json", failing)]);
    let junit = dir.join("results.xml");
    let out = run(&["test", dir.join("suite.json").to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let text = stdout(&out);
    let tail = &text[text.find("1 passed, 1 failed\n").expect("the summary line")..];
    assert!(
        tail.contains("Failed cases:\n  mixed::fails\n      action 0: expected an error 0x80040220, got success"),
        "{tail}"
    );
    assert!(!tail.contains("mixed::passes"), "{tail}");
    validate_junit(&junit);
}

/// A suite whose probe step creates a task, then throws on the account named `refused`; an async step traces.
fn rollback_suite() -> String {
    format!(
        r#"{{ "name": "writes", "org": "org.json", "plugins": {{ "probe": {{ "crate": "{}" }} }},
        "steps": [
          {{ "name": "task then maybe throw", "plugin": "probe", "message": "Create", "primaryentity": "account", "stage": 40,
            "configuration": {{ "ops": [ {{ "create": {{ "@logicalname": "task", "subject": "follow up" }}, "as": "user" }},
                                         {{ "when": {{ "Target.name": "refused" }}, "ops": [ {{ "throw": "no" }} ] }} ] }} }},
          {{ "name": "later", "plugin": "probe", "message": "Create", "primaryentity": "account", "stage": 40, "mode": 1,
            "configuration": {{ "ops": [ {{ "trace": "job ran" }} ] }} }} ],
        "cases": [ {{ "name": "writes are shown", "actions": [
          {{ "as": "@alice", "request": {{ "message": "Create", "target": {{ "@logicalname": "account", "name": "kept", "telephone1": "555" }} }}, "save": "kept" }},
          {{ "as": "@alice", "request": {{ "message": "Create", "target": {{ "@logicalname": "account", "name": "refused" }} }}, "expect": {{ "error": {{}} }} }},
          {{ "runasync": true }} ] }} ] }}"#,
        probe()
    )
}

#[test]
fn the_tree_shows_columns_sent_records_written_rollbacks_and_jobs_under_runasync() {
    let dir = scratch("tree-writes", &[("suite.json", &rollback_suite())]);
    let report = dir.join("report.html");
    let out =
        run(&["test", dir.join("suite.json").to_str().unwrap(), "--verbose", "--report", report.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let text = stdout(&out);
    assert!(text.contains("sent: name, telephone1"), "{text}");
    let kept = text.lines().find(|l| l.contains("wrote: created account @kept")).unwrap_or_else(|| panic!("{text}"));
    assert!(kept.contains("name") && kept.contains("telephone1") && !kept.contains("rolled back"), "{kept}");
    let refused: Vec<&str> =
        text.lines().filter(|l| l.contains("wrote: created") && l.contains("rolled back")).collect();
    assert_eq!(refused.len(), 2, "the refused account and its task, both rolled back: {text}");
    assert!(text.lines().filter(|l| l.contains("wrote: created task") && !l.contains("rolled back")).count() == 1);
    // The job's step sits under the runasync that ran it, not under the last request.
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("runasync: 1 queued asynchronous job"))
        .unwrap_or_else(|| panic!("{text}"));
    let indent = |l: &str| l.len() - l.trim_start_matches([' ', '|']).len();
    assert!(lines[at + 1].contains("step \"later\"") && indent(lines[at + 1]) > indent(lines[at]), "{text}");
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("<span class=\"sent\">sent name, telephone1</span>"), "{html}");
    assert!(
        html.contains("class=\"write rolled-back\"") && html.contains("<dt>telephone1</dt><dd>&quot;555&quot;</dd>")
    );
    assert!(html.contains("<span class=\"what\">runasync</span>"), "{html}");
}

#[test]
fn run_takes_a_suite_and_shows_the_records_written_with_aliases() {
    let dir = scratch("run-suite", &[("suite.json", &rollback_suite())]);
    let request = r#"{"message": "Create", "target": {"@logicalname": "account", "name": "Contoso"}}"#;
    let out = run(&["run", "-r", dir.join("suite.json").to_str().unwrap(), "--as", "@alice", request]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let text = stdout(&out);
    assert!(text.contains("step \"task then maybe throw\" [probe]"), "the suite's steps ran: {text}");
    assert!(text.contains("Records written:"), "{text}");
    assert!(text.contains("created task"), "the plug-in's write too: {text}");
    assert!(text.contains("ownerid = {\"@ref\":\"systemuser\",\"id\":\"@alice\""), "aliases, not GUIDs: {text}");
}

#[test]
fn building_plugins_shows_a_line_per_crate_with_its_time_in_a_log_and_cargos_progress_on_a_terminal() {
    let dir = scratch("build-progress", &[("suite.json", &rollback_suite())]);
    let suite = dir.join("suite.json");
    let out = run(&["test", suite.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let err = stderr(&out);
    let line = err.lines().find(|l| l.starts_with("Built plug-in `probe` (")).unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("plugins/probe) in ") && line.ends_with(" s"), "{line}");
    assert!(!err.contains("Building plug-in"), "one line per crate in a log: {err}");

    // On a terminal: the line as the build starts, then cargo's own output.
    let Some(script) = super::runner_tool("script") else { return };
    let command = format!("'{}' test '{}'", env!("CARGO_BIN_EXE_xrm-sandbox"), suite.display());
    let seen =
        Command::new(script).args(["-qec", &command, "/dev/null"]).env_remove("CI").env("TERM", "xterm").output();
    let seen = String::from_utf8_lossy(&seen.unwrap().stdout).into_owned();
    assert!(seen.contains("Building plug-in `probe` ("), "{seen:?}");
    assert!(seen.contains("Finished") || seen.contains("Compiling"), "cargo's own progress: {seen:?}");
}

#[test]
fn run_checks_its_request_as_a_suite_does_with_the_path_and_the_form_to_write() {
    let dir = scratch("run-check", &[]);
    let org = dir.join("org.json");
    let bulk = r#"{"message": "CreateMultiple", "targets": [{"@logicalname": "account", "name": "A"},
                   {"@logicalname": "account", "name": "B", "industrycode": 2}]}"#;
    let out = run(&["run", "--org", org.to_str().unwrap(), "--as", "@alice", bulk]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    let err = stderr(&out);
    assert!(err.contains("request: at `targets[1].industrycode`"), "{err}");
    assert!(err.contains("write `{\"@option\":2}`"), "{err}");
    assert!(!stdout(&out).contains("Execution tree"), "nothing ran: {}", stdout(&out));

    // From a file: the file is named, and every problem reported.
    let file = dir.join("request.json");
    std::fs::write(
        &file,
        r#"{"message": "ExecuteMultiple", "requests": [
             {"message": "Create", "target": {"@logicalname": "account", "name": "A", "nmae": "x"}},
             {"message": "Create", "target": {"@logicalname": "account", "ownerid": "@bob"}}]}"#,
    )
    .unwrap();
    let out = run(&["run", "--org", org.to_str().unwrap(), "--as", "@alice", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    let err = stderr(&out);
    let at = format!("{}: at `requests[0].target.nmae`", file.display());
    assert!(err.contains(&at) && err.contains("did you mean `name`?"), "{err}");
    assert!(err.contains("at `requests[1].target.ownerid`"), "{err}");
    assert!(err.contains("{\"@ref\":\"systemuser\",\"id\":\"@bob\"}"), "{err}");

    // Written as it says, the request runs.
    let fixed = r#"{"message": "CreateMultiple", "targets": [{"@logicalname": "account", "name": "B",
                    "industrycode": {"@option": 2}}]}"#;
    let out = run(&["run", "--org", org.to_str().unwrap(), "--as", "@alice", fixed]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
}
