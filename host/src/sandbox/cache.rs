//! Compiled components cached on disk, keyed by wasmtime's version, the engine's configuration and the
//! component's bytes, so that a second run does not compile again.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The component-model layer in a WebAssembly header; core modules have layer 0.
const COMPONENT_LAYER: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];

/// Compiles `bytes`, or loads the compiled form from the cache in `dir` (none: no cache). Errors are one line
/// for the user.
pub fn compile(engine: &Engine, bytes: &[u8], dir: Option<&Path>) -> Result<Component, String> {
    check_header(bytes)?;
    let Some(dir) = dir else {
        return Component::new(engine, bytes).map_err(|e| format!("not a valid component: {e:#}"));
    };
    let path = dir.join(format!("{}.cwasm", key(engine, bytes)));
    if let Some(component) = deserialize(engine, &path) {
        return Ok(component);
    }
    let compiled = engine.precompile_component(bytes).map_err(|e| format!("not a valid component: {e:#}"))?;
    // Written aside and renamed, so a concurrent reader never sees half a file.
    let tmp = dir.join(format!("{}.{}.tmp", key(engine, bytes), std::process::id()));
    let stored = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&tmp, &compiled))
        .and_then(|()| std::fs::rename(&tmp, &path));
    match stored.ok().and_then(|()| deserialize(engine, &path)) {
        Some(component) => Ok(component),
        None => {
            let _ = std::fs::remove_file(&tmp);
            Component::new(engine, bytes).map_err(|e| format!("not a valid component: {e:#}"))
        }
    }
}

fn check_header(bytes: &[u8]) -> Result<(), String> {
    match bytes.get(..8) {
        Some(h) if h.starts_with(b"\0asm") && h[4..] == COMPONENT_LAYER => Ok(()),
        Some(h) if h.starts_with(b"\0asm") => {
            Err("a core WebAssembly module, not a component: build the plug-in for the wasm32-wasip2 target".into())
        }
        _ => Err("not a WebAssembly file (no `\\0asm` header): is the file truncated or of another kind?".into()),
    }
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> Option<Component> {
    if !path.exists() {
        return None;
    }
    // SAFETY: the cache holds only files this function's caller wrote with `precompile_component`, renamed
    // into place whole; wasmtime checks the header for its version and the engine's configuration and
    // refuses a file made by anything else.
    unsafe { Component::deserialize_file(engine, path) }.ok()
}

fn key(engine: &Engine, bytes: &[u8]) -> String {
    let mut config = std::hash::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut config);
    let mut hash = Sha256::new();
    hash.update(env!("CARGO_PKG_VERSION"));
    hash.update(config.finish().to_le_bytes());
    hash.update(bytes);
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `XRM_SANDBOX_CACHE_DIR`, else the user's cache directory; `None` disables the cache.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XRM_SANDBOX_CACHE_DIR") {
        return (!dir.is_empty()).then(|| PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("xrm-sandbox").join(concat!("wasmtime-", "48")))
}
