//! Builds plug-in crates for the plug-in target, so a suite can name a plug-in by its crate.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

/// The target plug-ins are built for.
pub const TARGET: &str = "wasm32-wasip2";

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
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--release", "--target", TARGET, "--message-format=json-render-diagnostics", "--manifest-path"])
        .arg(&manifest)
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
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

/// The `.wasm` that cargo reported for the crate's own cdylib target.
fn component_of(messages: &str, manifest: &Path) -> Option<PathBuf> {
    messages.lines().filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok()).find_map(|m| {
        let is_ours = m.get("reason")?.as_str()? == "compiler-artifact"
            && m.get("manifest_path").and_then(|p| p.as_str()).is_some_and(|p| Path::new(p) == manifest);
        let files = m.get("filenames")?.as_array()?;
        is_ours.then(|| files.iter().filter_map(|f| f.as_str()).find(|f| f.ends_with(".wasm")).map(PathBuf::from))?
    })
}
