//! `xrm-sandbox serve` driven by real client libraries: the programs in `tests/clients/` run against the real
//! binary, serving `tests/clients/org.json` with `tests/clients/registrations.json`.
//!
//! Node comes from Debian and the clients' packages from the registries, pinned by their lockfiles: `.ci/run`
//! installs them and sets `XRM_SANDBOX_REQUIRE_TOOLS`; elsewhere a missing `node` skips the check with a note,
//! and missing packages are installed with `npm ci` first.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::hostile::root;
use super::runner_tool;

/// A running `xrm-sandbox serve`, stopped when dropped.
struct Server {
    child: Child,
    /// The server's root, such as `http://127.0.0.1:41234/`.
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server on a free port and reads its address from what it prints at start.
fn serve(org: &Path, registrations: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xrm-sandbox"))
        .arg("serve")
        .arg("--org")
        .arg(org)
        .arg("-r")
        .arg(registrations)
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("xrm-sandbox serve starts");
    let stdout = child.stdout.take().expect("piped");
    let (sender, receiver) = std::sync::mpsc::channel();
    // Read on a thread of its own, and kept draining after start, so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = root_url(&line) {
                let _ = sender.send(url);
            }
        }
    });
    // The first start builds the probe plug-in when no earlier test did.
    let url = receiver.recv_timeout(Duration::from_secs(900)).expect("the server prints its address");
    Server { child, url }
}

/// `http://127.0.0.1:PORT/` from a line naming the server's address (the Web API's base URL or the root).
fn root_url(line: &str) -> Option<String> {
    let start = line.find("http://")?;
    let rest = &line[start + "http://".len()..];
    let host_end = rest.find('/').unwrap_or(rest.len());
    let authority = rest[..host_end].trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    authority.contains(':').then(|| format!("http://{authority}/"))
}

/// `npm ci` in `dir` when its packages are missing (CI has installed them already).
fn install_packages(dir: &Path) {
    if dir.join("node_modules").is_dir() {
        return;
    }
    let npm = runner_tool("npm").expect("npm comes with node");
    let status = Command::new(npm).args(["ci", "--no-audit", "--no-fund"]).current_dir(dir).status().expect("npm runs");
    assert!(status.success(), "npm ci in {} failed", dir.display());
}

#[test]
fn node_dynamics_web_api() {
    let Some(node) = runner_tool("node") else { return };
    let clients = root().join("tests/clients");
    let dir = clients.join("node");
    install_packages(&dir);
    let server = serve(&clients.join("org.json"), &clients.join("registrations.json"));
    let started = Instant::now();
    let out = Command::new(node)
        .args(["--test", "--test-reporter=tap", "web-api.test.mjs"])
        .current_dir(&dir)
        .env("XRM_SERVE_URL", &server.url)
        .output()
        .expect("node runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "dynamics-web-api against {} ({:?}):\n{text}", server.url, started.elapsed());
    let passed = text.lines().find_map(|l| l.strip_prefix("# pass ")).and_then(|n| n.trim().parse::<u32>().ok());
    assert!(passed.is_some_and(|n| n >= 10) && text.contains("# fail 0"), "{text}");
}

#[test]
fn the_server_address_is_read_from_its_start_banner() {
    assert_eq!(root_url("Serving http://127.0.0.1:41234/api/data/v9.2/").as_deref(), Some("http://127.0.0.1:41234/"));
    assert_eq!(root_url("  http://127.0.0.1:8080").as_deref(), Some("http://127.0.0.1:8080/"));
    assert_eq!(root_url("no address here"), None);
}
