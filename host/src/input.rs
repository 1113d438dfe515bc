//! Errors in input files, each naming the file, the JSON path and what was expected; and reading JSON files
//! with the path of any structural error.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use xrm_model::json::JsonError;

/// One error in one input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub file: PathBuf,
    /// The JSON path (`cases[2].actions[0].as`); empty for an error about the whole file.
    pub path: String,
    pub message: String,
}

impl FileError {
    pub fn new(file: &Path, path: impl Into<String>, message: impl Into<String>) -> Self {
        FileError { file: file.to_owned(), path: path.into(), message: message.into() }
    }

    /// The same error for a part of the file found at `at` (an inline organization is at `org`).
    pub fn under(mut self, at: &str) -> Self {
        self.path = join(at, &self.path);
        self
    }

    /// A model reader's error, whose path already starts at the file's root.
    pub fn json(file: &Path, e: JsonError) -> Self {
        FileError::new(file, e.path, e.message)
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}: at `{}`: {}", self.file.display(), self.path, self.message)
        }
    }
}

impl std::error::Error for FileError {}

/// Reads and parses a JSON file into `T`, reporting the JSON path of a mismatch.
pub fn read_json<T: DeserializeOwned>(file: &Path) -> Result<T, FileError> {
    let text =
        std::fs::read_to_string(file).map_err(|e| FileError::new(file, "", format!("cannot read the file: {e}")))?;
    parse_json(file, &text)
}

/// Parses JSON text that came from `file` into `T`.
pub fn parse_json<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, FileError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if inner.is_syntax() || inner.is_eof() {
            format!("invalid JSON: {inner}")
        } else {
            strip_position(&inner.to_string())
        };
        FileError::new(file, if path == "." { String::new() } else { path }, message)
    })
}

/// Parses a JSON value (part of a file already read) into `T`, with paths below `at`.
pub fn from_value<T: DeserializeOwned>(file: &Path, at: &str, value: serde_json::Value) -> Result<T, FileError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let sub = e.path().to_string();
        let sub = if sub == "." { String::new() } else { sub };
        FileError::new(file, join(at, &sub), strip_position(&e.into_inner().to_string()))
    })
}

/// The JSON path of `sub` below `at`: `steps` and `[0].plugin` make `steps[0].plugin`, never `steps.[0]`.
pub fn join(at: &str, sub: &str) -> String {
    match (at.is_empty(), sub.is_empty()) {
        (true, _) => sub.to_owned(),
        (false, true) => at.to_owned(),
        (false, false) if sub.starts_with('[') => format!("{at}{sub}"),
        (false, false) => format!("{at}.{sub}"),
    }
}

/// serde_json appends "at line L column C" to data errors; the JSON path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}
