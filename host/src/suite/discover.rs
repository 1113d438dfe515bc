//! Finding suite files: files named as they are, folders searched for `*.json` files that are suites. The
//! search reads regular files only, follows a symbolic link to a folder once, and names what it left out
//! (BOX-5): a FIFO named `x.json` would block the search, a link back up the tree make it endless.
//!
//! A folder's JSON file is never passed over in silence when it may be a broken suite: one that is not JSON is
//! an error, and one that looks like a suite (it has `cases`, `org`, or a key such as `case` or `tests`) is
//! loaded as one, so its mistakes are reported. The organization and registrations files the suites name are
//! recognised as theirs; any other JSON file is left out, and named with `--verbose`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::input::{self, FileError, FileErrors};

/// What a search found.
#[derive(Debug, Default)]
pub struct Found {
    /// The suite files, in the order given, each folder's in name order.
    pub files: Vec<PathBuf>,
    /// What a folder held that the search left out, and why.
    pub skipped: Vec<Skipped>,
    /// Files of a folder that the search could not take as a suite or leave out: JSON that does not parse.
    pub errors: FileErrors,
    /// Files of a folder that the suites found name as their organization or registrations.
    pub used: Vec<PathBuf>,
}

/// An entry of a folder the search left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    pub why: String,
    /// A JSON file that is simply not a suite (named with `--verbose` only), rather than an entry the search
    /// could not read or follow (always named).
    pub not_a_suite: bool,
}

/// The suite files under the paths given (see [`find`]); a folder's JSON file that does not parse is an error.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, FileErrors> {
    let found = find(paths)?;
    found.errors.or(found.files)
}

/// Finds the suite files under the paths given: files as they are (read, and refused if not regular, when
/// loaded), folders searched for `*.json` files that are suites (they have `cases`).
pub fn find(paths: &[PathBuf]) -> Result<Found, FileError> {
    let mut found = Found::default();
    let mut searched = HashSet::new();
    let mut others = Vec::new();
    for path in paths {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk(path, &mut searched, &mut found, &mut others)?,
            Ok(_) => found.files.push(path.clone()),
            Err(_) => return Err(FileError::new(path, "", "no such file or folder")),
        }
    }
    // The files the suites name (as far as they can be read: the loader reports the rest).
    let named: HashSet<PathBuf> = found.files.iter().flat_map(|f| referenced(f)).collect();
    for path in others {
        match std::fs::canonicalize(&path).is_ok_and(|p| named.contains(&p)) {
            true => found.used.push(path),
            false => {
                let why = "not a suite (no `cases`), and no suite names it as its organization or registrations";
                found.skipped.push(Skipped { path, why: why.into(), not_a_suite: true });
            }
        }
    }
    Ok(found)
}

fn walk(
    dir: &Path,
    searched: &mut HashSet<PathBuf>,
    found: &mut Found,
    others: &mut Vec<PathBuf>,
) -> Result<(), FileError> {
    let unreadable = |e: std::io::Error| FileError::new(dir, "", format!("cannot read the folder: {e}"));
    // A folder reached a second time (through a link) is not searched again: that is what ends a loop.
    if !searched.insert(std::fs::canonicalize(dir).map_err(unreadable)?) {
        let why = "a folder already searched (a link back)".into();
        found.skipped.push(Skipped { path: dir.to_owned(), why, not_a_suite: false });
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(unreadable)?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        // Links are followed: to a folder (searched once), or to a file.
        let Ok(meta) = std::fs::metadata(&path) else {
            found.skipped.push(Skipped { path, why: "a link to nothing, or unreadable".into(), not_a_suite: false });
            continue;
        };
        if meta.is_dir() {
            walk(&path, searched, found, others)?;
        } else if path.extension().is_none_or(|e| e != "json") {
            continue;
        } else if !meta.is_file() {
            let why = format!("{}, not a file", input::what_is(&meta));
            found.skipped.push(Skipped { path, why, not_a_suite: false });
        } else {
            match read(&path) {
                Ok(json) if looks_like_a_suite(&json) => found.files.push(path),
                Ok(_) => others.push(path),
                Err(Unreadable::Io(why)) => found.skipped.push(Skipped { path, why, not_a_suite: false }),
                Err(Unreadable::Json(e)) => found.errors.push(e),
            }
        }
    }
    Ok(())
}

enum Unreadable {
    /// The file cannot be read (permissions, size): left out, and named.
    Io(String),
    /// The file is not JSON: an error, since it may be a suite with a typo.
    Json(FileError),
}

fn read(path: &Path) -> Result<Json, Unreadable> {
    let text = input::read_text(path).map_err(|e| Unreadable::Io(e.message))?;
    input::parse_json::<Json>(path, &text).map_err(|e| {
        let hint = "; a folder's .json files must be JSON (a suite, or the organization or registrations of one)";
        Unreadable::Json(FileError { message: format!("{}{hint}", e.message), ..e })
    })
}

/// Keys that say a file was meant as a suite, though it may not be a valid one: loaded, its errors reported.
const SUITE_KEYS: &[&str] = &["cases", "case", "testcases", "tests", "test"];

/// Whether a JSON value is meant as a suite: it has `cases` (or a near miss such as `case`), or it names an
/// organization (`org`), which only suites do.
pub fn looks_like_a_suite(json: &Json) -> bool {
    let Some(object) = json.as_object() else { return false };
    let schema = object.get("$schema").and_then(Json::as_str).is_some_and(|s| s.ends_with("suite.schema.json"));
    schema || object.keys().any(|k| k == "org" || SUITE_KEYS.contains(&k.to_lowercase().as_str()))
}

/// The files a suite names by path (`org`, `plugins`, `steps`), resolved from its folder; none when it cannot
/// be read.
fn referenced(suite: &Path) -> Vec<PathBuf> {
    let Ok(Json::Object(object)) =
        input::read_text(suite).map_err(|_| ()).and_then(|text| serde_json::from_str::<Json>(&text).map_err(|_| ()))
    else {
        return Vec::new();
    };
    let folder = suite.parent().unwrap_or(Path::new("."));
    ["org", "plugins", "steps"]
        .iter()
        .filter_map(|key| object.get(*key)?.as_str())
        .filter_map(|p| std::fs::canonicalize(folder.join(p)).ok())
        .collect()
}
