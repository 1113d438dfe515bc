//! A suite of 1,000 generated cases end to end, as `xrm-sandbox test` runs it: each case a fresh copy of the
//! organization and 3 Creates through 3 synchronous probe steps (one service call each). Plug-ins come from
//! the warm compile cache. Prints the wall time of loading and of each run, and the process's peak memory.
//!
//!   cargo bench -p xrm-sandbox --bench suite_1000
//!
//! It also writes the generated suite to `target/suite-1000/suite.json`, so the command-line tool can be
//! measured on it too (`/usr/bin/time -v target/release/xrm-sandbox test target/suite-1000/suite.json -q`).

// Bench code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Instant;

use serde_json::{Value as Json, json};
use xrm_sandbox::suite::{RunOptions, Suite};
use xrm_sandbox::testing;

const CASES: usize = 1_000;
const RUNS: usize = 5;

/// The 1,000 cases: three users each create an account; the steps read, create and update.
fn suite(root: &Path) -> Json {
    let mut suite: Json = serde_json::from_str(&std::fs::read_to_string(root.join("benches/create3.json")).unwrap())
        .expect("benches/create3.json is JSON");
    let users = ["@alice", "@bob", "@dave"];
    let cases: Vec<Json> = (0..CASES)
        .map(|i| {
            let actions: Vec<Json> = users
                .iter()
                .map(|u| {
                    json!({ "as": u, "request": { "message": "Create",
                                   "target": { "@logicalname": "account", "name": format!("account {i} of {u}") } } })
                })
                .collect();
            json!({ "name": format!("case {i}"), "actions": actions })
        })
        .collect();
    suite["cases"] = Json::Array(cases);
    // Paths in create3.json are relative to `benches/`.
    suite["org"] = json!(root.join("tests/conformance/org.json"));
    suite["plugins"] = json!({ "probe": { "crate": root.join("plugins/probe") } });
    suite
}

/// Peak resident memory of this process, from /proc (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let json = suite(&root);
    let out = root.join("target/suite-1000");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("suite.json"), serde_json::to_string_pretty(&json).unwrap()).unwrap();

    // The first load builds (or finds) the plug-in and fills the compile cache; later loads are warm.
    Suite::from_json(&root.join("benches/suite-1000.json"), json.clone()).unwrap();
    let options = RunOptions::default();
    println!("suite_1000: {CASES} cases x 3 Creates x 3 steps, {} jobs", options.jobs);
    let mut walls = Vec::new();
    for run in 1..=RUNS {
        let started = Instant::now();
        let suite = Suite::from_json(&root.join("benches/suite-1000.json"), json.clone()).unwrap();
        let loaded = started.elapsed();
        let result = testing::run(vec![suite], &options);
        let wall = started.elapsed();
        result.assert_passed();
        assert_eq!(result.stats.passed, CASES);
        walls.push(wall.as_secs_f64());
        println!(
            "  run {run}: load {:.1} ms, total {:.0} ms, peak RSS {:.0} MiB",
            loaded.as_secs_f64() * 1e3,
            wall.as_secs_f64() * 1e3,
            peak_rss_mib().unwrap_or(f64::NAN)
        );
    }
    walls.sort_by(f64::total_cmp);
    println!("suite_1000: median {:.0} ms, best {:.0} ms (load + run)", walls[RUNS / 2] * 1e3, walls[0] * 1e3);
}
