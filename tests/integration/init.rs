//! `xrm-sandbox init`: the project it creates passes its own suite as it is, outside the checkout and naming
//! nothing in it, and a folder that is not empty is refused with nothing written.

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn xrm_sandbox(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xrm-sandbox"))
        .args(args)
        .current_dir(dir)
        // The new crate builds for wasm32-wasip2 in a fixed folder, so reruns only rebuild the crate itself.
        .env("CARGO_TARGET_DIR", workspace().join("target/init-test"))
        .output()
        .expect("the binary runs")
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xrm-sandbox-init-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every entry under `dir`, relative, sorted.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path.clone());
            }
            found.push(path.strip_prefix(dir).unwrap().to_owned());
        }
    }
    found.sort();
    found
}

#[test]
fn a_new_project_passes_its_own_suite() {
    let parent = scratch("project");
    let dir = parent.join("welcome-call");
    let out = xrm_sandbox(&["init", "welcome-call"], &parent);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    for file in ["Cargo.toml", "rust-toolchain.toml", "src/lib.rs", "org.json", "registrations.json", "suite.json"] {
        assert!(dir.join(file).is_file(), "{file} is written");
    }
    for file in [".github/workflows/plugins.yml", ".gitignore", "README.md", "schemas/suite.schema.json"] {
        assert!(dir.join(file).is_file(), "{file} is written");
    }
    let cargo = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(cargo.contains("name = \"welcome-call\"") && cargo.contains("\n[workspace]\n"), "{cargo}");
    // The project travels: the SDK is inside it, and no file names the checkout xrm-sandbox was built from.
    assert!(cargo.contains(r#"xrm-sandbox-guest = { path = "vendor/xrm-sandbox-guest" }"#), "{cargo}");
    assert!(dir.join("vendor/xrm-sandbox-guest/wit/plugin.wit").is_file() && dir.join("Cargo.lock").is_file());
    let checkout = workspace().canonicalize().unwrap();
    for file in listing(&dir).into_iter().map(|f| dir.join(f)).filter(|f| f.is_file()) {
        let written = std::fs::read_to_string(&file).unwrap();
        for root in [checkout.to_str().unwrap(), env!("CARGO_MANIFEST_DIR")] {
            assert!(!written.contains(root), "{} names the checkout `{root}`", file.display());
        }
    }

    let suite: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("suite.json")).unwrap()).unwrap();
    let cases = suite["cases"].as_array().unwrap().len();
    // The command the generated CI workflow runs, from the project's folder: it builds the crate with
    // `cargo build --release --target wasm32-wasip2`, vendored SDK and all.
    let out = xrm_sandbox(&["test", "suite.json", "--junit", "results.xml", "--report", "report.html"], &dir);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains(&format!("{cases} passed, 0 failed")), "{stdout}");
    let workflow = std::fs::read_to_string(dir.join(".github/workflows/plugins.yml")).unwrap();
    assert!(workflow.contains("xrm-sandbox test suite.json --junit results.xml --report report.html"), "{workflow}");
    assert!(dir.join("results.xml").is_file() && dir.join("report.html").is_file());
    let _ = std::fs::remove_dir_all(&parent);
}

#[test]
fn a_folder_that_is_not_empty_is_refused_and_left_as_it_was() {
    let parent = scratch("occupied");
    let dir = parent.join("project");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let out = xrm_sandbox(&["init", "project"], &parent);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("not empty") && stderr.contains("project"), "{stderr}");
    assert_eq!(listing(&parent), [PathBuf::from("project"), PathBuf::from("project/notes.txt")], "nothing written");
    assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
}

#[test]
fn an_empty_folder_becomes_the_project() {
    let parent = scratch("empty");
    std::fs::create_dir_all(parent.join("project")).unwrap();
    let out = xrm_sandbox(&["init", "project", "--name", "contact_calls"], &parent);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let cargo = std::fs::read_to_string(parent.join("project/Cargo.toml")).unwrap();
    assert!(cargo.contains("name = \"contact_calls\""), "{cargo}");
    assert_eq!(listing(&parent).iter().filter(|p| p.parent() == Some(Path::new(""))).count(), 1, "no staging left");
}

#[test]
fn a_guest_sdk_that_is_not_there_is_refused_with_nothing_written() {
    let parent = scratch("no-sdk");
    let out = xrm_sandbox(&["init", "project", "--sdk", "nowhere/guest-sdk"], &parent);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--sdk") && stderr.contains("nowhere/guest-sdk"), "{stderr}");
    assert!(listing(&parent).is_empty(), "nothing written");
}

/// `--sdk` names a guest SDK folder instead of vendoring one; with the host crate as a dev-dependency from the
/// same sources, as `docs/testing-from-rust.md` says, the dependencies resolve into one lockfile.
#[test]
fn a_project_on_the_checkouts_sdk_takes_the_host_as_a_dev_dependency() {
    let parent = scratch("dev-dependency");
    let sdk = workspace().join("guest-sdk");
    let out = xrm_sandbox(&["init", "project", "--sdk", sdk.to_str().unwrap()], &parent);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let dir = parent.join("project");
    assert!(!dir.join("vendor").exists(), "no vendored copy beside a given SDK");
    let host = workspace().join("host").canonicalize().unwrap();
    let mut cargo = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    cargo.push_str(&format!("\n[dev-dependencies]\nxrm-sandbox = {{ path = {:?} }}\nserde_json = \"1\"\n", host));
    std::fs::write(dir.join("Cargo.toml"), cargo).unwrap();
    // Resolving is enough to show the lockfile takes both (a collision fails here); building the host would
    // take minutes.
    let out =
        Command::new(env!("CARGO")).args(["metadata", "--format-version", "1"]).current_dir(&dir).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&parent);
}

#[test]
fn the_project_uses_the_toolchain_xrm_sandbox_is_built_with() {
    let channel = |file: &Path| {
        let text = std::fs::read_to_string(file).unwrap();
        text.lines().find(|l| l.trim_start().starts_with("channel")).map(str::to_owned).unwrap()
    };
    let template = workspace().join("host/templates/init/rust-toolchain.toml.tmpl");
    assert_eq!(channel(&template), channel(&workspace().join("rust-toolchain.toml")));
}
