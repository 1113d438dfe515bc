//! `xrm-sandbox init`: a new plug-in project, ready for `xrm-sandbox test` and for CI, written from the
//! templates in `host/templates/init/`. The project is written into a folder beside the target and renamed
//! into place at the end, so a failure leaves nothing half-written.

use std::fs;
use std::path::{Path, PathBuf};

/// The templates: the file each one becomes, and its text. `{{name}}` is replaced by the crate's name and
/// `{{sdk}}` by the guest SDK's path (escaped for a TOML string).
const TEMPLATES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../templates/init/Cargo.toml.tmpl")),
    ("rust-toolchain.toml", include_str!("../templates/init/rust-toolchain.toml.tmpl")),
    ("src/lib.rs", include_str!("../templates/init/lib.rs.tmpl")),
    ("org.json", include_str!("../templates/init/org.json.tmpl")),
    ("registrations.json", include_str!("../templates/init/registrations.json.tmpl")),
    ("suite.json", include_str!("../templates/init/suite.json.tmpl")),
    (".github/workflows/plugins.yml", include_str!("../templates/init/plugins.yml.tmpl")),
    (".gitignore", include_str!("../templates/init/gitignore.tmpl")),
    ("README.md", include_str!("../templates/init/README.md.tmpl")),
];

/// Where the JSON Schemas go in the project; the templates' `"$schema"` keys point there.
const SCHEMA_DIR: &str = "schemas";

/// The guest SDK of the xrm-sandbox source tree this binary was built from.
pub fn default_sdk() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-sdk"))
}

/// Creates a plug-in project in `dir`, which must not exist or be empty. `name` defaults to the folder's name,
/// `sdk` to [`default_sdk`]. Returns the files written, relative to `dir`.
pub fn create(dir: &Path, name: Option<&str>, sdk: Option<&Path>) -> Result<Vec<PathBuf>, String> {
    let name = match name {
        Some(name) => name.to_owned(),
        None => folder_name(dir)?,
    };
    check_crate_name(&name)?;
    let sdk = guest_sdk(sdk)?;
    check_target(dir)?;
    let files = render(&name, &sdk)?;
    write_all(dir, &files)?;
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

/// The project's files: the templates rendered, and the JSON Schemas.
pub fn render(name: &str, sdk: &Path) -> Result<Vec<(PathBuf, String)>, String> {
    let sdk = toml_escape(&sdk.display().to_string());
    let mut files: Vec<(PathBuf, String)> = TEMPLATES
        .iter()
        .map(|(path, text)| (PathBuf::from(path), text.replace("{{name}}", name).replace("{{sdk}}", &sdk)))
        .collect();
    for (file, schema) in crate::schema::schemas() {
        let text = serde_json::to_string_pretty(&schema).map_err(|e| format!("cannot write the schema {file}: {e}"))?;
        files.push((Path::new(SCHEMA_DIR).join(file), text + "\n"));
    }
    Ok(files)
}

fn folder_name(dir: &Path) -> Result<String, String> {
    let absolute = std::path::absolute(dir).map_err(|e| format!("cannot resolve `{}`: {e}", dir.display()))?;
    match absolute.file_name().and_then(|n| n.to_str()) {
        Some(name) => Ok(name.to_owned()),
        None => Err(format!("`{}` has no folder name to name the crate after: pass --name", dir.display())),
    }
}

/// The names cargo accepts for a package (letters, digits, `-` and `_`, starting with a letter).
fn check_crate_name(name: &str) -> Result<(), String> {
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    match valid {
        true => Ok(()),
        false => Err(format!(
            "`{name}` is not a crate name (letters, digits, `-` and `_`, starting with a letter): pass --name"
        )),
    }
}

/// The guest SDK's folder, absolute, checked to be the SDK's crate.
fn guest_sdk(given: Option<&Path>) -> Result<PathBuf, String> {
    let dir = match given {
        Some(dir) => dir
            .canonicalize()
            .map_err(|e| format!("the guest SDK folder `{}` given with --sdk cannot be used: {e}", dir.display()))?,
        None => default_sdk().canonicalize().map_err(|_| {
            format!(
                "the guest SDK of the xrm-sandbox sources this binary was built from is not at `{}`: pass --sdk \
                 <path to xrm-sandbox/guest-sdk>",
                default_sdk().display()
            )
        })?,
    };
    let manifest = dir.join("Cargo.toml");
    let text = crate::input::read_text(&manifest).unwrap_or_default();
    match text.contains("name = \"xrm-sandbox-guest\"") {
        true => Ok(dir),
        false => Err(format!("`{}` is not the guest SDK: its Cargo.toml is not xrm-sandbox-guest's", dir.display())),
    }
}

/// The target must be new or an empty folder: init never mixes its files with others.
fn check_target(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        return Ok(());
    }
    if !dir.is_dir() {
        return Err(format!("`{}` exists and is not a folder", dir.display()));
    }
    let mut entries = fs::read_dir(dir).map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
    match entries.next() {
        None => Ok(()),
        Some(_) => Err(format!("`{}` is not empty: init creates a project in a new or empty folder", dir.display())),
    }
}

/// Writes `files` into a staging folder beside `dir`, then renames it to `dir`; on failure, removes it.
fn write_all(dir: &Path, files: &[(PathBuf, String)]) -> Result<(), String> {
    let absolute = std::path::absolute(dir).map_err(|e| format!("cannot resolve `{}`: {e}", dir.display()))?;
    let parent = absolute.parent().ok_or_else(|| format!("cannot create a project at `{}`", dir.display()))?;
    fs::create_dir_all(parent).map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
    let leaf = absolute.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let staging = parent.join(format!(".{leaf}.xrm-sandbox-init-{}", std::process::id()));
    let result = stage(&staging, files).and_then(|()| move_into_place(&staging, &absolute));
    if result.is_err() {
        // Best effort: the error being reported is the one that matters.
        let _ = fs::remove_dir_all(&staging);
    }
    result.map_err(|e| format!("cannot create the project in `{}`: {e}", dir.display()))
}

fn stage(staging: &Path, files: &[(PathBuf, String)]) -> Result<(), String> {
    if staging.exists() {
        fs::remove_dir_all(staging).map_err(|e| format!("cannot clear `{}`: {e}", staging.display()))?;
    }
    for (path, text) in files {
        let file = staging.join(path);
        if let Some(folder) = file.parent() {
            fs::create_dir_all(folder).map_err(|e| format!("cannot create `{}`: {e}", folder.display()))?;
        }
        fs::write(&file, text).map_err(|e| format!("cannot write `{}`: {e}", file.display()))?;
    }
    Ok(())
}

fn move_into_place(staging: &Path, dir: &Path) -> Result<(), String> {
    // An empty target folder is replaced (check_target made sure it is empty).
    if dir.exists() {
        fs::remove_dir(dir).map_err(|e| format!("cannot replace the empty folder: {e}"))?;
    }
    fs::rename(staging, dir).map_err(|e| format!("cannot move `{}` into place: {e}", staging.display()))
}

/// Escapes text for a TOML basic string (between double quotes).
fn toml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_replaced() {
        let files = render("my-plugin", Path::new("/opt/xrm \"sandbox\"/guest-sdk")).unwrap();
        for (path, text) in &files {
            assert!(!text.contains("{{name}}") && !text.contains("{{sdk}}"), "{}", path.display());
        }
        let cargo = &files.iter().find(|(p, _)| p == Path::new("Cargo.toml")).unwrap().1;
        assert!(cargo.contains(r#"path = "/opt/xrm \"sandbox\"/guest-sdk""#), "{cargo}");
        assert!(cargo.contains(r#"name = "my-plugin""#), "{cargo}");
    }

    #[test]
    fn crate_names_follow_cargo() {
        assert!(check_crate_name("contact-followup_2").is_ok());
        for bad in ["", "2fast", "my plugin", "é"] {
            assert!(check_crate_name(bad).is_err(), "{bad}");
        }
    }
}
