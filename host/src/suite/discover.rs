//! Finding suite files: files named as they are, folders searched for `*.json` files that are suites. The
//! search reads regular files only, follows a symbolic link to a folder once, and names what it left out
//! (BOX-5): a FIFO named `x.json` would block the search, a link back up the tree make it endless.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::input::{self, FileError};

/// What a search found.
#[derive(Debug, Default)]
pub struct Found {
    /// The suite files, in the order given, each folder's in name order.
    pub files: Vec<PathBuf>,
    /// What a folder held that the search left out, and why.
    pub skipped: Vec<Skipped>,
}

/// An entry of a folder the search left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    pub why: String,
}

/// The suite files under the paths given (see [`find`]).
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, FileError> {
    Ok(find(paths)?.files)
}

/// Finds the suite files under the paths given: files as they are (read, and refused if not regular, when
/// loaded), folders searched for `*.json` files that are suites (they have `cases`).
pub fn find(paths: &[PathBuf]) -> Result<Found, FileError> {
    let mut found = Found::default();
    let mut searched = HashSet::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk(path, &mut searched, &mut found)?,
            Ok(_) => found.files.push(path.clone()),
            Err(_) => return Err(FileError::new(path, "", "no such file or folder")),
        }
    }
    Ok(found)
}

fn walk(dir: &Path, searched: &mut HashSet<PathBuf>, found: &mut Found) -> Result<(), FileError> {
    let unreadable = |e: std::io::Error| FileError::new(dir, "", format!("cannot read the folder: {e}"));
    // A folder reached a second time (through a link) is not searched again: that is what ends a loop.
    if !searched.insert(std::fs::canonicalize(dir).map_err(unreadable)?) {
        found.skipped.push(Skipped { path: dir.to_owned(), why: "a folder already searched (a link back)".into() });
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(unreadable)?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        // Links are followed: to a folder (searched once), or to a file.
        let Ok(meta) = std::fs::metadata(&path) else {
            found.skipped.push(Skipped { path, why: "a link to nothing, or unreadable".into() });
            continue;
        };
        if meta.is_dir() {
            walk(&path, searched, found)?;
        } else if path.extension().is_none_or(|e| e != "json") {
            continue;
        } else if !meta.is_file() {
            let why = format!("{}, not a file", input::what_is(&meta));
            found.skipped.push(Skipped { path, why });
        } else {
            match is_suite(&path) {
                Ok(true) => found.files.push(path),
                Ok(false) => {}
                Err(why) => found.skipped.push(Skipped { path, why }),
            }
        }
    }
    Ok(())
}

/// Whether a JSON file is a suite; `Err` says why it could not be read.
fn is_suite(path: &Path) -> Result<bool, String> {
    let text = input::read_text(path).map_err(|e| e.message)?;
    Ok(serde_json::from_str::<Json>(&text).ok().is_some_and(|json| json.get("cases").is_some()))
}
