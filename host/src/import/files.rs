//! The import's files: each input read into one merged solution, the mapping file read (or its default
//! written), the project built, checked to load, and written into the output folder, each file replaced only
//! once every file is ready.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value as Json, json};

use super::package::{self, Package};
use super::{Format, Mapping, archive, detect, project, register, solution, webapi};
use crate::input::{FileError, FileErrors};
use crate::org::Organization;
use crate::pipeline::registration::Registrations;

/// What an import wrote, for the command to print.
pub struct Written {
    pub steps: usize,
    pub identity_map: String,
    pub notes: Vec<String>,
    pub cannot_fire: Vec<String>,
    pub left_out: Vec<super::LeftOut>,
}

/// The probe plug-in of the xrm-sandbox sources this binary was built from: the default stand-in.
fn probe_crate() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/probe"))
}

/// The stand-in's configuration: a trace of who it ran as, which the starter suite asserts.
pub fn stand_in_configuration() -> Json {
    json!({ "ops": [{ "trace": "stand-in: {MessageName} of {PrimaryEntityName} at stage {Stage}, mode {Mode}, UserId={UserId}" }] })
}

/// The mapping file written on a first import: every plug-in type stands in as the probe.
fn default_mapping(out: &Path) -> Json {
    let probe = probe_crate();
    let probe = std::path::absolute(&probe).unwrap_or(probe);
    let component =
        super::mapping::relative_path(&probe, &absolute(out)).unwrap_or_else(|| probe.display().to_string());
    json!({
        "plugins": { "*": { "plugin": "probe", "component": { "crate": component },
                            "configuration": stand_in_configuration() } },
        "users": {},
        "messages": {}
    })
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// Reads the inputs, builds the project and writes it into `out`.
pub fn import_project(paths: &[PathBuf], mapping_file: &Path, out: &Path) -> Result<Written, FileError> {
    let mut package = Package::default();
    for path in paths {
        package.merge(read_input(path)?);
    }
    let (mapping_json, existed) = match mapping_file.exists() {
        true => (crate::input::parse_json::<Json>(mapping_file, &package::read_text(mapping_file)?)?, true),
        false => (default_mapping(mapping_file.parent().unwrap_or(out)), false),
    };
    let mapping = Mapping::parse(mapping_file, &mapping_json.to_string())?;
    let mapping_dir = absolute(mapping_file).parent().map(Path::to_owned).unwrap_or_else(|| absolute(out));
    let mapping = mapping.relative_to(&mapping_dir, &absolute(out));
    let name = package.name.clone().unwrap_or_else(|| folder_name(paths));
    let built = project::build(&package, &mapping, &name);
    check_loads(out, &built)?;
    let mut mapping_out = mapping_json;
    for (key, alias) in &built.placeholders {
        if let Some(users) = mapping_out.as_object_mut().map(|m| m.entry("users").or_insert_with(|| json!({}))) {
            users.as_object_mut().map(|u| u.entry(key.clone()).or_insert_with(|| json!(alias)));
        }
    }
    let mut files = vec![
        ("org.json", pretty(&built.org)),
        ("registrations.json", pretty(&built.registrations)),
        ("suite.json", pretty(&built.suite)),
        ("identity-map.html", built.map.html(&format!("{name}: identity map"))),
    ];
    let mapping_text = pretty(&mapping_out);
    if !existed || !built.placeholders.is_empty() {
        files.push(("mapping.json", mapping_text));
    }
    write_all(out, mapping_file, &files)?;
    Ok(Written {
        steps: built.registrations["steps"].as_array().map_or(0, Vec::len),
        identity_map: built.map.text(),
        notes: built.notes,
        cannot_fire: built.cannot_fire,
        left_out: built.left_out,
    })
}

fn folder_name(paths: &[PathBuf]) -> String {
    let first = paths.first().map(|p| absolute(p)).unwrap_or_default();
    first.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "imported".to_owned())
}

fn pretty(json: &Json) -> String {
    serde_json::to_string_pretty(json).unwrap_or_default() + "\n"
}

/// One input: a solution folder or zip, a customizations.xml, a step file, a register file, spkl.json, or
/// the Web API's JSON.
fn read_input(path: &Path) -> Result<Package, FileError> {
    if path.is_dir() {
        return package::read_folder(path);
    }
    let named = |ext: &str| path.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext));
    if named("zip") || starts_as_zip(path) {
        return archive::read(path);
    }
    let text = package::read_text(path)?;
    if path.file_name().is_some_and(|n| n.eq_ignore_ascii_case("spkl.json")) {
        return spkl(path, &text);
    }
    let mut package = Package::default();
    match detect(path, &text)? {
        Format::WebApi => package.steps = webapi::read(path, &text)?,
        Format::Solution if text.contains("<ImportExportXml") => package.customizations(path, &text)?,
        Format::Solution if named("crmregister") || text.contains("tools/pluginregistration") => {
            package.steps = register::read(path, &text)?;
        }
        Format::Solution => package.steps = solution::read(path, &text)?,
    }
    Ok(package)
}

/// A zip whatever its name says: its first bytes are a local file header's signature.
fn starts_as_zip(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    // Only a regular file is opened: a FIFO would wait for a writer.
    path.is_file()
        && std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic)).is_ok()
        && magic == *b"PK\x03\x04"
}

/// spkl's `spkl.json` (JSON with comments): its `solutions[].packagepath` folders are the solution unpacked
/// by SolutionPackager. The steps themselves spkl keeps in the plug-in code's `[CrmPluginRegistration]`
/// attributes, which a compiled assembly does not show here.
fn spkl(file: &Path, text: &str) -> Result<Package, FileError> {
    let json: Json = crate::input::parse_json(file, &without_comments(text))?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let folders: Vec<PathBuf> = json["solutions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["packagepath"].as_str())
        .map(|p| dir.join(p.replace('\\', "/")))
        .collect();
    if folders.is_empty() {
        return Err(FileError::new(
            file,
            "solutions",
            "names no solution package (`solutions[].packagepath`): spkl keeps steps in the plug-in code's \
             [CrmPluginRegistration] attributes, which the import cannot read from a built assembly; import the \
             solution folder `spkl unpack` writes, or the solution zip",
        ));
    }
    let mut package = Package::default();
    for (i, folder) in folders.iter().enumerate() {
        let read = package::read_folder(folder)
            .map_err(|e| FileError::new(file, format!("solutions[{i}].packagepath"), e.to_string()))?;
        package.merge(read);
    }
    Ok(package)
}

/// JSON with `//` and `/* */` comments, as spkl writes it, made plain JSON; comments become spaces so that
/// lines and columns stay where they were.
pub fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => out.extend(chars.next()),
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                    out.push(' ');
                }
            }
            ('/', Some('*')) => {
                chars.next();
                out.push_str("  ");
                let mut last = ' ';
                for c in chars.by_ref() {
                    out.push(if c == '\n' { '\n' } else { ' ' });
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The files must load as the suite will load them: an import that writes what the sandbox refuses is a bug
/// in the import, reported before anything is written.
fn check_loads(out: &Path, built: &project::Project) -> Result<(), FileError> {
    let org_file = out.join("org.json");
    let org = Organization::from_json(&org_file, built.org.clone())
        .map_err(|e| first(&org_file, e, "the organization the import built does not load"))?;
    let plugins: Vec<String> =
        built.registrations["plugins"].as_object().into_iter().flatten().map(|(k, _)| k.clone()).collect();
    let reg_file = out.join("registrations.json");
    Registrations::load(&reg_file, "steps", built.registrations["steps"].clone(), &org, &plugins)
        .map_err(|e| first(&reg_file, e, "the registrations the import built do not load"))?;
    Ok(())
}

/// The first of a loader's errors, saying what failed and how many more there are.
fn first(file: &Path, errors: FileErrors, what: &str) -> FileError {
    let more = match errors.len() {
        0 | 1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    match errors.0.into_iter().next() {
        Some(e) => FileError::new(file, e.path, format!("{what}: {}{more}", e.message)),
        None => FileError::new(file, "", what),
    }
}

/// Writes every file to a temporary file beside its target, then renames them all into place; on failure,
/// removes the temporary files.
fn write_all(out: &Path, mapping_file: &Path, files: &[(&str, String)]) -> Result<(), FileError> {
    std::fs::create_dir_all(out).map_err(|e| FileError::new(out, "", format!("cannot create the folder: {e}")))?;
    let target = |name: &str| if name == "mapping.json" { mapping_file.to_owned() } else { out.join(name) };
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = files.iter().try_for_each(|(name, text)| {
        let file = target(name);
        let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        staged.push((temp.clone(), file.clone()));
        std::fs::File::create(&temp)
            .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
            .map_err(|e| FileError::new(&file, "", format!("cannot write the file: {e}")))
    });
    let result = result.and_then(|()| {
        staged.iter().try_for_each(|(temp, file)| {
            std::fs::rename(temp, file).map_err(|e| FileError::new(file, "", format!("cannot write the file: {e}")))
        })
    });
    if result.is_err() {
        for (temp, _) in &staged {
            let _ = std::fs::remove_file(temp);
        }
    }
    result
}
