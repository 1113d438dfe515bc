//! Compiled components cached on disk, keyed by wasmtime's version, the engine's configuration and the
//! component's bytes, so that a second run does not compile again.

use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

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
        return match COMPILER.get() {
            Some(exe) => from_memory(engine, &in_child(exe, bytes)?),
            None => Component::new(engine, bytes).map_err(|e| format!("not a valid component: {e:#}")),
        };
    };
    let path = dir.join(format!("{}.cwasm", key(engine, bytes)));
    if let Some(component) = deserialize(engine, &path) {
        return Ok(component);
    }
    let compiled = match COMPILER.get() {
        Some(exe) => in_child(exe, bytes)?,
        None => engine.precompile_component(bytes).map_err(|e| format!("not a valid component: {e:#}"))?,
    };
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

/// The executable that compiles components in a child process (`exe` [`COMPILE_COMMAND`]); unset: in this one.
static COMPILER: OnceLock<PathBuf> = OnceLock::new();

/// The hidden subcommand of the `xrm-sandbox` binary that runs [`compile_stdin_to_stdout`].
pub const COMPILE_COMMAND: &str = "__compile-component";

/// Compiles components in child processes running `exe` [`COMPILE_COMMAND`] (the `xrm-sandbox` binary does
/// this at start). Compiling a component takes far more memory than running it, and an allocator keeps the
/// address space it once reserved: done in this process, a cold start left a run under `ulimit -v` too little
/// for the plug-ins' own memory (BOX-5). A child gives all of it back when it exits.
pub fn compile_in_child_processes(exe: PathBuf) {
    let _ = COMPILER.set(exe);
}

/// The child's side: a component's bytes on standard input, its compiled form on standard output, and on
/// failure the reason, one line, on standard error.
pub fn compile_stdin_to_stdout() -> Result<(), String> {
    let mut bytes = Vec::new();
    std::io::stdin().lock().read_to_end(&mut bytes).map_err(|e| format!("cannot read the component: {e}"))?;
    let engine = super::engine::shared()?;
    let compiled = engine.precompile_component(&bytes).map_err(|e| format!("{e:#}"))?;
    std::io::stdout().lock().write_all(&compiled).map_err(|e| format!("cannot write the compiled component: {e}"))
}

/// Compiles `bytes` in a child process. Its engine is the same as this process's (same binary, same
/// environment and limits), which wasmtime checks again when the result is loaded.
fn in_child(exe: &Path, bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut child = Command::new(exe)
        .arg(COMPILE_COMMAND)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the compiler process `{}`: {e}", exe.display()))?;
    let input = child.stdin.take();
    // Written from a thread of its own: the child's output may fill its pipe before it has read all its input.
    let output = std::thread::scope(|scope| {
        scope.spawn(move || input.map(|mut pipe| pipe.write_all(bytes)));
        child.wait_with_output()
    })
    .map_err(|e| format!("the compiler process failed: {e}"))?;
    if output.status.success() {
        return Ok(output.stdout);
    }
    let said = String::from_utf8_lossy(&output.stderr);
    let reason = said.trim().strip_prefix("error: ").unwrap_or(said.trim());
    Err(match output.status.code() {
        Some(_) => format!("not a valid component: {reason}"),
        None => format!(
            "compiling the component ended its compiler process ({}): {reason}; is the process's memory \
             limit (`ulimit -v`) too small for the compiler?",
            output.status
        ),
    })
}

#[allow(unsafe_code)]
fn from_memory(engine: &Engine, compiled: &[u8]) -> Result<Component, String> {
    // SAFETY: the bytes are what `precompile_component` wrote in the child process just now; wasmtime checks
    // their header against this engine's version and configuration.
    unsafe { Component::deserialize(engine, compiled) }
        .map_err(|e| format!("cannot load the compiled component: {e:#}"))
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
