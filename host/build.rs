//! Embeds the sources `xrm-sandbox init` writes into a new project: the guest SDK and the model crate (every
//! file under their `Cargo.toml`, `src/` and `wit/`), the workspace manifest their `workspace = true` keys
//! inherit from, and the lockfile the SDK is tested with. The list is generated, so a file added to the SDK is
//! carried without anyone listing it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The crates a new project carries, as (folder in the workspace, folder under `vendor/` in the project).
const CRATES: &[(&str, &str)] = &[("guest-sdk", "xrm-sandbox-guest"), ("model", "xrm-model")];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir.join("..");
    let mut entries = Vec::new();
    for (source, vendored) in CRATES {
        let dir = root.join(source);
        println!("cargo:rerun-if-changed={}", dir.join("Cargo.toml").display());
        entries.push((format!("{vendored}/Cargo.toml"), dir.join("Cargo.toml")));
        for folder in ["src", "wit"] {
            let path = dir.join(folder);
            if path.is_dir() {
                println!("cargo:rerun-if-changed={}", path.display());
                for file in files(&path) {
                    let relative = file.strip_prefix(&dir).unwrap_or(&file).to_string_lossy().replace('\\', "/");
                    entries.push((format!("{vendored}/{relative}"), file));
                }
            }
        }
    }
    entries.sort();
    let mut out = String::from("/// The vendored crates' files: (path under `vendor/`, text).\n");
    out.push_str("pub const VENDORED: &[(&str, &str)] = &[\n");
    for (path, file) in &entries {
        let _ = writeln!(out, "    ({path:?}, include_str!({:?})),", file.display().to_string());
    }
    out.push_str("];\n");
    for (name, file) in [("WORKSPACE_MANIFEST", "Cargo.toml"), ("WORKSPACE_LOCK", "Cargo.lock")] {
        let path = root.join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        let _ = writeln!(out, "pub const {name}: &str = include_str!({:?});", path.display().to_string());
    }
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    if let Err(e) = std::fs::write(out_dir.join("vendored.rs"), out) {
        println!("cargo:warning=cannot write the vendored sources' list: {e}");
        std::process::exit(1);
    }
}

/// Every file under `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}
