//! Solution `.zip` files as the platform exports them (managed or unmanaged): `solution.xml`,
//! `customizations.xml` and `customapis/` at the root. Read in memory, entry by entry, each bounded in size
//! and count, so that a crafted archive (a "zip bomb", millions of entries, names that climb out of the
//! archive) is refused with one message rather than unpacked. Nothing is ever written to disk.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::package::{self, Package, custom_api_texts};
use super::xml::{self, Keep};
use crate::input::FileError;

/// How much an archive may hold and unpack to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The archive file itself (solutions with large web resources and assemblies run to hundreds of MiB).
    pub archive_bytes: u64,
    /// Its central directory (the list of entries, read into memory before anything else).
    pub directory_bytes: u64,
    pub entries: u64,
    /// One entry the import reads, unpacked.
    pub entry_bytes: u64,
    /// Every entry the import reads, unpacked.
    pub total_bytes: u64,
}

pub const LIMITS: Limits = Limits {
    archive_bytes: 1 << 30,
    directory_bytes: 64 << 20,
    entries: 200_000,
    entry_bytes: package::MAX_FILE_BYTES,
    total_bytes: 2 * package::MAX_FILE_BYTES,
};

/// Reads a solution zip.
pub fn read(file: &Path) -> Result<Package, FileError> {
    read_with(file, &LIMITS)
}

pub fn read_with(file: &Path, limits: &Limits) -> Result<Package, FileError> {
    let texts = unpack(file, limits)?;
    let customizations = texts
        .keys()
        .find(|n| n.eq_ignore_ascii_case("customizations.xml"))
        .cloned()
        .ok_or_else(|| refuse(file, "it has no customizations.xml at its root"))?;
    let mut package = Package::default();
    if let Some((name, text)) = texts.iter().find(|(n, _)| n.eq_ignore_ascii_case("solution.xml")) {
        let doc = xml::parse(&inside(file, name), text, &Keep::ALL)?;
        package.name =
            doc.kept.first().and_then(|r| r.at(&["SolutionManifest", "UniqueName"])).map(|n| n.text.trim().to_owned());
    }
    package.customizations(&inside(file, &customizations), &texts[&customizations])?;
    for (name, text) in texts.iter().filter(|(n, _)| n.to_ascii_lowercase().ends_with("/customapi.xml")) {
        let folder = &name[..name.len() - "customapi.xml".len()];
        let params = |kind: &str| -> Vec<(PathBuf, &str)> {
            let prefix = format!("{folder}{kind}");
            texts.iter().filter(|(n, _)| n.starts_with(&prefix)).map(|(n, t)| (inside(file, n), t.as_str())).collect()
        };
        let api = custom_api_texts(
            (inside(file, name), text),
            &params("customapirequestparameters/"),
            &params("customapiresponseproperties/"),
        )?;
        package.custom_apis.push(api);
    }
    Ok(package)
}

/// The text of every entry the import reads, by its name in the archive.
fn unpack(file: &Path, limits: &Limits) -> Result<BTreeMap<String, String>, FileError> {
    // Only a regular file is opened: a FIFO would wait for a writer, a device never end.
    let meta = std::fs::metadata(file).map_err(|e| FileError::new(file, "", format!("cannot read the file: {e}")))?;
    if !meta.is_file() {
        return Err(FileError::new(file, "", "not a regular file"));
    }
    let mut handle =
        std::fs::File::open(file).map_err(|e| FileError::new(file, "", format!("cannot read the file: {e}")))?;
    let size = handle.metadata().map_err(|e| FileError::new(file, "", format!("cannot read the file: {e}")))?.len();
    if size > limits.archive_bytes {
        return Err(refuse(file, &format!("it is larger than {}", size_text(limits.archive_bytes))));
    }
    check_directory(file, &mut handle, size, limits)?;
    let mut archive = zip::ZipArchive::new(handle).map_err(|e| refuse(file, &format!("{e}")))?;
    let mut texts = BTreeMap::new();
    let mut total = 0u64;
    for i in 0..archive.len() {
        let name = match archive.name_for_index(i) {
            Some(Ok(name)) => name.replace('\\', "/"),
            _ => return Err(refuse(file, &format!("entry {i} has no readable name"))),
        };
        if escapes(&name) {
            return Err(refuse(file, &format!("the entry `{name}` names a place outside the archive")));
        }
        if !wanted(&name) {
            continue;
        }
        let entry_path = inside(file, &name);
        let mut entry =
            archive.by_index(i).map_err(|e| refuse(&entry_path, &format!("the entry cannot be unpacked: {e}")))?;
        if entry.size() > limits.entry_bytes {
            return Err(too_large(&entry_path, limits));
        }
        // The declared size is the archive's word: read no more than the cap whatever it says.
        let mut bytes = Vec::new();
        (&mut entry)
            .take(limits.entry_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| refuse(&entry_path, &format!("the entry cannot be unpacked: {e}")))?;
        if bytes.len() as u64 > limits.entry_bytes {
            return Err(too_large(&entry_path, limits));
        }
        total += bytes.len() as u64;
        if total > limits.total_bytes {
            return Err(refuse(
                file,
                &format!("its solution files unpack to more than {}", size_text(limits.total_bytes)),
            ));
        }
        let text = String::from_utf8(bytes).map_err(|_| FileError::new(&entry_path, "", "not UTF-8 text"))?;
        texts.insert(name, text);
    }
    Ok(texts)
}

/// The central directory the archive declares, checked against the limits before the zip reader allocates
/// for it: the end record is in the last 64 KiB (`PK 5 6`: entry count at 10, directory size at 12), and a
/// ZIP64 archive's own end record is found through the locator just before it (`PK 6 7`, then `PK 6 6`:
/// entry count at 32, directory size at 40). What cannot be found is left for the zip reader to refuse.
fn check_directory(file: &Path, handle: &mut std::fs::File, size: u64, limits: &Limits) -> Result<(), FileError> {
    let tail_len = size.min(65_557 + 20);
    let mut tail = vec![0u8; tail_len as usize];
    let read = handle.seek(SeekFrom::Start(size - tail_len)).and_then(|_| handle.read_exact(&mut tail));
    read.map_err(|e| FileError::new(file, "", format!("cannot read the file: {e}")))?;
    let Some(end) = (0..tail.len().saturating_sub(21)).rev().find(|&i| tail[i..].starts_with(b"PK\x05\x06")) else {
        return Ok(());
    };
    let u16_at = |b: &[u8], i: usize| u64::from(u16::from_le_bytes([b[i], b[i + 1]]));
    let u32_at = |b: &[u8], i: usize| u64::from(u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]));
    let (mut entries, mut directory) = (u16_at(&tail, end + 10), u32_at(&tail, end + 12));
    if (entries == 0xFFFF || directory == 0xFFFF_FFFF) && end >= 20 && tail[end - 20..].starts_with(b"PK\x06\x07") {
        let at = u32_at(&tail, end - 12) | (u32_at(&tail, end - 8) << 32);
        let mut record = [0u8; 48];
        if at.checked_add(48).is_some_and(|e| e <= size)
            && handle.seek(SeekFrom::Start(at)).and_then(|_| handle.read_exact(&mut record)).is_ok()
            && record.starts_with(b"PK\x06\x06")
        {
            let u64_at = |i: usize| u32_at(&record, i) | (u32_at(&record, i + 4) << 32);
            (entries, directory) = (u64_at(32), u64_at(40));
        }
    }
    if entries > limits.entries || directory > limits.directory_bytes {
        return Err(refuse(
            file,
            &format!(
                "it declares {entries} entries in a {directory}-byte directory (at most {} entries)",
                limits.entries
            ),
        ));
    }
    Ok(())
}

/// An entry name that is absolute or climbs with `..`: never in an export, and a sign of a crafted archive.
fn escapes(name: &str) -> bool {
    name.starts_with('/') || name.split('/').any(|part| part == "..") || name.get(1..2) == Some(":")
}

fn wanted(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "customizations.xml"
        || lower == "solution.xml"
        || (lower.starts_with("customapis/") && lower.ends_with(".xml"))
}

fn refuse(file: &Path, why: &str) -> FileError {
    FileError::new(
        file,
        "",
        format!(
            "not a solution zip the import reads: {why} (export the solution again, or unpack it with `pac solution unpack` and import the folder)"
        ),
    )
}

fn too_large(entry: &Path, limits: &Limits) -> FileError {
    FileError::new(
        entry,
        "",
        format!("unpacks to more than {}: too large for a solution file", size_text(limits.entry_bytes)),
    )
}

fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 { format!("{} MiB", bytes >> 20) } else { format!("{bytes} bytes") }
}

/// How errors name an entry: the archive's path, then the entry's.
fn inside(file: &Path, entry: &str) -> PathBuf {
    PathBuf::from(format!("{}!/{entry}", file.display()))
}

#[cfg(test)]
mod tests;
