//! Errors in input files, each naming the file, the JSON path and what was expected; reading input files,
//! regular files only and of a bounded size (BOX-5); and reading JSON files with the path of any structural
//! error.

use std::fmt;
use std::io::Read;
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

/// The largest input file read (an organization, a suite, registrations, a request, an export): far above
/// any real one, far below what parsing it would take of the host's memory.
pub const MAX_INPUT_FILE: u64 = 64 << 20;

/// The largest plug-in component read (a debug build with all its debug information is a few tens of MB).
pub const MAX_COMPONENT_FILE: u64 = 512 << 20;

/// Reads a regular file of at most `limit` bytes. Anything else is refused at once, before it is opened: a
/// FIFO would block, a device such as `/dev/zero` read without end.
pub fn read_bytes(file: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(file).map_err(|e| format!("cannot read the file: {e}"))?;
    if !meta.is_file() {
        return Err(format!("cannot read {}: only regular files are read", what_is(&meta)));
    }
    let too_large = || format!("the file is larger than {} MB, the most an input file may be", limit >> 20);
    if meta.len() > limit {
        return Err(too_large());
    }
    let opened = std::fs::File::open(file).map_err(|e| format!("cannot read the file: {e}"))?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // A file that grows while read (or reports no length, as in /proc) still stops at the limit.
    opened.take(limit + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read the file: {e}"))?;
    match bytes.len() as u64 > limit {
        true => Err(too_large()),
        false => Ok(bytes),
    }
}

/// Reads a regular UTF-8 text file of at most [`MAX_INPUT_FILE`] bytes (see [`read_bytes`]).
pub fn read_text(file: &Path) -> Result<String, FileError> {
    let bytes = read_bytes(file, MAX_INPUT_FILE).map_err(|e| FileError::new(file, "", e))?;
    String::from_utf8(bytes).map_err(|e| {
        FileError::new(file, "", format!("not UTF-8 text (invalid bytes at offset {})", e.utf8_error().valid_up_to()))
    })
}

/// What a path that is not a regular file is, in the user's words.
pub fn what_is(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = meta.file_type();
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    match meta.is_dir() {
        true => "a folder",
        false => "something that is not a regular file",
    }
}

/// Every error found in the input of a run, in the order found: the loaders go on past an error wherever the
/// rest can still be checked, so that one run reports every mistake, not only the first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileErrors(pub Vec<FileError>);

impl FileErrors {
    pub fn push(&mut self, error: FileError) {
        self.0.push(error);
    }

    pub fn extend(&mut self, errors: FileErrors) {
        self.0.extend(errors.0);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, FileError> {
        self.0.iter()
    }

    /// `value` when nothing was found, else the errors.
    pub fn or<T>(self, value: T) -> Result<T, FileErrors> {
        if self.is_empty() { Ok(value) } else { Err(self) }
    }

    /// Keeps the value of `result`, or the errors it carried.
    pub fn take<T>(&mut self, result: Result<T, impl Into<FileErrors>>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.extend(e.into());
                None
            }
        }
    }

    /// The same errors for a part of the file found at `at`.
    pub fn under(self, at: &str) -> Self {
        FileErrors(self.0.into_iter().map(|e| e.under(at)).collect())
    }
}

impl From<FileError> for FileErrors {
    fn from(error: FileError) -> Self {
        FileErrors(vec![error])
    }
}

impl fmt::Display for FileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FileErrors {}

impl<'a> IntoIterator for &'a FileErrors {
    type Item = &'a FileError;
    type IntoIter = std::slice::Iter<'a, FileError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Reads and parses a JSON file into `T`, reporting the JSON path of a mismatch.
pub fn read_json<T: DeserializeOwned>(file: &Path) -> Result<T, FileError> {
    parse_json(file, &read_text(file)?)
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
            xrm_model::suggest::serde_hint(&strip_position(&inner.to_string()))
        };
        FileError::new(file, if path == "." { String::new() } else { path }, message)
    })
}

/// Parses a JSON value (part of a file already read) into `T`, with paths below `at`.
pub fn from_value<T: DeserializeOwned>(file: &Path, at: &str, value: serde_json::Value) -> Result<T, FileError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let sub = e.path().to_string();
        let sub = if sub == "." { String::new() } else { sub };
        let message = xrm_model::suggest::serde_hint(&strip_position(&e.into_inner().to_string()));
        FileError::new(file, join(at, &sub), message)
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
