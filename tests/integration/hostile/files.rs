//! Input files built to break the host: devices and FIFOs where a file is expected, folders that hold them or
//! link back into themselves, files too large, and organizations whose ids collide or whose records are owned
//! by no one. Each is refused at once with a clear error naming the place (exit 2), or, in a folder searched
//! for suites, skipped and named; the regular file beside each attack still works (BOX-5).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use super::{root, scratch};

/// Runs the binary, and checks it returned at once.
fn xrm_sandbox(args: &[&str]) -> (Output, String) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_xrm-sandbox")).args(args).output().expect("runs");
    let took = started.elapsed();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(took < Duration::from_secs(30), "{args:?} took {took:?}: {text}");
    (out, text)
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(status.success());
}

fn org() -> Json {
    serde_json::from_str(&std::fs::read_to_string(root().join("tests/conformance/org.json")).unwrap()).unwrap()
}

/// A folder with `org` as org.json and a suite with one plain Create case, no plug-ins.
fn suite_dir(name: &str, org: &Json) -> PathBuf {
    let dir = scratch(name);
    std::fs::write(dir.join("org.json"), org.to_string()).unwrap();
    let suite = json!({ "name": name, "org": "org.json", "cases": [ { "name": "creates", "actions": [
        { "as": "@alice", "request": { "message": "Create", "target": { "@logicalname": "account", "name": "A" } } } ] } ] });
    std::fs::write(dir.join("suite.json"), suite.to_string()).unwrap();
    dir
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn box_5_an_organization_that_is_a_device_or_a_fifo_is_refused_at_once() {
    let dir = suite_dir("org-device", &org());
    let (out, text) = xrm_sandbox(&["test", &path(&dir.join("suite.json"))]);
    assert_eq!(out.status.code(), Some(0), "the regular file is read: {text}");
    for (device, what) in [("/dev/zero", "a device"), ("/dev/urandom", "a device"), ("fifo.json", "a FIFO")] {
        let device = match device.starts_with('/') {
            true => PathBuf::from(device),
            false => {
                let fifo = dir.join(device);
                mkfifo(&fifo);
                fifo
            }
        };
        let request = r#"{"message": "WhoAmI"}"#;
        let (out, text) = xrm_sandbox(&["run", "--org", &path(&device), "--as", "@alice", request]);
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(text.contains(&path(&device)) && text.contains(what) && text.contains("only regular files"), "{text}");
    }
}

#[test]
fn box_5_a_suite_or_a_plugin_that_is_a_fifo_is_refused_at_once() {
    let dir = suite_dir("suite-fifo", &org());
    let fifo = dir.join("fifo-suite.json");
    mkfifo(&fifo);
    let (out, text) = xrm_sandbox(&["test", &path(&fifo)]);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains(&path(&fifo)) && text.contains("a FIFO"), "{text}");

    mkfifo(&dir.join("plugin.wasm"));
    let suite = json!({ "name": "fifo plug-in", "org": "org.json", "plugins": { "bad": "plugin.wasm" },
        "steps": [ { "plugin": "bad", "message": "Create", "primaryentity": "account", "stage": 20 } ],
        "cases": [ { "name": "never runs", "actions": [] } ] });
    std::fs::write(dir.join("plugin-suite.json"), suite.to_string()).unwrap();
    let (out, text) = xrm_sandbox(&["test", &path(&dir.join("plugin-suite.json"))]);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("plug-in `bad`") && text.contains("plugin.wasm") && text.contains("a FIFO"), "{text}");
}

#[test]
fn box_5_a_file_past_the_size_cap_is_refused_without_reading_it() {
    let dir = suite_dir("too-large", &org());
    let big = dir.join("big.json");
    // Sparse: 65 MB long, nothing written.
    std::fs::File::create(&big).unwrap().set_len(65 << 20).unwrap();
    let (out, text) = xrm_sandbox(&["test", &path(&big)]);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("larger than 64 MB"), "{text}");
}

/// A folder holding a suite, a FIFO named like one, a link to itself and a link back from a subfolder: the search
/// finds the suite, names what it skipped, and ends.
#[test]
fn box_5_folder_discovery_skips_fifos_and_link_loops_and_names_them() {
    let dir = suite_dir("discovery", &org());
    mkfifo(&dir.join("blocks.json"));
    std::os::unix::fs::symlink(&dir, dir.join("self")).unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::os::unix::fs::symlink("..", dir.join("sub/up")).unwrap();
    let (out, text) = xrm_sandbox(&["test", &path(&dir)]);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("1 passed"), "{text}");
    assert!(text.contains(&format!("skipped {}: a FIFO", path(&dir.join("blocks.json")))), "{text}");
    assert!(text.contains(&format!("skipped {}: a folder already searched", path(&dir.join("self")))), "{text}");
    assert!(text.contains(&format!("skipped {}: a folder already searched", path(&dir.join("sub/up")))), "{text}");
}

/// Runs the suite of `org` and expects exit 2 with each of `expected` on stderr.
fn org_refused(name: &str, org: &Json, expected: &[&str]) {
    let dir = suite_dir(name, org);
    let (out, text) = xrm_sandbox(&["test", &path(&dir.join("suite.json"))]);
    assert_eq!(out.status.code(), Some(2), "{name}: {text}");
    assert!(text.contains(&path(&dir.join("org.json"))), "{name}: names the file: {text}");
    for e in expected {
        assert!(text.contains(e), "{name}: expected {e:?} in {text}");
    }
}

#[test]
fn box_5_duplicate_ids_and_systems_id_are_refused_naming_both_places() {
    let id = "5a1f3c0e-0000-4000-8000-000000000001";
    let mut twice = org();
    twice["users"][0]["systemuserid"] = json!(id);
    twice["users"][2]["systemuserid"] = json!(id);
    org_refused("user-twice", &twice, &["users[2].systemuserid", "already used at `users[0].systemuserid`"]);

    let mut bu = org();
    bu["businessunits"][1]["businessunitid"] = json!(id);
    bu["businessunits"][2]["businessunitid"] = json!(id);
    org_refused("bu-twice", &bu, &["businessunits[2].businessunitid", "`businessunits[1].businessunitid`"]);

    let system = xrm_sandbox::org::generated_id("systemuser", "system");
    let mut taken = org();
    taken["users"][1]["systemuserid"] = json!(system.to_string());
    org_refused("system-id", &taken, &["users[1].systemuserid", "is the id of SYSTEM"]);

    let mut records = org();
    let account = |name: &str| json!({ "@logicalname": "account", "@id": id, "name": name });
    records["records"] = json!([account("one"), account("two")]);
    org_refused("record-twice", &records, &["records[1].@id", "already used at `records[0].@id`"]);

    let mut shadow = org();
    let alice = xrm_sandbox::org::generated_id("systemuser", "alice");
    shadow["records"] = json!([{ "@logicalname": "systemuser", "@id": alice.to_string(), "fullname": "Eve" }]);
    org_refused("user-record", &shadow, &["records[0].@id", "`users[0].@alias`"]);
}

#[test]
fn box_5_a_record_owned_by_no_user_or_team_is_refused_naming_its_owner() {
    let mut owned = org();
    let nobody = "5a1f3c0e-0000-4000-8000-00000000dead";
    owned["records"] =
        json!([{ "@logicalname": "account", "name": "A", "ownerid": { "@ref": "systemuser", "id": nobody } }]);
    org_refused("no-owner", &owned, &["records[0].ownerid", nobody, "not in `users` or `teams`"]);
    owned["records"][0]["ownerid"] = json!({ "@ref": "account", "id": nobody });
    org_refused("account-owner", &owned, &["records[0]", "ownerid"]);
    // The obeyed pair: a user and SYSTEM own records.
    owned["records"] = json!([
        { "@logicalname": "account", "name": "A", "ownerid": { "@ref": "systemuser", "id": "@alice" } },
        { "@logicalname": "account", "name": "B", "ownerid": { "@ref": "systemuser", "id": "@system" } } ]);
    let dir = suite_dir("owned", &owned);
    let (out, text) = xrm_sandbox(&["test", &path(&dir.join("suite.json"))]);
    assert_eq!(out.status.code(), Some(0), "{text}");
}
