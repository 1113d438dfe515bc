//! `xrm-sandbox test` and `xrm-sandbox run` as CI pipelines and plug-in authors use them, in real processes:
//! every flag, sharding, the JUnit file (validated against the JUnit schema with xmllint), the HTML report
//! (checked in headless Chromium), progress and colour on a terminal only.
//!
//! xmllint and Chromium come from Debian (`.ci/run` installs them and sets `XRM_SANDBOX_REQUIRE_TOOLS`, which
//! turns their absence into a failure); elsewhere a missing tool skips that check with a note.

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn xrm_sandbox() -> Command {
    Command::cargo_bin("xrm-sandbox").unwrap()
}

fn run(args: &[&str]) -> Output {
    xrm_sandbox().args(args).env_remove("CI").output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn conformance(file: &str) -> String {
    root().join("tests/conformance").join(file).display().to_string()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xrm-sandbox-runner-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A suite on the bundled example: one case that fails (a wrong expectation), and passing ones.
fn mixed_suite(dir: &Path) -> PathBuf {
    let example = root().join("examples/contoso");
    let suite = serde_json::json!({
        "name": "mixed",
        "org": example.join("org.json"),
        "plugins": example.join("registrations.json"),
        "steps": example.join("registrations.json"),
        "cases": [
            { "name": "IMP-4: a wrong expectation fails and shows the tree",
              "actions": [ { "as": "@alice",
                             "request": { "message": "Create", "target": { "@logicalname": "account", "name": "A & <B>" } },
                             "expect": { "error": { "code": "0x80040220" } } } ] },
            { "name": "IMP-1: bob creates an account",
              "actions": [ { "as": "@bob", "request": { "message": "Create", "target": { "@logicalname": "account", "name": "B" } } } ] },
            { "name": "SEC-8: a disabled user is refused",
              "actions": [ { "as": "@carol", "request": { "message": "Create", "target": { "@logicalname": "account", "name": "C" } },
                             "expect": { "error": {} } } ] }
        ]
    });
    let path = dir.join("mixed.json");
    std::fs::write(&path, serde_json::to_string_pretty(&suite).unwrap()).unwrap();
    path
}

/// The ids (`suite::case`) of the cases a run reported, by status word.
fn reported(out: &str, status: &str) -> BTreeSet<String> {
    out.lines()
        .filter_map(|l| l.trim_start().strip_prefix(status))
        .map(|rest| rest.split_once("] ").map_or(rest, |(_, id)| id).to_owned())
        .collect()
}

/// The summary line (`N passed, N failed…`), which the recap of failed cases follows.
fn last_line(o: &Output) -> String {
    let text = stdout(o);
    let summary = text.lines().rev().find(|l| l.contains(" passed, ") && !l.starts_with(' '));
    summary.unwrap_or_default().to_owned()
}

/// A Debian tool a check needs; `None` (with a note) when it is missing and the run does not require it.
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("XRM_SANDBOX_REQUIRE_TOOLS").is_none(),
            "`{name}` is required (XRM_SANDBOX_REQUIRE_TOOLS is set) but not installed"
        );
        eprintln!("note: `{name}` is not installed; skipping the check that needs it");
    }
    found
}

#[test]
fn filter_takes_a_rule_id_and_counts_the_rest_as_skipped() {
    let out = run(&["test", &conformance("identity.json"), "--filter", "IMP-3"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let passed = reported(&stdout(&out), "PASS");
    assert!(!passed.is_empty() && passed.iter().all(|id| id.contains("IMP-3")), "{passed:?}");
    let last = last_line(&out);
    assert!(last.starts_with(&format!("{} passed, 0 failed, ", passed.len())) && last.ends_with(" skipped"), "{last}");
}

#[test]
fn partition_runs_every_case_exactly_once_across_the_shards() {
    let suites = [conformance("identity.json"), conformance("pipeline.json")];
    let all = run(&["test", &suites[0], &suites[1], "--jobs", "2"]);
    assert_eq!(all.status.code(), Some(0), "{}", stdout(&all));
    let everything = reported(&stdout(&all), "PASS");
    for n in [1usize, 2, 3] {
        let mut seen = BTreeSet::new();
        let mut total = 0;
        for k in 1..=n {
            let shard = format!("{k}/{n}");
            let out = run(&["test", &suites[0], &suites[1], "--partition", &shard]);
            assert_eq!(out.status.code(), Some(0), "{shard}: {}", stdout(&out));
            let ran = reported(&stdout(&out), "PASS");
            total += ran.len();
            assert!(ran.is_disjoint(&seen), "shard {shard} repeats a case");
            let size = ran.len();
            let expected_size = (everything.len() + n - k) / n;
            assert_eq!(size, expected_size, "shard {shard} is dealt round-robin");
            if n > 1 {
                assert!(last_line(&out).ends_with(&format!(", {} skipped", everything.len() - size)), "{shard}");
            }
            seen.extend(ran);
        }
        assert_eq!(total, everything.len(), "{n} shards");
        assert_eq!(seen, everything, "the {n} shards together run every case");
    }
}

#[test]
fn partition_applies_after_the_filter() {
    let suite = conformance("identity.json");
    let filtered = reported(&stdout(&run(&["test", &suite, "--filter", "IMP-4"])), "PASS");
    let one = reported(&stdout(&run(&["test", &suite, "--filter", "IMP-4", "--partition", "1/2"])), "PASS");
    let two = reported(&stdout(&run(&["test", &suite, "--filter", "IMP-4", "--partition", "2/2"])), "PASS");
    assert_eq!(one.len(), filtered.len().div_ceil(2));
    assert_eq!(one.union(&two).cloned().collect::<BTreeSet<_>>(), filtered);
}

#[test]
fn a_bad_partition_is_refused_with_exit_2() {
    for bad in ["0/3", "4/3", "1/0", "x", "1-3"] {
        let out = run(&["test", &conformance("identity.json"), "--partition", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(stderr(&out).contains("k/n"), "{bad}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{bad}: nothing ran");
    }
}

#[test]
fn jobs_1_runs_the_same_cases_as_the_default() {
    let suite = conformance("identity.json");
    let one = run(&["test", &suite, "--jobs", "1", "--filter", "IMP-2"]);
    let many = run(&["test", &suite, "--jobs", "4", "--filter", "IMP-2"]);
    assert_eq!(one.status.code(), Some(0));
    assert_eq!(reported(&stdout(&one), "PASS"), reported(&stdout(&many), "PASS"));
}

#[test]
fn quiet_prints_only_failures_and_the_closing_line() {
    let dir = scratch("quiet");
    let suite = mixed_suite(&dir);
    let out = run(&["test", suite.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(reported(&text, "PASS").is_empty(), "{text}");
    assert_eq!(reported(&text, "FAIL").len(), 1, "{text}");
    assert!(text.contains("expected an error 0x80040220, got success"), "{text}");
    assert_eq!(last_line(&out), "2 passed, 1 failed");
}

#[test]
fn verbose_prints_the_tree_of_passing_cases() {
    let dir = scratch("verbose");
    let suite = mixed_suite(&dir);
    let out = run(&["test", suite.to_str().unwrap(), "--verbose", "--filter", "IMP-1"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("Create account as @bob"), "{}", stdout(&out));
    let quiet = run(&["test", suite.to_str().unwrap(), "--filter", "IMP-1"]);
    assert!(!stdout(&quiet).contains("Create account as @bob"));
}

#[test]
fn fail_fast_stops_starting_cases_and_reports_them_skipped() {
    let dir = scratch("failfast");
    let suite = mixed_suite(&dir);
    let junit = dir.join("junit.xml");
    let out = run(&["test", suite.to_str().unwrap(), "--fail-fast", "--jobs", "1", "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(last_line(&out), "0 passed, 1 failed, 2 skipped");
    assert_eq!(reported(&stdout(&out), "SKIP").len(), 2, "{}", stdout(&out));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<skipped ").count(), 2, "{xml}");
    validate_junit(&junit);
}

#[test]
fn junit_has_one_testcase_per_case_with_the_failure_and_its_trace() {
    let dir = scratch("junit");
    let suite = mixed_suite(&dir);
    let junit = dir.join("results.xml");
    let out = run(&["test", suite.to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 3, "{xml}");
    assert!(xml.contains(r#"<testsuites name="xrm-sandbox" tests="3" failures="1" errors="0" skipped="0""#), "{xml}");
    assert!(xml.contains(r#"<testsuite name="mixed" tests="3" failures="1""#), "{xml}");
    assert!(xml.contains(r#"classname="mixed""#));
    assert_eq!(xml.matches("<failure ").count(), 1);
    assert!(xml.contains(r#"message="action 0: expected an error 0x80040220, got success""#), "{xml}");
    // The failure carries the execution tree with the users, and the steps' trace text, escaped.
    assert!(xml.contains("Create account as @alice"), "{xml}");
    assert!(xml.contains("UserId=@svc InitiatingUserId=@alice"), "{xml}");
    assert!(xml.contains("&amp; &lt;B&gt;") || !xml.contains("A & <B>"), "text is escaped");
    validate_junit(&junit);
}

fn validate_junit(file: &Path) {
    let Some(xmllint) = tool("xmllint") else { return };
    let schema = root().join("tests/junit/junit.xsd");
    let out = Command::new(xmllint).arg("--noout").arg("--schema").arg(&schema).arg(file).output().unwrap();
    assert!(out.status.success(), "{} does not validate: {}", file.display(), stderr(&out));
}

#[test]
fn the_junit_schema_refuses_what_ci_systems_would_not_read() {
    // The validation above must be able to fail: a testcase without a name, and counts that are not numbers.
    let Some(xmllint) = tool("xmllint") else { return };
    let dir = scratch("junit-bad");
    let bad = dir.join("bad.xml");
    std::fs::write(
        &bad,
        r#"<testsuites><testsuite name="s" tests="x"><testcase classname="s"/></testsuite></testsuites>"#,
    )
    .unwrap();
    let schema = root().join("tests/junit/junit.xsd");
    let out = Command::new(xmllint).arg("--noout").arg("--schema").arg(&schema).arg(&bad).output().unwrap();
    assert!(!out.status.success());
}

#[test]
fn reports_are_written_whole_and_an_unwritable_path_is_an_error() {
    let dir = scratch("unwritable");
    let suite = mixed_suite(&dir);
    let target = dir.join("no-such-folder/results.xml");
    let out = run(&["test", suite.to_str().unwrap(), "--junit", target.to_str().unwrap(), "--filter", "IMP-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("results.xml") && stderr(&out).contains("cannot write"), "{}", stderr(&out));
    assert!(!dir.join("no-such-folder").exists());

    // A target that is a folder: the report is written beside it, the rename fails, and nothing is left behind.
    let folder = dir.join("report.html");
    std::fs::create_dir_all(&folder).unwrap();
    let out = run(&["test", suite.to_str().unwrap(), "--report", folder.to_str().unwrap(), "--filter", "IMP-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("report.html") && stderr(&out).contains("cannot write"), "{}", stderr(&out));
    assert!(!dir.join(".report.html.partial").exists(), "the file beside the target is removed");
    assert!(folder.is_dir() && std::fs::read_dir(&folder).unwrap().next().is_none(), "the folder is untouched");
}

#[test]
fn no_progress_bar_or_colour_when_piped() {
    let dir = scratch("piped");
    let suite = mixed_suite(&dir);
    let out = run(&["test", suite.to_str().unwrap()]);
    assert!(!stdout(&out).contains('\x1b'), "no colour in a pipe");
    assert!(!stderr(&out).contains("cases"), "no progress bar in a pipe: {}", stderr(&out));
}

/// Runs the command on a pseudo-terminal (util-linux's `script`), as a user at a terminal sees it.
fn on_terminal(args: &[&str], env: &[(&str, &str)]) -> Option<String> {
    let script = tool("script")?;
    let bin = assert_cmd::cargo::cargo_bin("xrm-sandbox");
    let command = std::iter::once(bin.display().to_string()).chain(args.iter().map(|a| format!("'{a}'")));
    let mut cmd = Command::new(script);
    cmd.args(["-qec", &command.collect::<Vec<_>>().join(" "), "/dev/null"]).env_remove("CI").env("TERM", "xterm");
    cmd.env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    Some(String::from_utf8_lossy(&cmd.output().unwrap().stdout).into_owned())
}

#[test]
fn on_a_terminal_there_is_colour_and_a_progress_bar_and_no_color_turns_colour_off() {
    let dir = scratch("terminal");
    let suite = mixed_suite(&dir);
    let suite = suite.to_str().unwrap();
    let Some(seen) = on_terminal(&["test", suite], &[]) else { return };
    assert!(seen.contains("\x1b[1m\x1b[32m") || seen.contains("\x1b[32m"), "green PASS: {seen:?}");
    assert!(seen.contains("/3 cases"), "a progress bar: {seen:?}");
    let plain = on_terminal(&["test", suite], &[("NO_COLOR", "1")]).unwrap();
    assert!(!plain.contains("\x1b[32m") && !plain.contains("\x1b[31m"), "NO_COLOR: {plain:?}");
    let ci = on_terminal(&["test", suite], &[("CI", "true")]).unwrap();
    assert!(!ci.contains("/3 cases"), "no progress bar in CI: {ci:?}");
}

#[test]
fn run_prints_the_response_and_the_execution_tree() {
    let example = root().join("examples/contoso");
    let request = r#"{"message": "Create", "target": {"@logicalname": "account", "name": "Contoso"}}"#;
    let org = example.join("org.json");
    let regs = example.join("registrations.json");
    let out = run(&["run", "--org", org.to_str().unwrap(), "-r", regs.to_str().unwrap(), "--as", "@alice", request]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Create account as @alice (initiating @alice, depth 1): ok"), "{text}");
    assert!(text.contains("UserId=@svc InitiatingUserId=@alice"), "{text}");
    assert!(text.contains("Create annotation as @system via CreateOrganizationService(null)"), "{text}");
    assert!(text.contains("Response:\n{\n  \"id\": {\n    \"@guid\": "), "{text}");
}

#[test]
fn run_shows_a_refused_request_with_exit_1_and_bad_input_with_exit_2() {
    let example = root().join("examples/contoso");
    let org = example.join("org.json");
    let org = org.to_str().unwrap();
    let request = r#"{"message": "Create", "target": {"@logicalname": "account", "name": "x"}}"#;
    let refused = run(&["run", "--org", org, "--as", "@carol", request]);
    assert_eq!(refused.status.code(), Some(1), "{}", stdout(&refused));
    assert!(stdout(&refused).contains("Failed: 0x"), "{}", stdout(&refused));
    let unknown = run(&["run", "--org", org, "--as", "@nobody", request]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("@nobody"), "{}", stderr(&unknown));
    let malformed = run(&["run", "--org", org, "--as", "@alice", "{not json"]);
    assert_eq!(malformed.status.code(), Some(2));
    assert!(stderr(&malformed).contains("not JSON"), "{}", stderr(&malformed));
}

#[test]
fn run_takes_external_impersonation() {
    let org = conformance("org.json");
    // Acting on behalf of another user needs prvActOnBehalfOfAnotherUser from a direct role (IMP-6): alice has none.
    let request = r#"{"message": "Create", "target": {"@logicalname": "account", "name": "x"}}"#;
    let out = run(&["run", "--org", &org, "--as", "@alice", "--callerid", "@bob", request]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("prvActOnBehalfOfAnotherUser"), "{}", stdout(&out));
}

#[test]
fn html_report_shows_the_tree_and_the_users_in_a_browser() {
    let dir = scratch("html");
    let suite = mixed_suite(&dir);
    let report = dir.join("report.html");
    let out = run(&["test", suite.to_str().unwrap(), "--report", report.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"), "self-contained");
    let Some(chromium) = tool("chromium") else { return };
    browser::check(&chromium, &report);
}

mod browser {
    //! The report checked in Debian's Chromium as a reader sees it: the page is loaded with a script appended
    //! that does what the reader does (opens a passing case, ticks "failing cases only") and writes what is
    //! visible at each point into the page as JSON; `--dump-dom` prints the page once its scripts have run.
    //! No driver crate: Chromium itself is the real thing, and its command line is enough.
    use std::path::Path;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    /// What is visible, in the report's own selectors, before and after the reader's clicks.
    const READER: &str = r##"
const visible = s => Array.from(document.querySelectorAll(s)).filter(e => e.checkVisibility()).map(e => e.innerText);
const failing = "details.case.fail", passing = "details.case.pass", seen = {};
seen.summary = visible("#summary strong");
seen.failingOpen = document.querySelector(failing).open;
seen.callers = visible(failing + " .user[data-role=caller]");
seen.stepUsers = visible(failing + " .user[data-role=userid]");
seen.initiating = visible(failing + " .user[data-role=initiatinguserid]");
seen.stages = visible(failing + " .stage > details > summary");
seen.vias = visible(failing + " .via");
seen.traces = visible(failing + " pre.trace");
seen.depths = visible(failing + " .depth");
seen.failures = visible(".failures li");
seen.passingUsers = visible(passing + " .user");
document.querySelector(passing + " > summary").click();
seen.opened = visible(passing + "[open] .user[data-role=caller]");
document.querySelector("#only-failures").click();
seen.passNamesFiltered = visible(".case.pass .name");
seen.failNamesFiltered = visible(".case.fail > summary .name");
const out = document.createElement("pre");
out.id = "xrm-seen";
out.textContent = JSON.stringify(seen);
document.body.appendChild(out);
"##;

    /// Runs Chromium headless on `url` with `extra` arguments, its stdout in `out`; killed after a minute.
    fn chromium(chromium: &Path, profile: &Path, extra: &[&str], url: &str, out: Stdio) {
        let mut child = Command::new(chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
            .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("--window-size=1280,900")
            .args(extra)
            .arg(url)
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(60) {
                child.kill().unwrap();
                panic!("chromium did not finish with {url} in 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The JSON the reader script wrote, read back from the dumped page.
    fn seen(dom: &str) -> serde_json::Value {
        let start = dom.find(r#"<pre id="xrm-seen">"#).unwrap_or_else(|| panic!("the script did not run:\n{dom}"));
        let text = &dom[start + r#"<pre id="xrm-seen">"#.len()..];
        let text = &text[..text.find("</pre>").unwrap()];
        let text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&nbsp;", "\u{a0}").replace("&amp;", "&");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    fn texts(seen: &serde_json::Value, key: &str) -> Vec<String> {
        let list = seen[key].as_array().unwrap_or_else(|| panic!("{key}: {seen}"));
        list.iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    }

    pub fn check(browser: &Path, report: &Path) {
        let dir = report.parent().unwrap();
        let html = std::fs::read_to_string(report).unwrap();
        let body_end = html.rfind("</body>").expect("the report has a body");
        let page = dir.join("report-read.html");
        std::fs::write(&page, format!("{}<script>{READER}</script>{}", &html[..body_end], &html[body_end..])).unwrap();
        let dom_file = dir.join("report-dom.html");
        let url = format!("file://{}", page.display());
        let out = Stdio::from(std::fs::File::create(&dom_file).unwrap());
        chromium(browser, &dir.join("chromium-profile"), &["--dump-dom"], &url, out);
        let seen = seen(&std::fs::read_to_string(&dom_file).unwrap());

        assert_eq!(texts(&seen, "summary"), vec!["2 passed, 1 failed"]);
        // The failing case is open: its tree shows who each request and step ran as, and the trace.
        assert_eq!(seen["failingOpen"], true);
        let callers = texts(&seen, "callers");
        assert!(callers.iter().any(|c| c == "as @alice") && callers.iter().any(|c| c == "as @system"), "{callers:?}");
        let step_users = texts(&seen, "stepUsers");
        assert!(step_users.iter().any(|u| u == "UserId @svc"), "{step_users:?}");
        let initiating = texts(&seen, "initiating");
        assert!(initiating.iter().all(|u| u == "InitiatingUserId @alice") && !initiating.is_empty());
        let stages = texts(&seen, "stages");
        assert!(stages.contains(&"PostOperation (40)".to_owned()), "{stages:?}");
        let vias = texts(&seen, "vias");
        assert!(vias.iter().any(|v| v.contains("CreateOrganizationService(null)")), "{vias:?}");
        let traces = texts(&seen, "traces");
        assert!(traces.iter().any(|t| t.contains("UserId=@svc InitiatingUserId=@alice")), "{traces:?}");
        let depths = texts(&seen, "depths");
        assert!(depths.contains(&"depth 2".to_owned()), "{depths:?}");
        assert!(!texts(&seen, "failures").is_empty());

        // Passing cases are closed until opened, and a click opens one.
        assert!(texts(&seen, "passingUsers").is_empty(), "passes start collapsed");
        assert!(!texts(&seen, "opened").is_empty(), "a click opens a passing case");
        // "show failing cases only" hides the passes.
        assert!(texts(&seen, "passNamesFiltered").is_empty(), "passes hidden");
        assert_eq!(texts(&seen, "failNamesFiltered").len(), 1);

        if let Some(png) = std::env::var_os("XRM_SANDBOX_SCREENSHOT") {
            let shot = format!("--screenshot={}", Path::new(&png).display());
            let url = format!("file://{}", report.display());
            chromium(browser, &dir.join("chromium-profile"), &[&shot], &url, Stdio::null());
        }
    }
}

/// The payments sample's registrations, as a file of their own (`run -r` takes registrations).
fn payments_registrations(dir: &Path) -> PathBuf {
    let suite: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("examples/payments/suite.json")).unwrap()).unwrap();
    let crate_dir = root().join("plugins/payments").canonicalize().unwrap();
    let registrations =
        serde_json::json!({ "plugins": { "payments": { "crate": crate_dir } }, "steps": suite["steps"] });
    let file = dir.join("registrations.json");
    std::fs::write(&file, registrations.to_string()).unwrap();
    file
}

#[test]
fn run_answers_http_requests_from_a_stubs_file_and_the_tree_shows_each_one() {
    let dir = scratch("http-stubs");
    let regs = payments_registrations(&dir);
    let org = root().join("examples/payments/org.json");
    let stubs = dir.join("stubs.json");
    let stub = r#"[{"method": "POST", "url": "https://pay.contoso.com/v1/*", "status": 201, "body": {"id": "ch_9"}}]"#;
    std::fs::write(&stubs, stub).unwrap();
    let request = r#"{"message": "Create", "target": {"@logicalname": "new_order", "new_name": "SO-9", "new_total": {"@money": "1.00"}}}"#;
    let args = ["run", "--org", org.to_str().unwrap(), "-r", regs.to_str().unwrap(), "--as", "@alice"];
    let out = run(&[&args[..], &["--http-stubs", stubs.to_str().unwrap(), request]].concat());
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("HTTP POST https://pay.contoso.com/v1/charges as @payments, "), "{text}");
    assert!(text.contains(": 201 from stub [0] in "), "{text}");
    assert!(text.contains("charged 100 cents for order SO-9: transaction ch_9"), "{text}");

    // Without stubs the gateway refuses the connection: the order fails, and the tree says why.
    let refused = run(&[&args[..], &[request]].concat());
    assert_eq!(refused.status.code(), Some(1), "{}", stdout(&refused));
    let text = stdout(&refused);
    assert!(text.contains("connection refused: no stub answers POST https://pay.contoso.com/v1/charges"), "{text}");

    // A stubs file that is not one is bad input, named.
    std::fs::write(&stubs, r#"[{"method": "POST"}]"#).unwrap();
    let bad = run(&[&args[..], &["--http-stubs", stubs.to_str().unwrap(), request]].concat());
    assert_eq!(bad.status.code(), Some(2), "{}", stdout(&bad));
    assert!(stderr(&bad).contains("stubs.json") && stderr(&bad).contains("url"), "{}", stderr(&bad));
}

#[test]
fn the_html_report_shows_each_http_request_and_the_stub_that_answered() {
    let dir = scratch("http-report");
    let report = dir.join("report.html");
    let suite = root().join("examples/payments/suite.json");
    let out = run(&["test", suite.to_str().unwrap(), "--report", report.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("<span class=\"what\">HTTP POST https://pay.contoso.com/v1/charges</span>"), "{html}");
    assert!(html.contains("201 from stub <b>http[0]</b>"), "{html}");
    assert!(html.contains("402 from stub <b>cases[1].http[0]</b>"), "{html}");
}

/// The case of `tests/conformance/http.json` named `name`, run, with its HTTP nodes' durations.
fn http_case(name: &str) -> (xrm_sandbox::suite::CaseResult, Vec<std::time::Duration>) {
    let suite = xrm_sandbox::suite::Suite::load(&root().join("tests/conformance/http.json")).unwrap();
    let case = suite.cases.iter().find(|c| c.name == name).unwrap();
    let result = xrm_sandbox::suite::run_case(&suite, case);
    let http = result.nodes.iter().filter(|n| matches!(n.kind, xrm_sandbox::suite::report::NodeKind::Http { .. }));
    let durations = http.map(|n| n.duration).collect();
    (result, durations)
}

#[test]
fn box_6_a_stub_delay_is_waited_out_and_cut_at_the_time_limit() {
    use std::time::Duration;
    let (inside, waited) = http_case("BOX-6: a stub's delay inside the time limit is waited out");
    assert!(inside.passed, "{:?}\n{}", inside.failures, inside.tree);
    assert!(waited.len() == 1 && waited[0] >= Duration::from_millis(200), "the 200 ms delay: {waited:?}");

    // A 5 s stub under a 0.5 s limit: the execution ends at the limit, not after the delay.
    let (past, _) = http_case("BOX-6: a stub's delay past the step's time limit fails the execution with 0x80044172");
    assert!(past.passed, "{:?}\n{}", past.failures, past.tree);
    assert!(past.duration < Duration::from_millis(2500), "cut at the limit: {:?}", past.duration);
}
