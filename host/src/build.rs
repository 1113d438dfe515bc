//! Builds plug-in crates for the plug-in target, so a suite can name a plug-in by its crate.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// The target plug-ins are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// What a build shows while it runs, on the process's stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Progress {
    /// Nothing (the library's default: `cargo test` output stays the tests').
    Silent = 0,
    /// A line per crate as it starts, then cargo's own progress: for a person at a terminal.
    Terminal = 1,
    /// One line per crate when it is built, with the time it took: for a CI log or a pipe.
    Log = 2,
}

static PROGRESS: AtomicU8 = AtomicU8::new(Progress::Silent as u8);

/// Sets what the builds of this process show (the `xrm-sandbox` command sets it from its stderr).
pub fn show_progress(progress: Progress) {
    PROGRESS.store(progress as u8, Ordering::Relaxed);
}

fn progress() -> Progress {
    match PROGRESS.load(Ordering::Relaxed) {
        1 => Progress::Terminal,
        2 => Progress::Log,
        _ => Progress::Silent,
    }
}

type Built = Arc<Mutex<Option<Result<PathBuf, String>>>>;

/// Builds the crate at `dir` in release mode for the plug-in target and returns its component, once per
/// process for each crate (cargo decides whether anything needs rebuilding).
pub fn plugin_crate(dir: &Path) -> Result<PathBuf, String> {
    static BUILT: OnceLock<Mutex<HashMap<PathBuf, Built>>> = OnceLock::new();
    let dir = dir.canonicalize().map_err(|e| format!("cannot find the crate `{}`: {e}", dir.display()))?;
    let slot = {
        let mut all = BUILT.get_or_init(Default::default).lock().map_err(|_| "a plug-in build panicked".to_owned())?;
        all.entry(dir.clone()).or_default().clone()
    };
    // One build per crate at a time; later callers wait and reuse its result.
    let mut slot = slot.lock().map_err(|_| "a plug-in build panicked".to_owned())?;
    if let Some(result) = slot.as_ref() {
        return result.clone();
    }
    let result = cargo_build(&dir);
    *slot = Some(result.clone());
    result
}

fn cargo_build(dir: &Path) -> Result<PathBuf, String> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(format!("`{}` has no Cargo.toml", dir.display()));
    }
    let progress = progress();
    let label = format!("plug-in `{}` ({})", package_name(&manifest).unwrap_or_else(|| "?".into()), shown(dir));
    if progress == Progress::Terminal {
        eprintln!("Building {label}…");
    }
    let started = Instant::now();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--target", TARGET, "--message-format=json-render-diagnostics", "--manifest-path"])
        .arg(&manifest);
    // On a terminal cargo draws its own progress (and its diagnostics) on the terminal itself.
    if progress == Progress::Terminal {
        command.stderr(Stdio::inherit());
    }
    let output = command.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    if progress == Progress::Log {
        let outcome = if output.status.success() { "Built" } else { "Failed to build" };
        eprintln!("{outcome} {label} in {:.1} s", started.elapsed().as_secs_f64());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        if progress == Progress::Terminal {
            return Err(format!("cargo build of {label} failed (its messages are above)"));
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        let hint = if stderr.contains("target may not be installed") {
            format!("\nhint: rustup target add {TARGET}")
        } else {
            String::new()
        };
        return Err(format!("cargo build failed:\n{}{hint}", tail.into_iter().rev().collect::<Vec<_>>().join("\n")));
    }
    component_of(&stdout, &manifest)
        .ok_or_else(|| format!("cargo built `{}` but produced no .wasm component: is it a cdylib?", dir.display()))
}

/// The `[package]` name of a manifest, read without a TOML parser: its first `name = "…"` line after
/// `[package]`.
fn package_name(manifest: &Path) -> Option<String> {
    let text = std::fs::read_to_string(manifest).ok()?;
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package && let Some(value) = line.strip_prefix("name").map(str::trim_start) {
            let value = value.strip_prefix('=')?.trim();
            return Some(value.trim_matches(|c| c == '"' || c == '\'').to_owned());
        }
    }
    None
}

/// A crate's folder as the user knows it: relative to the current folder when under it.
fn shown(dir: &Path) -> String {
    let here = std::env::current_dir().ok().and_then(|d| d.canonicalize().ok());
    here.and_then(|h| dir.strip_prefix(h).ok().map(|p| p.display().to_string()))
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| dir.display().to_string())
}

/// The `.wasm` that cargo reported for the crate's own cdylib target.
fn component_of(messages: &str, manifest: &Path) -> Option<PathBuf> {
    messages.lines().filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok()).find_map(|m| {
        let is_ours = m.get("reason")?.as_str()? == "compiler-artifact"
            && m.get("manifest_path").and_then(|p| p.as_str()).is_some_and(|p| Path::new(p) == manifest);
        let files = m.get("filenames")?.as_array()?;
        is_ours.then(|| files.iter().filter_map(|f| f.as_str()).find(|f| f.ends_with(".wasm")).map(PathBuf::from))?
    })
}
